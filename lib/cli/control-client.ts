/*
 * The commands' side of the control socket: find this user's clusters, pick the one named, ask it one thing.
 */
import net from 'node:net'
import { buildRequest, MAX_REPLY_BYTES, parseReply } from '../shared/control-protocol.js'
import { controlDirPath, listEntries, removeEntry, type RegistryEntry } from '../shared/control-registry.js'
import { FST_CLUSTER_CONTROL_UNREACHABLE, FST_CLUSTER_NO_CLUSTER, FST_CLUSTER_SEVERAL_CLUSTERS } from '../shared/errors.js'

/** A coded error the cluster replied with, as thrown by `ask`. */
export class ControlReplyError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

/** How a person names a cluster in a message. */
export function describeEntry (entry: Pick<RegistryEntry, 'name' | 'pid'>): string {
  return `"${entry.name}" (pid ${entry.pid})`
}

/** Every cluster of this user (stale entries removed on the way). */
export function findClusters (env: NodeJS.ProcessEnv = process.env): RegistryEntry[] {
  const dir = controlDirPath(env)
  return dir === null ? [] : listEntries(dir)
}

/**
 * The cluster `target` names (a name or a primary pid); with no target, the only one running. Throws
 * FST_CLUSTER_NO_CLUSTER or FST_CLUSTER_SEVERAL_CLUSTERS, listing what runs.
 */
export function pickCluster (entries: readonly RegistryEntry[], target: string | undefined): RegistryEntry {
  const running = entries.map(describeEntry).join(', ')
  if (target === undefined) {
    const only = entries[0]
    if (entries.length === 1 && only !== undefined) return only
    if (entries.length === 0) throw new FST_CLUSTER_NO_CLUSTER('no fastify-cluster of this user is running (started without --no-control?)')
    throw new FST_CLUSTER_SEVERAL_CLUSTERS(`${entries.length} clusters are running`, running)
  }
  const byPid = /^\d+$/.test(target)
  const matches = entries.filter((e) => byPid ? e.pid === Number(target) : e.name === target)
  const match = matches[0]
  if (matches.length === 1 && match !== undefined) return match
  if (matches.length === 0) {
    throw new FST_CLUSTER_NO_CLUSTER(`no cluster ${byPid ? 'with primary pid' : 'named'} "${target}" is running; ` +
      (entries.length === 0 ? 'no cluster of this user is' : `running: ${running}`))
  }
  throw new FST_CLUSTER_SEVERAL_CLUSTERS(`${matches.length} clusters ${byPid ? 'run in process' : 'are named'} "${target}"`,
    byPid ? matches.map((e) => e.name).join(', ') : `give the primary pid: ${matches.map(describeEntry).join(', ')}`)
}

/**
 * Sends one command, resolves with its result. Rejects with the cluster's own coded error, or
 * FST_CLUSTER_CONTROL_UNREACHABLE (no answer within `timeout` ms, or the connection closed first). A socket
 * nobody listens on means the cluster is gone: its entry is removed and FST_CLUSTER_NO_CLUSTER thrown.
 */
export async function ask (entry: RegistryEntry, cmd: string, timeout: number | null = 5000): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(entry.socket)
    let buffer = ''
    let settled = false
    const timer = timeout === null ? null : setTimeout(() => { fail(new FST_CLUSTER_CONTROL_UNREACHABLE(describeEntry(entry), `no answer within ${timeout} ms`)) }, timeout)
    function fail (err: Error): void {
      if (settled) return
      settled = true
      if (timer !== null) clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    function succeed (value: unknown): void {
      if (settled) return
      settled = true
      if (timer !== null) clearTimeout(timer)
      socket.end()
      resolve(value)
    }
    socket.setEncoding('utf8')
    socket.on('connect', () => { socket.write(buildRequest(cmd, 1)) })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') {
        removeEntry(entry)
        fail(new FST_CLUSTER_NO_CLUSTER(`cluster ${describeEntry(entry)} is gone (its stale entry was removed)`))
        return
      }
      fail(new FST_CLUSTER_CONTROL_UNREACHABLE(describeEntry(entry), err.code ?? err.message))
    })
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const nl = buffer.indexOf('\n')
      if (nl === -1) {
        if (buffer.length > MAX_REPLY_BYTES) fail(new FST_CLUSTER_CONTROL_UNREACHABLE(describeEntry(entry), 'the answer is too large'))
        return
      }
      const reply = parseReply(buffer.slice(0, nl))
      if (reply === null) fail(new FST_CLUSTER_CONTROL_UNREACHABLE(describeEntry(entry), 'the answer is not of this protocol version'))
      else if (reply.ok) succeed(reply.result)
      else fail(new ControlReplyError(reply.error.code, reply.error.message))
    })
    socket.on('close', () => { fail(new FST_CLUSTER_CONTROL_UNREACHABLE(describeEntry(entry), 'the connection closed without an answer')) })
  })
}
