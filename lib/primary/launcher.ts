import { EventEmitter } from 'node:events'
import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import {
  FST_CLUSTER_APP_NOT_FOUND, FST_CLUSTER_NO_ENTRY_SCRIPT, FST_CLUSTER_RELOAD_UNAVAILABLE, FST_CLUSTER_UNEXPECTED_WORKER_ENV
} from '../shared/errors.js'
import { ClusterEvents, type ClusterEventMap, type ClusterExit, type ReloadResult, type WorkerInfo } from '../shared/events.js'
import { createPrimaryLogger, type PrimaryLogFormat } from './logger.js'
import { checkAppFile, checkHostAndPort } from './preflight.js'
import type { ClusterMetrics } from './metrics.js'
import { AppMetricsCollector } from './app-metrics.js'
import { resolveOptions, type ClusterOptions, type OptionNames, type ResolvedOptions } from '../shared/options.js'
import { RollingReload } from './rolling-reload.js'
import { FileWatcher, watchSettings, type WatchSettings } from './file-watcher.js'
import { reserveFreePort, reusePortSupport, tcpMigrateReq } from './connection-distribution.js'
import { applySchedulingPolicy } from './worker-process.js'
import { Supervisor, type ForkTarget, type ListenPlan } from './supervisor.js'
import { hangupAction, processTerminalState } from '../shared/signals.js'
import { startControl, type Control } from './control-server.js'
import type { StickyBalancer } from './sticky-balancer.js'
import type { ClusterHandle } from '../shared/cluster-handle.js'

export type { ClusterHandle } from '../shared/cluster-handle.js'


/** Signals that shut the cluster down; a second one forces. */
const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']
/** Rolling reload, whatever the terminal. */
const RELOAD_SIGNAL: NodeJS.Signals = 'SIGUSR2'

/** The primary: the pool, rolling reload, health server, metrics and signals, wired together. */
export class PrimaryHandle extends EventEmitter<ClusterEventMap> implements ClusterHandle {
  readonly isPrimary = true
  readonly fastify = null
  // The primary is also `fastify.cluster` when the plugin launched the cluster (PrimaryClusterView).
  readonly isWorker = false
  readonly workerId = null
  readonly slot = null
  readonly lastSample = null
  readonly #supervisor: Supervisor
  readonly #reloader: RollingReload
  /** Only with a health server: prom-client and Fastify stay out of the primary otherwise. */
  #metrics: ClusterMetrics | null = null
  #metricsLoading: Promise<ClusterMetrics> | null = null
  readonly #appMetrics: AppMetricsCollector
  readonly #log: Logger
  readonly #options: ResolvedOptions
  readonly #closed: Promise<ClusterExit>
  #health: { port: number, close: () => Promise<void> } | null = null
  #watcher: FileWatcher | null = null
  #control: Control | null = null
  readonly #startedAt = Date.now()
  /** With `sticky`: the primary's own listener, routing each connection to a slot. */
  #sticky: StickyBalancer | null = null
  #uninstallSignals: () => void = () => {}

