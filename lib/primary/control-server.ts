/*
 * The primary's control socket: a Unix domain socket (0600, in the per-user 0700 directory) answering `info`,
 * `status`, `reload` and `stop` in the JSON-lines protocol of control-protocol.ts. Every request is untrusted
 * input: size-capped, time-boxed, validated; nothing a client sends can throw in the primary.
 */
import { chmodSync } from 'node:fs'
import net from 'node:net'
import type { Logger } from 'pino'
import type { EventEmitter } from 'node:events'
import {
  buildError, buildResult, formatAddress, MAX_REQUEST_BYTES, parseRequest, summarize, type ControlRequest
} from '../shared/control-protocol.js'
import {
  controlDirPath, defaultClusterName, ensureControlDir, newEntryPaths, RECORD_VERSION, removeEntry, writeRecord, type ClusterRecord
} from '../shared/control-registry.js'
import { FST_CLUSTER_CONTROL_BAD_REQUEST } from '../shared/errors.js'
import {
  ClusterEvents, type ClusterEventMap, type ClusterExit, type ClusterReadyEvent, type ReloadResult, type WorkerInfo
} from '../shared/events.js'
import type { ResolvedOptions } from '../shared/options.js'

/** What the socket can ask of the cluster. */
export interface ControlSource {
  info: () => unknown
  status: () => unknown
  /** Resolves with the pass's result; rejects with a coded error when no reload is possible. */
  reload: () => Promise<unknown>
  /** Starts a graceful stop; the reply waits for `close(exit)`. */
  stop: () => void
}

export interface ControlServerSettings {
  socket: string
  file: string
  record: ClusterRecord
}

/** A request line must be complete this soon after its first byte (a slow client cannot hold a slot). */
const REQUEST_DEADLINE_MS = 5000
/** A connection with nothing pending is closed after this long. */
const IDLE_MS = 10_000
const MAX_CONNECTIONS = 32
/** Lines a client may send ahead of the reply it waits for. */
const MAX_QUEUED = 8
/** At most one warning about bad requests per this long. */
const WARN_EVERY_MS = 10_000

export class ControlServer {
  readonly #server: net.Server
  readonly #settings: ControlServerSettings
  readonly #source: ControlSource
  readonly #log: Logger
  readonly #connections = new Set<net.Socket>()
  readonly #stopWaiters = new Map<net.Socket, number | null>()
  #record: ClusterRecord
  #closing: Promise<void> | null = null
  #badRequests = 0
  #lastWarning = 0

  private constructor (settings: ControlServerSettings, source: ControlSource, log: Logger) {
    this.#settings = settings
    this.#record = settings.record
    this.#source = source
    this.#log = log
    this.#server = net.createServer((socket) => { this.#accept(socket) })
    this.#server.maxConnections = MAX_CONNECTIONS
    this.#server.on('error', (err) => { this.#log.warn({ event: 'control:error', err }, 'control socket error') })
  }

