/*
 * One worker process's lifecycle, whichever door started it (app file, inline app, or the app's own
 * register(clusterPlugin) then listen()): drain on the primary's command, report boot failures, decide what each
 * signal does. Like a CLI, it may end the process.
 */
import { spawnSync } from 'node:child_process'
import type { IncomingMessage, ServerResponse } from 'node:http'
import inspector from 'node:inspector'
import net from 'node:net'
import { join, sep } from 'node:path'
import type { FastifyInstance, FastifyListenOptions } from 'fastify'
import { describeValue } from '../lib/shared/messages.js'
import {
  MAX_DETAIL, MessageTypes, buildBootError, buildLeaving, buildLoaded, buildUncaught, buildUnlisten, type BootStage, type WorkerLaunch
} from '../lib/shared/protocol.js'
import type { PrimaryChannel } from './channel.js'
import { clusterStateOf } from './registration.js'
import type { StickyReceiver } from './sticky-receiver.js'
import { releaseHungUpTerminal } from '../lib/shared/signals.js'

/** Longest wait for open keep-alive connections to move to other workers before closing the rest. */
const SETTLE_MS = 1000

/** Resolves when the server has no open connection left, or after `max` ms. */
async function settle (server: net.Server, max: number): Promise<void> {
  const deadline = Date.now() + max
  for (;;) {
    const open = await new Promise<number>((resolve) => { server.getConnections((err, n) => { resolve(err === null ? n : 0) }) })
    if (open === 0 || Date.now() >= deadline) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function closeAfterResponse (_req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('connection', 'close')
}

/**
 * Signals a worker leaves to the primary: a terminal's Ctrl+C or hangup reaches the whole process group, and
 * SIGUSR2 (the primary's reload) must not end a worker it reaches by a group or pattern kill.
 */
const PRIMARY_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGHUP', 'SIGUSR2']

/**
 * One worker's lifecycle. Drain (from the primary, or SIGTERM sent to the worker directly, e.g. by systemd's
 * control-group kill): mark draining, serve `drainDelay` more, `fastify.close()` so the app's hooks run and
 * in-flight requests finish, then leave the cluster. A second SIGTERM while draining ends the process at once.
 */
export class WorkerLifecycle {
  readonly #channel: PrimaryChannel
  #fastify: FastifyInstance | null = null
  #drainRequested: number | null = null
  #draining = false
  /** Sticky sessions: connections come from the primary, not from a listening socket. */
  #sticky: StickyReceiver | null = null
  /** Where the boot is: loading the app file, the app's own boot, binding the port. */
  #stage: BootStage = 'load'
  /** The app file, once known (to show where a load error is). */
  appFile: string | null = null
  readonly #cleanups: Array<() => void> = []

  constructor (channel: PrimaryChannel) {
    this.#channel = channel
    // The primary names a worker's last uncaught error in crash-loop messages. A monitor changes nothing about
    // how the process dies; the small message is written to the channel synchronously.
    const onUncaught = (err: unknown): void => {
      const { message, frame } = describeUncaught(err)
      channel.send(buildUncaught(message, frame))
    }
    process.on('uncaughtExceptionMonitor', onUncaught)
    this.#cleanups.push(() => { process.off('uncaughtExceptionMonitor', onUncaught) })
    // Stuck-worker diagnostics: the inspector's own thread can pause a blocked event loop and read its stack.
    if (channel.launch.inspect === true) inspector.open(0, '127.0.0.1')
    this.#cleanups.push(channel.onMessage((message) => {
      if (message.type === MessageTypes.DRAIN) this.drain(message.delay)
    }))
    const ignore = (): void => {}
    for (const signal of PRIMARY_SIGNALS) {
      process.on(signal, ignore)
      this.#cleanups.push(() => { process.off(signal, ignore) })
    }
    let terms = 0
    const onTerm = (): void => {
      terms++
      if (this.#fastify === null || terms > 1) {
        // A worker still booting (nothing to drain yet), or a second SIGTERM (an impatient operator, or the
        // primary's escalation after an earlier one): die of the signal, as asked.
        process.off('SIGTERM', onTerm)
        process.kill(process.pid, 'SIGTERM')
        return
      }
      // Already draining on the primary's order: this is a process-group SIGTERM (systemd's control-group kill,
      // a container runtime) or the primary's escalation; keep draining. The primary's SIGKILL bounds it.
      if (this.#draining) return
      // Someone other than the primary wants this worker gone: say so, so the exit is not taken for a crash.
      channel.send(buildLeaving())
      this.drain(channel.launch.drainDelay)
    }
    process.on('SIGTERM', onTerm)
    this.#cleanups.push(() => { process.off('SIGTERM', onTerm) })
  }

  /** True when the primary asked for a drain before the app was handed over. */
  get drainPending (): boolean { return this.#drainRequested !== null }

  /** Hands over the listening app (SIGTERM drains it from now on); a drain requested while booting starts now. */
  attach (fastify: FastifyInstance, sticky: StickyReceiver | null = null): void {
    this.#fastify = fastify
    this.#sticky = sticky
    if (this.#drainRequested !== null) this.drain(this.#drainRequested)
  }

  drain (delay: number): void {
    const fastify = this.#fastify
    if (fastify === null) {
      this.#drainRequested = delay
      return
    }
    if (this.#draining) return
    this.#draining = true
    clusterStateOf(fastify)?.markDraining()
    // From now on every response closes its connection, so keep-alive clients move to another worker. A raw
    // listener ahead of Fastify's costs nothing until the drain, unlike a per-request hook.
    fastify.server.prependListener('request', closeAfterResponse)
    fastify.log.info({ delay }, 'fastify-cluster: draining')
    const timer = setTimeout(() => {
      this.#close(fastify).then(() => { this.#leave(0) }, (err: unknown) => {
        fastify.log.error({ err }, 'fastify-cluster: fastify.close() failed')
        this.#leave(1)
      })
    }, delay)
    // Not unref'd on purpose: an app with no open handle must still drain and close before leaving.
    this.#cleanups.push(() => { clearTimeout(timer) })
  }

  /**
   * Leaves the round-robin first (the listening socket closes, open connections stay), lets keep-alive clients
   * move on (each response now says Connection: close), then `fastify.close()`: hooks run, in-flight requests
   * finish, and only connections idle for the whole settle window are closed under a client, which is the race
   * that loses requests when a server closes keep-alive sockets in the middle of traffic.
   */
  async #close (fastify: FastifyInstance): Promise<void> {
    const server = fastify.server
    if (server.listening) {
      // net.Server's close, not http.Server's: the latter also closes idle keep-alive sockets at once.
      net.Server.prototype.close.call(server)
      await this.#unlisten()
      await settle(server, SETTLE_MS)
    } else if (this.#sticky !== null) {
      // The primary stops sending connections here at `unlisten`; keep-alive clients then move on as above.
      await this.#unlisten()
      await this.#sticky.settle(SETTLE_MS)
    }
    // A request in flight when the drain began was answered without Connection: close; its connection then idles
    // and would hold close() until the client hangs up. Keep closing idle connections until Fastify has closed.
    const sweep = setTimeout(() => {
      server.closeIdleConnections()
      sweep.refresh()
    }, 50)
    sweep.unref()
    try {
      await fastify.close()
    } finally {
      clearTimeout(sweep)
    }
    this.#sticky?.close()
  }

  /**
   * Waits (at most SETTLE_MS) for the primary to acknowledge that this worker left the round-robin: until then a
   * connection may still be on its way here, and exiting would strand it in the primary.
   */
  async #unlisten (): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, SETTLE_MS)
      const off = this.#channel.onMessage((message) => { if (message.type === MessageTypes.UNLISTEN_ACK) done() })
      function done (): void {
        clearTimeout(timer)
        off()
        resolve()
      }
      this.#channel.send(buildUnlisten())
    })
  }

  /** The app file loaded: from now on a failure is the app's own boot; the primary may fork the other workers. */
  loaded (): void {
    if (this.#stage !== 'load') return
    this.#stage = 'boot'
    this.#channel.send(buildLoaded())
  }

  /** The app booted (plugins loaded, onReady ran): what fails now is binding the port. */
  listening (): void { this.#stage = 'listen' }

  /** Reports a boot failure, with its stage and a readable form, to the primary (which logs it), then exits 1. */
  fail (err: unknown): void {
    // Our generic wrapper says less than the original's code (MODULE_NOT_FOUND, ERR_REQUIRE_ESM): report that.
    const cause = err instanceof Error ? err.cause as { code?: unknown } | undefined : undefined
    const own = (err as { code?: unknown })?.code
    const code = own === 'FST_CLUSTER_WORKER_BOOT' && typeof cause?.code === 'string'
      ? cause.code
      : typeof own === 'string' ? own : 'FST_CLUSTER_WORKER_BOOT'
    const message = err instanceof Error ? err.message : String(err)
    const detail = formatBootError(err, this.#stage, this.appFile)
    this.#channel.send(buildBootError(code, message, this.#stage, detail), () => { this.#leave(1) })
  }

  /** The primary's launch settings for this worker. */
  get launch (): WorkerLaunch { return this.#channel.launch }

  #leave (code: number): void {
    for (const cleanup of this.#cleanups.splice(0)) cleanup()
    releaseHungUpTerminal()
    process.exit(code)
  }
}

/**
 * With `reusePort`, this worker binds a socket of its own (Node then skips the primary's shared one), and an app
 * asking for port 0 gets the port the primary chose, so every worker serves the same one.
 */
export function bindOptions (listen: FastifyListenOptions, launch: WorkerLaunch): FastifyListenOptions {
  if (launch.reusePort !== true || listen.path !== undefined) return listen
  const port = Number(listen.port ?? 0) === 0 && launch.listenPort !== undefined ? launch.listenPort : listen.port
  return { ...listen, port, reusePort: true } as FastifyListenOptions
}

/** This package's own code (built or, with source maps, its sources): not where an app's error is. */
const OWN_CODE = [join(__dirname, '..'), join(__dirname, '..', '..', 'lib'), join(__dirname, '..', '..', 'plugin')].map((d) => d + sep)

/** Frames worth showing: the app's, not Node's internals, dependencies or this package. */
function appFrames (stack: string): string[] {
  return stack.split('\n').filter((line) => /^\s+at /.test(line) && !line.includes('node:internal') &&
    !line.includes(`${sep}node_modules${sep}`) && !OWN_CODE.some((dir) => line.includes(dir))).map((line) => line.trim())
}

/** An uncaught error as the primary names it: its message and its top frame. */
function describeUncaught (err: unknown): { message: string, frame: string | null } {
  if (!(err instanceof Error)) return { message: `uncaught: ${describeValue(err)}`, frame: null }
  return { message: `${err.name}: ${err.message}`, frame: appFrames(err.stack ?? '')[0] ?? null }
}

/**
 * A boot error as a person reads it. A syntax error in the app file gets Node's own excerpt (file:line, the
 * source line, a caret): a CommonJS file carries it in its stack; for an ES module Node keeps it to itself, so
 * `node --check` on the file (only on this failure path) provides it. Other errors: the message and a few frames.
 */
function formatBootError (err: unknown, stage: BootStage, file: string | null): string {
  const root = err instanceof Error && err.cause instanceof Error ? err.cause : err
  if (!(root instanceof Error)) return describeValue(root)
  const stack = root.stack ?? `${root.name}: ${root.message}`
  const head = stack.split(/\n\s+at /)[0] ?? stack
  if (stage === 'load' && root instanceof SyntaxError) {
    if (!head.startsWith('SyntaxError') || file === null) return head.trim().slice(0, MAX_DETAIL)
    const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 20_000 })
    const excerpt = (check.stderr ?? '').split(/\n\s+at /)[0]?.trim() ?? ''
    return (excerpt.includes('SyntaxError') ? excerpt : head.trim()).slice(0, MAX_DETAIL)
  }
  // The message travels beside this text; only the app's own frames add to it.
  return appFrames(stack).slice(0, 5).map((f) => `    ${f}`).join('\n').slice(0, MAX_DETAIL)
}
