/*
 * Sticky sessions, the effectful shell: the primary owns the app's listening socket, finds each new connection's
 * key (its address, or a header or cookie from its first bytes), picks the slot by rendezvous hashing and hands
 * the socket (and the bytes it read) to that slot's ready worker over IPC. Decisions live in sticky-key and
 * sticky-hash; this class only moves sockets.
 */
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import type { Logger } from 'pino'
import { FST_CLUSTER_CONFLICTING_OPTIONS, FST_CLUSTER_STICKY_LISTEN } from '../shared/errors.js'
import type { WorkerAddress, WorkerState } from '../shared/events.js'
import type { ResolvedOptions } from '../shared/options.js'
import { buildStickyConnection } from '../shared/protocol.js'
import { pickSlot } from './sticky-hash.js'
import { STICKY_HEAD_BYTES, STICKY_HEAD_TIMEOUT_MS, addressKey, keyFromHead } from './sticky-key.js'
import { formatSticky, type StickyMode } from '../shared/sticky-mode.js'

/** A worker's channel, as the balancer uses it; the adapter (lib/primary/worker-process.ts) is the one. */
export interface HandOffChannel {
  readonly connected: boolean
  /** Sends `message` with `handle`, which the worker then owns; may throw, or fail later through `done`. */
  sendHandle: (message: object, handle: net.Socket, done: (err: Error | null) => void) => void
}

/** A slot's current worker: its state, and its channel while it takes connections (`null` once it unlistened). */
export interface StickySlotWorker {
  state: WorkerState
  channel: HandOffChannel | null
}

/** What the balancer needs from the pool. */
export interface StickySlots {
  readonly slotCount: number
  slotWorker: (index: number) => StickySlotWorker | null
}

/** Longest a connection waits in the primary for any worker to be ready (every slot restarting) before it is closed. */
export const STICKY_WAIT_MS = 10_000
/** Connections at most being read or waiting in the primary; past it new ones are closed (a slowloris bound). */
export const STICKY_MAX_PENDING = 10_000
/** A send that fails (the worker died in between) is tried on the next slot this many times. */
const MAX_ATTEMPTS = 3

interface Waiting { socket: net.Socket, key: string, head: Buffer | null, timer: NodeJS.Timeout }

/** Counters, for logs and tests. */
export interface StickyStats {
  /** Connections handed to a worker. */
  routed: number
  /** Connections closed because they sent nothing, or no HTTP/1 request, within the bounds. */
  rejected: number
  /** Connections closed because no worker became ready within STICKY_WAIT_MS, or at close. */
  dropped: number
}

export class StickyBalancer {
  readonly #mode: StickyMode
  readonly #slots: StickySlots
  readonly #log: Logger
  readonly #servers: net.Server[] = []
  /** Sockets whose first bytes are being read. */
  readonly #reading = new Map<net.Socket, () => void>()
  readonly #waiting = new Set<Waiting>()
  /** Shutdown began: with no ready worker left, draining ones still take connections until they unlisten. */
  #shuttingDown = false
  #stopTimer: NodeJS.Timeout | null = null
  #closed = false
  readonly stats: StickyStats = { routed: 0, rejected: 0, dropped: 0 }

  constructor (mode: StickyMode, slots: StickySlots, log: Logger) {
    this.#mode = mode
    this.#slots = slots
    this.#log = log
  }