  constructor (options: ResolvedOptions, target: ForkTarget, logFormat: PrimaryLogFormat = {}) {
    super()
    this.#options = options
    this.#log = createPrimaryLogger(options.logger, logFormat)
    this.#supervisor = new Supervisor(options, this.#log, target, this)
    this.on(ClusterEvents.WORKER_EXIT, (e) => { this.#metrics?.exits.inc({ reason: e.reason }) })
    this.on(ClusterEvents.WORKER_RECYCLE, (e) => { this.#metrics?.recycles.inc({ reason: e.reason }) })
    this.on(ClusterEvents.WORKER_STUCK, () => { this.#metrics?.recycles.inc({ reason: 'stuck' }) })
    const supervisor = this.#supervisor
    this.#appMetrics = new AppMetricsCollector({
      targets: () => supervisor.workers().filter((w) => w.state === 'ready').map(({ id, pid, slot }) => ({ id, pid, slot })),
      alive: () => new Set(supervisor.workers().map((w) => w.id)),
      send: (id, message) => { supervisor.sendTo(id, message) },
      timeout: options.metricsTimeout
    })
    // The app port's aggregate (plugin option clusterMetrics) has the app's metrics only: the cluster's name pids.
    supervisor.onMetricsMessage = (id, message) => {
      this.#appMetrics.receive(id, message, async (collection) => await (await this.#loadMetrics()).render(collection, false))
    }
    this.#reloader = new RollingReload({
      get slotCount () { return supervisor.slotCount },
      isRunning: () => supervisor.phase === 'running',
      replaceSlot: async (index) => await supervisor.replaceSlot(index),
      pauseRecycles: (paused) => { supervisor.pauseRecycles(paused) }
    }, options.reloadSurge, {
      start: (pass) => {
        this.#log.info({ event: ClusterEvents.CLUSTER_RELOAD_START, ...pass }, 'rolling reload started')
        this.#emitSafely(ClusterEvents.CLUSTER_RELOAD_START, pass)
      },
      done: (result) => { this.#reloadDone(result) }
    })
    // The health server outlives the workers (so /ready says 503 and /live 200 through the drain).
    this.#closed = this.#supervisor.closed.then(async (exit) => {
      this.#appMetrics.close()
      this.#uninstallSignals()
      this.#sticky?.close()
      await this.#watcher?.close().catch(() => {})
      await this.#health?.close().catch(() => {})
      // Last: a `stop` on the control socket is answered with the exit.
      await this.#control?.close(exit).catch(() => {})
      return exit
    })
  }

  get ready (): Promise<void> { return this.#supervisor.ready }
  get closed (): Promise<ClusterExit> { return this.#closed }
  get healthPort (): number | null { return this.#health?.port ?? null }
  /** True once shutdown started. */
  get draining (): boolean { return this.#supervisor.phase === 'closing' || this.#supervisor.phase === 'closed' }

  /** Installs the signal handlers now, so a signal right after start() is already handled. */
  installSignals (): void {
    if (this.#options.signals) this.#uninstallSignals = this.#installSignals()
  }

  /**
   * Runs the checks that need the network or /proc (nothing is forked if one fails), then starts. `listen`: where
   * the app's own `listen()` binds, when it started the cluster (the plugin's door); otherwise the options' port
   * and host apply.
   */
  begin (names: OptionNames = {}, listen?: PluginListen): void {
    const options = listen === undefined
      ? this.#options
      : { ...this.#options, port: listen.port ?? 0, ...(listen.host === undefined ? {} : { host: listen.host }) }
    void checkHostAndPort(options, names, this.#log).then(() => { this.#begin(listen?.port) },
      (err: Error) => { this.#supervisor.fail(err, 'preflight') })
  }

  /** Forks the workers and starts the health server. */
  #begin (appPort: number | undefined): void {
    void this.#listenPlan(appPort).then((plan) => { this.#supervisor.start(plan) },
      (err: Error) => { this.#supervisor.fail(err, 'listen-plan') })
    if (this.#options.appFile !== undefined) void this.#watch()
    const port = this.#options.healthPort
    if (port !== undefined) void this.#startHealthServer(port)
    if (this.#options.control) void this.#startControl()
  }

  /** The control socket for `fastify-cluster ls|status|reload|stop`; the cluster runs on without it if it cannot open. */
  async #startControl (): Promise<void> {
    const supervisor = this.#supervisor
    this.#control = await startControl(this.#options, this.#startedAt, {
      workers: () => supervisor.workers(),
      phase: () => supervisor.phase,
      degraded: () => supervisor.degraded,
      slots: () => supervisor.slotCount,
      reload: async () => await this.reload(),
      stop: () => { void supervisor.close('control', null) }
    }, this, this.#log)
    if (this.#control !== null && supervisor.phase === 'closed') await this.#control.close()
  }

  async #startHealthServer (port: number): Promise<void> {
    // Loaded on demand (in the same tick as begin(), before any worker event): Fastify and prom-client cost
    // the primary ~20 MB and ~100 ms at start, for nothing without a health server.
    const metrics = await this.#loadMetrics()
    const { startHealthServer } = await import('./health-server.js')
    try {
      const health = await startHealthServer({
        port,
        host: this.#options.healthHost,
        minReady: this.#options.minReady,
        status: this.#options.healthStatus
      }, {
        workers: () => this.#supervisor.workers(),
        phase: () => this.#supervisor.phase,
        gaveUp: () => this.#supervisor.gaveUp,
        degraded: () => this.#supervisor.degraded,
        appMetrics: async () => await this.#appMetrics.collect()
      }, metrics, this.#log)
      this.#health = health
      // Closed while it was starting: close it too.
      if (this.#supervisor.phase === 'closed') void health.close()
    } catch (err) {
      this.#supervisor.fail(err as Error, 'health-server')
    }
  }

  /** prom-client, on demand: for the health server, or the first worker serving the aggregate on the app port. */
  async #loadMetrics (): Promise<ClusterMetrics> {
    this.#metricsLoading ??= import('./metrics.js').then(({ ClusterMetrics }) => {
      this.#metrics = new ClusterMetrics({ workers: () => this.#supervisor.workers(), degraded: () => this.#supervisor.degraded, log: this.#log })
      return this.#metrics
    })
    return await this.#metricsLoading
  }

  /** `--watch`: once every worker is ready, each burst of file changes becomes a rolling reload. */
  async #watch (): Promise<void> {
    let settings: WatchSettings | null
    try {
      settings = await watchSettings(this.#options.fastifyArgs)
    } catch (err) {
      this.#log.error({ event: 'watch:error', err }, 'cannot read the watch flags: not watching')
      return
    }
    if (settings === null) return
    try { await this.#supervisor.ready } catch { return }
    if (this.#supervisor.phase !== 'running') return
    const watcher = new FileWatcher(settings, (files) => {
      this.#log.info({ event: 'watch:reload', files: files.slice(0, 20) }, 'files changed: rolling reload')
      // A reload already running takes this one as its coalesced next pass; a failed one keeps the old workers.
      this.reload().catch((err: Error) => {
        this.#log.warn({ event: 'watch:reload-skipped', reason: err.message }, 'files changed but the cluster cannot reload now')
      })
    }, this.#log)
    this.#watcher = watcher
    await watcher.start().catch((err: unknown) => {
      this.#log.error({ event: 'watch:error', err }, 'the file watcher failed to start: not watching')
    })
  }

  /**
   * Decides how workers bind, before the first fork: the scheduling policy, and with `reusePort` (where this Node
   * and platform support it) a concrete port for apps that ask for port 0.
   */
  async #listenPlan (listenPort: number | undefined): Promise<ListenPlan> {
    const policyWarning = applySchedulingPolicy(this.#options.schedulingPolicy)
    if (policyWarning !== null) this.#log.warn({ event: 'cluster:scheduling-policy' }, policyWarning)
    if (this.#options.sticky !== null) return { sticky: await this.#listenSticky(this.#options.sticky) }
    if (!this.#options.reusePort) return {}
    const support = reusePortSupport()
    if (!support.supported) {
      this.#log.warn({ event: 'cluster:reuse-port-unavailable', reason: support.reason },
        `reusePort is not available: ${support.reason}; workers share the primary's socket instead`)
      return {}
    }
    if (tcpMigrateReq() === false) {
      this.#log.warn({ event: 'cluster:reuse-port-migrate-off' },
        'net.ipv4.tcp_migrate_req is 0: connections still queued on a draining worker\'s socket are reset when it closes; set it to 1 for zero-loss reloads')
    }
    const appPort = listenPort ?? (this.#options.app === undefined ? null : this.#options.port)
    return { reusePort: true, ...(appPort === null || appPort === 0 ? { listenPort: await reserveFreePort() } : {}) }
  }

  /** Sticky sessions: the primary binds the app's address before the first fork; workers get its sockets. */
  async #listenSticky (mode: NonNullable<ResolvedOptions['sticky']>): Promise<NonNullable<ListenPlan['sticky']>> {
    const { StickyBalancer, appListenAddress } = await import('./sticky-balancer.js')
    const { host, port } = await appListenAddress(this.#options)
    const supervisor = this.#supervisor
    const balancer = new StickyBalancer(mode, {
      get slotCount () { return supervisor.slotCount },
      slotWorker: (index) => supervisor.slotWorker(index)
    }, this.#log)
    this.#sticky = balancer
    this.on(ClusterEvents.WORKER_READY, () => { balancer.workerReady() })
    this.on(ClusterEvents.CLUSTER_SHUTDOWN, () => { balancer.shutdown(this.#options.drainDelay) })
    const address = await balancer.listen(host, port)
    // Closed while binding: nothing will be forked, so nothing else closes it.
    if (supervisor.phase !== 'idle') balancer.close()
    return address
  }

  close = async (): Promise<ClusterExit> => {
    await this.#supervisor.close('close()')
    return await this.#closed
  }

  reload = async (): Promise<ReloadResult> => {
    const phase = this.#supervisor.phase
    if (phase !== 'running') throw new FST_CLUSTER_RELOAD_UNAVAILABLE(`the cluster is ${phase === 'idle' ? 'starting' : phase}`)
    if (!this.#supervisor.isReady) throw new FST_CLUSTER_RELOAD_UNAVAILABLE('the cluster is not ready yet')
    return await this.#reloader.request()
  }

  workers = (): WorkerInfo[] => this.#supervisor.workers()

  #reloadDone (result: ReloadResult): void {
    const outcome = result.aborted === null ? 'done' : result.aborted
    this.#metrics?.reloads.inc({ outcome })
    const fields = {
      replaced: result.replaced.length, failed: result.failed, aborted: result.aborted, durationMs: result.durationMs
    }
    if (result.aborted === null) {
      this.#log.info({ event: ClusterEvents.CLUSTER_RELOAD_DONE, ...fields }, 'rolling reload done')
      this.#emitSafely(ClusterEvents.CLUSTER_RELOAD_DONE, result)
    } else {
      this.#log.error({ event: ClusterEvents.CLUSTER_RELOAD_FAILED, ...fields },
        'rolling reload stopped: the remaining old workers keep serving')
      this.#emitSafely(ClusterEvents.CLUSTER_RELOAD_FAILED, result)
    }
    const hook = this.#options.onReload
    if (hook !== undefined) {
      Promise.resolve().then(() => hook(result)).catch((err: unknown) => {
        this.#log.error({ err, hook: 'onReload' }, 'a lifecycle hook threw')
      })
    }
  }

  #emitSafely<K extends keyof ClusterEventMap> (event: K, ...args: ClusterEventMap[K]): void {
    try {
      this.emit(event, ...(args as never))
    } catch (err) {
      this.#log.error({ err, event }, 'an event listener threw')
    }
  }

  /**
   * SIGTERM/SIGINT: shutdown, a second one forces. SIGUSR2: rolling reload (coalesced). SIGHUP: a hangup (graceful
   * shutdown, never forced by a repeat: a shell resends it to its jobs) when a standard stream is a terminal, else
   * a rolling reload (systemd's ExecReload). Decided now: after a hangup the streams say nothing.
   */
  #installSignals (): () => void {
    const supervisor = this.#supervisor
    const hangup = hangupAction(processTerminalState())
    this.#log.debug({ event: 'cluster:signals', SIGHUP: hangup }, `SIGHUP will ${hangup === 'stop' ? 'stop the cluster (a terminal hangup)' : 'reload the workers'}`)
    const onSignal = (signal: NodeJS.Signals): void => {
      if (supervisor.phase === 'closing') void supervisor.forceClose(signal)
      else void supervisor.close('signal', signal)
    }
    const reload = (signal: NodeJS.Signals): void => {
      this.reload().catch((err: Error) => {
        this.#log.warn({ signal, err: { code: (err as { code?: string }).code, message: err.message } },
          `${signal} received but no reload is possible now`)
      })
    }
    const onHangup = (): void => {
      if (hangup === 'reload') reload('SIGHUP')
      else if (supervisor.phase !== 'closing' && supervisor.phase !== 'closed') void supervisor.close('hangup', 'SIGHUP')
    }
    const onReload = (): void => { reload(RELOAD_SIGNAL) }
    for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal)
    process.on('SIGHUP', onHangup)
    process.on(RELOAD_SIGNAL, onReload)
    return () => {
      for (const signal of SHUTDOWN_SIGNALS) process.off(signal, onSignal)
      process.off('SIGHUP', onHangup)
      process.off(RELOAD_SIGNAL, onReload)
    }
  }
}

/** Where the app's own `listen()` binds, in the plugin's door (the options carry no port or host there). */
export interface PluginListen { port?: number, host?: string }

/** A primary whose options are resolved and validated, with nothing forked yet. */
export interface PreparedPrimary {
  readonly handle: PrimaryHandle
  /** Installs the signal handlers now and forks (on the next tick with `deferred`). Once. */
  launch: (listen?: PluginListen, deferred?: boolean) => void
}

/**
 * The primary's setup shared by `start()` and the plugin's door (`register(clusterPlugin, { workers })`, see
 * lib/primary/plugin-primary.ts): the same checks and option resolver (a coded error before anything is forked), the
 * same fork target. An inline app (or the plugin's door) makes workers run this script with its arguments.
 */
export function preparePrimary (options: ClusterOptions, names?: OptionNames): PreparedPrimary {
  if (process.env.NODE_UNIQUE_ID !== undefined) {
    throw new FST_CLUSTER_UNEXPECTED_WORKER_ENV(process.env.NODE_UNIQUE_ID)
  }
  const resolved = resolveOptions(options, names)
  const target = forkTarget(resolved, names)
  // Mistakes every worker would repeat fail here, once; -P makes the primary's lines pretty too.
  const appArgs = target.fastifyArgs === undefined || resolved.appFile === undefined
    ? null
    : checkAppFile(resolve(resolved.appFile), target.fastifyArgs, target.execArgv)
  const handle = new PrimaryHandle(resolved, target, { pretty: appArgs?.prettyLogs === true })
  let launched = false
  return {
    handle,
    launch: (listen, deferred = false) => {
      if (launched) return
      launched = true
      handle.installSignals()
      if (resolved.signals) {
        // A signal-driven or given-up shutdown ends the program: make its exit code say how it went.
        void handle.closed.then((exit) => { if (exit.code !== 0) process.exitCode = exit.code })
      }
      if (deferred) process.nextTick(() => { handle.begin(names, listen) })
      else handle.begin(names, listen)
    }
  }
}

function forkTarget (resolved: ResolvedOptions, names: OptionNames = {}): ForkTarget {
  if (resolved.appFile === undefined) {
    // Inline app (or the plugin's door): the workers run the same script with the same arguments.
    const script = process.argv[1]
    const evaluated = process.execArgv.some((a) => /^(-[ep]{1,2}|--eval|--print)(=|$)/.test(a))
    if (script === undefined || script === '' || script === '-' || evaluated) {
      throw new FST_CLUSTER_NO_ENTRY_SCRIPT(evaluated ? 'node -e or --print' : 'the REPL or stdin')
    }
    return { exec: script, args: process.argv.slice(2), execArgv: process.execArgv }
  }
  const appPath = resolve(resolved.appFile)
  if (!existsSync(appPath)) {
    throw new FST_CLUSTER_APP_NOT_FOUND(`${names.appFile ?? 'appFile'} "${resolved.appFile}" does not exist (resolved to ${appPath})`)
  }
  if (statSync(appPath).isDirectory()) {
    throw new FST_CLUSTER_APP_NOT_FOUND(`${names.appFile ?? 'appFile'} must be a file, received "${resolved.appFile}", a directory (name the app file in it, e.g. ${join(resolved.appFile, 'app.js')})`)
  }
  // fastify-cli expects the file as the first positional, before any `--` plugin options.
  const args = [...resolved.fastifyArgs]
  const dashDash = args.indexOf('--')
  args.splice(dashDash === -1 ? args.length : dashDash, 0, appPath)
  return { exec: join(__dirname, '..', '..', 'plugin', 'worker-main.js'), args: [], execArgv: process.execArgv, fastifyArgs: args }
}