  /** Listens, restricts the socket to its owner, then writes the record (so a record always has a listener). */
  static async open (settings: ControlServerSettings, source: ControlSource, log: Logger): Promise<ControlServer> {
    const control = new ControlServer(settings, source, log)
    const server = control.#server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(settings.socket, () => {
        server.off('error', reject)
        resolve()
      })
    })
    try {
      chmodSync(settings.socket, 0o600)
      writeRecord(settings.file, settings.record)
    } catch (err) {
      await control.close()
      throw err
    }
    // The workers keep the primary alive; this socket must not keep a closed cluster's process running.
    server.unref()
    return control
  }

  /** Rewrites the record with the address the workers listen on. */
  setAddress (address: string | null): void {
    if (this.#closing !== null || address === this.#record.address) return
    this.#record = { ...this.#record, address }
    try {
      writeRecord(this.#settings.file, this.#record)
    } catch (err) {
      this.#log.warn({ event: 'control:error', err }, 'cannot update the control record')
    }
  }

  /**
   * Answers the pending `stop` requests with the cluster's exit, closes every connection, removes the socket and
   * the record. Idempotent.
   */
  async close (exit?: ClusterExit): Promise<void> {
    this.#closing ??= this.#close(exit)
    await this.#closing
  }

  async #close (exit: ClusterExit | undefined): Promise<void> {
    const result = exit === undefined ? null : { code: exit.code, reason: exit.reason, forced: exit.forced }
    const flushed: Array<Promise<void>> = []
    for (const socket of this.#connections) {
      const id = this.#stopWaiters.get(socket)
      const line = this.#stopWaiters.has(socket) ? buildResult(id ?? null, result) : undefined
      flushed.push(new Promise((resolve) => {
        const timer = setTimeout(() => { socket.destroy(); resolve() }, 500)
        socket.once('close', () => { clearTimeout(timer); resolve() })
        if (socket.destroyed) {
          clearTimeout(timer)
          resolve()
          return
        }
        if (line === undefined) socket.end()
        else socket.end(line)
      }))
    }
    this.#stopWaiters.clear()
    await new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    await Promise.all(flushed)
    removeEntry(this.#settings)
  }

  #accept (socket: net.Socket): void {
    if (this.#closing !== null) {
      socket.destroy()
      return
    }
    this.#connections.add(socket)
    let buffer = ''
    let busy = false
    let done = false
    const queue: string[] = []
    let deadline: NodeJS.Timeout | null = null
    const stopDeadline = (): void => {
      if (deadline !== null) clearTimeout(deadline)
      deadline = null
    }
    // Refuses and hangs up: this client does not speak the protocol.
    const refuse = (why: string): void => {
      if (done) return
      done = true
      stopDeadline()
      this.#noteBadRequest(why)
      socket.end(buildError(null, new FST_CLUSTER_CONTROL_BAD_REQUEST(why)))
      setTimeout(() => { socket.destroy() }, 1000).unref()
    }
    const pump = (): void => {
      if (busy || done) return
      const line = queue.shift()
      if (line === undefined) return
      busy = true
      void this.#answer(line, socket).finally(() => {
        busy = false
        pump()
      })
    }
    socket.setEncoding('utf8')
    socket.setTimeout(IDLE_MS, () => { if (!busy && !this.#stopWaiters.has(socket)) socket.destroy() })
    socket.on('error', () => {})
    socket.on('close', () => {
      done = true
      stopDeadline()
      this.#connections.delete(socket)
      this.#stopWaiters.delete(socket)
    })
    socket.on('data', (chunk: string) => {
      if (done) return
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        queue.push(buffer.slice(0, nl).replace(/\r$/, ''))
        buffer = buffer.slice(nl + 1)
        stopDeadline()
      }
      if (buffer !== '' && deadline === null) {
        deadline = setTimeout(() => { refuse(`no complete request line within ${REQUEST_DEADLINE_MS} ms`) }, REQUEST_DEADLINE_MS)
        deadline.unref()
      }
      if (Buffer.byteLength(buffer) > MAX_REQUEST_BYTES) {
        refuse(`a request is at most ${MAX_REQUEST_BYTES} bytes`)
        return
      }
      if (queue.length > MAX_QUEUED) {
        refuse(`at most ${MAX_QUEUED} requests may wait for an answer`)
        return
      }
      pump()
    })
  }

  async #answer (line: string, socket: net.Socket): Promise<void> {
    const write = (text: string): void => { if (!socket.destroyed && socket.writable) socket.write(text) }
    const parsed = parseRequest(line)
    if (parsed.kind === 'error') {
      this.#noteBadRequest(parsed.error.message)
      write(buildError(parsed.id, parsed.error))
      return
    }
    try {
      const result = await this.#run(parsed.request, socket)
      if (result !== undefined) write(buildResult(parsed.request.id, result))
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      write(buildError(parsed.request.id, e as Error & { code?: string }))
    }
  }

  /** Runs one command; `undefined` means the reply comes later (stop). */
  async #run (request: ControlRequest, socket: net.Socket): Promise<unknown> {
    switch (request.cmd) {
      case 'info': return this.#source.info()
      case 'status': return this.#source.status()
      case 'reload': return await this.#source.reload()
      case 'stop':
        this.#log.info({ event: 'control:stop' }, 'stop requested on the control socket')
        this.#stopWaiters.set(socket, request.id)
        this.#source.stop()
        return undefined
    }
  }

  #noteBadRequest (why: string): void {
    this.#badRequests++
    const now = Date.now()
    if (now - this.#lastWarning < WARN_EVERY_MS) return
    this.#lastWarning = now
    this.#log.warn({ event: 'control:bad-request', reason: why, count: this.#badRequests }, 'bad request on the control socket')
  }
}