  /** Listens on every address `host` names (as Fastify does for "localhost"); resolves with the first. */
  async listen (host: string, port: number): Promise<WorkerAddress> {
    let addresses: string[]
    try {
      addresses = net.isIP(host) === 0 ? [...new Set((await lookup(host, { all: true })).map((a) => a.address))] : [host]
    } catch (err) {
      throw new FST_CLUSTER_STICKY_LISTEN(`${host}:${port}`, (err as Error).message, { cause: err })
    }
    let bound = port
    for (const [i, address] of addresses.entries()) {
      const server = net.createServer({ pauseOnConnect: true, noDelay: true }, this.#onConnection)
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen({ host: address, port: bound }, () => {
            server.off('error', reject)
            resolve()
          })
        })
      } catch (err) {
        // Like Fastify: the first address must bind; another one that cannot (no IPv6 here) is skipped.
        if (i === 0) {
          this.close()
          throw new FST_CLUSTER_STICKY_LISTEN(`${address}:${port}`, (err as Error).message, { cause: err })
        }
        continue
      }
      server.on('error', (err) => { this.#log.error({ event: 'sticky:error', err }, 'sticky listener error') })
      this.#servers.push(server)
      const info = server.address() as net.AddressInfo
      bound = info.port
    }
    const first = this.#servers[0]?.address() as net.AddressInfo
    this.#log.info({ event: 'sticky:listening', mode: formatSticky(this.#mode), addresses: this.#servers.map((s) => s.address()) },
      'sticky sessions: the primary listens and routes each connection to a slot')
    return { address: first.address, port: first.port, family: first.family }
  }

  /** A worker became ready: connections waiting for one go now. */
  workerReady (): void {
    for (const waiting of [...this.#waiting]) {
      this.#waiting.delete(waiting)
      clearTimeout(waiting.timer)
      this.#route(waiting.socket, waiting.key, waiting.head, 0)
    }
  }

  /**
   * Shutdown: keep accepting through `drainDelay` (the load balancer's removal race, as workers do without
   * sticky), then stop accepting before any worker stops taking connections.
   */
  shutdown (drainDelay: number): void {
    if (this.#shuttingDown) return
    this.#shuttingDown = true
    if (drainDelay === 0) {
      this.#stopAccepting()
      return
    }
    this.#stopTimer = setTimeout(() => { this.#stopAccepting() }, drainDelay)
    this.#stopTimer.unref()
  }

  /** Closes the listeners and every connection still in the primary. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#stopAccepting()
    for (const [socket, stop] of this.#reading) {
      stop()
      socket.destroy()
    }
    this.#reading.clear()
    for (const waiting of this.#waiting) {
      clearTimeout(waiting.timer)
      waiting.socket.destroy()
      this.stats.dropped++
    }
    this.#waiting.clear()
  }

  #stopAccepting (): void {
    if (this.#stopTimer !== null) clearTimeout(this.#stopTimer)
    this.#stopTimer = null
    for (const server of this.#servers.splice(0)) server.close()
  }

  readonly #onConnection = (socket: net.Socket): void => {
    // A reset before the hand-off is the client's business; never an unhandled error in the primary.
    socket.on('error', noop)
    if (this.#closed || this.#reading.size + this.#waiting.size >= STICKY_MAX_PENDING) {
      this.stats.dropped++
      socket.destroy()
      return
    }
    const address = addressKey(socket.remoteAddress)
    if (this.#mode.kind === 'ip') this.#route(socket, address, null, 0)
    else this.#readHead(socket, this.#mode, address)
  }

  /** Reads until the key is known, within STICKY_HEAD_BYTES and STICKY_HEAD_TIMEOUT_MS; never a whole request. */
  #readHead (socket: net.Socket, mode: Exclude<StickyMode, { kind: 'ip' }>, address: string): void {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (verdict: ReturnType<typeof keyFromHead>): void => {
      stop()
      this.#reading.delete(socket)
      if (verdict.kind === 'reject' || verdict.kind === 'more') {
        this.stats.rejected++
        this.#log.debug({ event: 'sticky:rejected', reason: verdict.kind === 'more' ? 'closed or silent' : verdict.reason, address },
          'sticky sessions: closed a connection that sent no HTTP request')
        socket.destroy()
        return
      }
      // Anything that arrived after the last 'data' is in the stream's buffer: it goes with the socket too.
      socket.pause()
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) chunks.push(chunk)
      // Stop the primary's reads before the hand-off: pause() alone keeps the handle reading, and bytes read after
      // it (a request body sent later) would go to a handle that is about to close. The kernel keeps them for the worker.
      const handle = (socket as net.Socket & { _handle: { reading?: boolean, readStop?: () => number } | null })._handle
      if (handle?.readStop !== undefined) {
        handle.reading = false
        handle.readStop()
      }
      this.#route(socket, verdict.key ?? address, Buffer.concat(chunks), 0)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      size += chunk.length
      const verdict = keyFromHead(mode, Buffer.concat(chunks, size).toString('latin1'), STICKY_HEAD_BYTES)
      // Past the limit without a verdict: by address (the worker's parser answers an oversized head itself).
      if (verdict.kind !== 'more') finish(verdict)
      else if (size >= STICKY_HEAD_BYTES) finish({ kind: 'key', key: null })
    }
    const onEnd = (): void => { finish({ kind: 'more' }) }
    const timer = setTimeout(onEnd, STICKY_HEAD_TIMEOUT_MS)
    timer.unref()
    const stop = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
    }
    this.#reading.set(socket, stop)
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    socket.resume()
  }

  /** The channel for `key`: the best ready slot; during shutdown, a draining one that still takes connections. */
  #target (key: string): HandOffChannel | null {
    const channelOf = (slot: number, state: WorkerState): HandOffChannel | null => {
      const s = this.#slots.slotWorker(slot)
      return s === null || s.state !== state || s.channel === null || !s.channel.connected ? null : s.channel
    }
    let state: WorkerState = 'ready'
    let slot = pickSlot(key, this.#slots.slotCount, (i) => channelOf(i, 'ready') !== null)
    if (slot === null && this.#shuttingDown) {
      state = 'draining'
      slot = pickSlot(key, this.#slots.slotCount, (i) => channelOf(i, 'draining') !== null)
    }
    return slot === null ? null : channelOf(slot, state)
  }

  #route (socket: net.Socket, key: string, head: Buffer | null, attempt: number): void {
    if (socket.destroyed) return
    const channel = this.#target(key)
    if (channel === null || attempt >= MAX_ATTEMPTS) {
      this.#wait(socket, key, head)
      return
    }
    const retry = (err: Error): void => {
      this.#log.debug({ event: 'sticky:send-failed', err }, 'sticky sessions: hand-off failed; trying again')
      // The handle is still ours only if the send never took it.
      if ((socket as net.Socket & { _handle: unknown })._handle !== null) this.#route(socket, key, head, attempt + 1)
    }
    try {
      channel.sendHandle(buildStickyConnection(head), socket, (err) => {
        if (err !== null) retry(err)
      })
      this.stats.routed++
    } catch (err) {
      retry(err as Error)
    }
  }

  /** No worker can take it now (every slot is restarting): hold it until one is ready, within STICKY_WAIT_MS. */
  #wait (socket: net.Socket, key: string, head: Buffer | null): void {
    if (this.#closed) {
      this.stats.dropped++
      socket.destroy()
      return
    }
    const waiting: Waiting = {
      socket,
      key,
      head,
      timer: setTimeout(() => {
        this.#waiting.delete(waiting)
        this.stats.dropped++
        this.#log.warn({ event: 'sticky:no-worker', waitedMs: STICKY_WAIT_MS }, 'sticky sessions: no worker became ready in time; closed a connection')
        socket.destroy()
      }, STICKY_WAIT_MS)
    }
    waiting.timer.unref()
    this.#waiting.add(waiting)
  }
}

function noop (): void {}

/**
 * Where the app listens, as the workers would compute it: the inline app's `port` and `host`, or fastify-cli's own
 * reading of the app file's flags (`-p`, `-a`, `PORT`, `FASTIFY_*`, 0.0.0.0 in a container).
 */
export async function appListenAddress (options: ResolvedOptions): Promise<{ host: string, port: number }> {
  if (options.app !== undefined) return { host: options.host, port: options.port }
  const { default: parseArgs } = await import('fastify-cli/args.js')
  const opts = parseArgs([...options.fastifyArgs])
  if (opts.socket !== undefined) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(`sticky sessions route by client address and need a TCP port; the app listens on the Unix socket "${opts.socket}"`)
  }
  const port = Number(opts.port ?? process.env.PORT ?? 3000)
  if (opts.address !== undefined) return { host: opts.address, port }
  return { host: await inContainer() ? '0.0.0.0' : 'localhost', port }
}

/** fastify-cli's own container detection (it listens on 0.0.0.0 in Docker or Kubernetes). */
async function inContainer (): Promise<boolean> {
  try {
    const cli = await import('fastify-cli/util.js')
    if (cli.isKubernetes()) return true
    const { createRequire } = await import('node:module')
    const mod = createRequire(require.resolve('fastify-cli/package.json'))('is-docker') as (() => boolean) | { default: () => boolean }
    return typeof mod === 'function' ? mod() : mod.default()
  } catch {
    return false
  }
}