/** What the launcher hands over: the pool's read side and its two commands. */
export interface ControlCluster {
  workers: () => WorkerInfo[]
  phase: () => string
  /** A slot cannot boot: the cluster serves with fewer workers. */
  degraded: () => boolean
  slots: () => number
  reload: () => Promise<ReloadResult>
  stop: () => void
}

/** The open control socket, as the launcher holds it. */
export interface Control {
  close: (exit?: ClusterExit) => Promise<void>
}

/**
 * Opens the control socket of a starting cluster and keeps its record's address current. Returns `null`, with
 * a warning, when it cannot (unsafe directory, path too long, no Unix sockets): the cluster serves without it.
 */
export async function startControl (options: ResolvedOptions, startedAt: number, cluster: ControlCluster,
  events: EventEmitter<ClusterEventMap>, log: Logger): Promise<Control | null> {
  const name = options.name ?? defaultClusterName(options.appFile)
  if (controlDirPath() === null) {
    log.debug({ event: 'control:unavailable', platform: process.platform }, 'no control socket on this platform')
    return null
  }
  let server: ControlServer
  try {
    const dir = ensureControlDir()
    const paths = newEntryPaths(dir)
    const record: ClusterRecord = {
      v: RECORD_VERSION, id: paths.id, name, pid: process.pid, cwd: process.cwd(), app: options.appFile ?? '(inline)', address: null, startedAt
    }
    server = await ControlServer.open({ ...paths, record }, {
      info: () => ({
        ...summarize(cluster.workers(), { name, pid: process.pid, phase: cluster.phase(), slots: cluster.slots(), startedAt, now: Date.now() }),
        degraded: cluster.degraded()
      }),
      status: () => {
        const workers = cluster.workers()
        const phase = cluster.phase()
        return {
          status: phase === 'running' ? 'ok' : phase,
          ready: workers.filter((w) => w.state === 'ready').length,
          degraded: cluster.degraded(),
          workers,
          name,
          pid: process.pid,
          at: Date.now(),
          sampleInterval: options.sampleInterval
        }
      },
      reload: async () => await cluster.reload(),
      stop: cluster.stop
    }, log)
    log.debug({ event: 'control:listening', socket: paths.socket, name }, 'control socket listening')
  } catch (err) {
    log.warn({ event: 'control:unavailable', err: { code: (err as { code?: string }).code, message: (err as Error).message } },
      'no control socket: fastify-cluster ls, status, reload and stop cannot reach this cluster')
    return null
  }
  const onReady = (e: ClusterReadyEvent): void => { server.setAddress(formatAddress(e.address)) }
  events.on(ClusterEvents.CLUSTER_READY, onReady)
  // Ready before the socket opened (a slow disk): the address is known already.
  server.setAddress(formatAddress(cluster.workers().find((w) => w.state === 'ready' && w.address !== null)?.address))
  return {
    close: async (exit) => {
      events.off(ClusterEvents.CLUSTER_READY, onReady)
      await server.close(exit)
    }
  }
}
