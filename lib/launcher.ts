import cluster from 'node:cluster'
import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import {
  FST_CLUSTER_ALREADY_STARTED, FST_CLUSTER_APP_NOT_FOUND, FST_CLUSTER_UNEXPECTED_WORKER_ENV
} from './errors.js'
import type { ClusterEventMap, ClusterExit, WorkerInfo } from './events.js'
import type { Logger } from 'pino'
import { createPrimaryLogger } from './logger.js'
import { resolveOptions, type ClusterOptions, type OptionNames, type ResolvedOptions } from './options.js'
import { Supervisor, type ForkTarget } from './supervisor.js'
import { connectToPrimary } from '../plugin/channel.js'
import { runInlineWorker } from '../plugin/worker-runtime.js'

/** What `start()` returns, in the primary and (for an inline app) in each worker. */
export interface ClusterHandle extends EventEmitter<ClusterEventMap> {
  /** True in the primary; false in a worker running an inline app. */
  readonly isPrimary: boolean
  /**
   * Primary: resolves when every worker listens and has reported health once; rejects if the cluster gives up
   * (crash loop, fatal boot error) or closes first. Worker: resolves when this worker listens.
   */
  readonly ready: Promise<void>
  /** Resolves when the cluster (primary) or this worker's app (worker) is closed, with the exit code to use. */
  readonly closed: Promise<ClusterExit>
  /** Graceful shutdown, as on SIGTERM. Idempotent. */
  close: () => Promise<ClusterExit>
  /** The live workers (empty in a worker). */
  workers: () => WorkerInfo[]
  /** In a worker: the Fastify instance once ready; `null` in the primary. */
  readonly fastify: FastifyInstance | null
}

/** Signals that shut the cluster down; a second one forces. SIGHUP is left for reload. */
const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']

class PrimaryHandle extends EventEmitter<ClusterEventMap> implements ClusterHandle {
  readonly isPrimary = true
  readonly fastify = null
  readonly #supervisor: Supervisor

  constructor (create: (events: EventEmitter<ClusterEventMap>) => Supervisor) {
    super()
    this.#supervisor = create(this)
  }

  /** Internal: the launcher's access to the pool it wraps. */
  get supervisor (): Supervisor { return this.#supervisor }

  get ready (): Promise<void> { return this.#supervisor.ready }
  get closed (): Promise<ClusterExit> { return this.#supervisor.closed }
  close = async (): Promise<ClusterExit> => await this.#supervisor.close('close()')
  workers = (): WorkerInfo[] => this.#supervisor.workers()
}

class WorkerHandle extends EventEmitter<ClusterEventMap> implements ClusterHandle {
  readonly isPrimary = false
  fastify: FastifyInstance | null = null
  readonly ready: Promise<void>
  readonly closed: Promise<ClusterExit>
  #resolveClosed!: (exit: ClusterExit) => void

  constructor (boot: (onClosed: () => void) => Promise<FastifyInstance>) {
    super()
    this.closed = new Promise((resolve) => { this.#resolveClosed = resolve })
    this.ready = boot(() => { this.#resolveClosed({ code: 0, reason: 'shutdown', forced: false }) })
      .then((fastify) => { this.fastify = fastify })
  }

  close = async (): Promise<ClusterExit> => {
    await this.ready
    await this.fastify?.close()
    return await this.closed
  }

  workers = (): WorkerInfo[] => []
}

/** Installs the primary's signal handlers; returns the function that removes them. */
function installSignals (supervisor: Supervisor, log: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (supervisor.phase === 'closing') void supervisor.forceClose(signal)
    else void supervisor.close('signal', signal)
  }
  // SIGHUP is kept for rolling reload; until then it must not kill the primary (its default action).
  const onHangup = (): void => { log.warn({ signal: 'SIGHUP' }, 'SIGHUP received: rolling reload is not available yet; ignored') }
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal)
  process.on('SIGHUP', onHangup)
  return () => {
    for (const signal of SHUTDOWN_SIGNALS) process.off(signal, onSignal)
    process.off('SIGHUP', onHangup)
  }
}

/**
 * Starts the cluster. In the primary: validates the options (throwing a coded error before anything is
 * forked), forks the workers and returns a handle. In a worker running an inline `app` (the same script runs in
 * both): builds and serves the app, and returns a worker handle.
 */
export function start (options: ClusterOptions, names?: OptionNames): ClusterHandle {
  if (cluster.isWorker) return startInWorker(options, names)
  if (process.env.NODE_UNIQUE_ID !== undefined) {
    throw new FST_CLUSTER_UNEXPECTED_WORKER_ENV(process.env.NODE_UNIQUE_ID)
  }
  const resolved = resolveOptions(options, names)
  const target = forkTarget(resolved, names)
  const logger = createPrimaryLogger(resolved.logger)
  const handle = new PrimaryHandle((events) => new Supervisor(resolved, logger, target, events))
  const supervisor = handle.supervisor
  if (resolved.signals) {
    const uninstall = installSignals(supervisor, logger)
    void supervisor.closed.then((exit) => {
      uninstall()
      // A signal-driven or given-up shutdown ends the program: make its exit code say how it went.
      if (exit.code !== 0) process.exitCode = exit.code
    })
  }
  // Fork on the next tick so listeners attached right after start() returns see every worker:fork.
  process.nextTick(() => { supervisor.start() })
  return handle
}

function forkTarget (resolved: ResolvedOptions, names: OptionNames = {}): ForkTarget {
  if (resolved.appFile === undefined) {
    // Inline app: the workers run the same script with the same arguments.
    return { exec: process.argv[1] ?? '', args: process.argv.slice(2), execArgv: process.execArgv }
  }
  const appPath = resolve(resolved.appFile)
  if (!existsSync(appPath)) {
    throw new FST_CLUSTER_APP_NOT_FOUND(`${names.appFile ?? 'appFile'} "${resolved.appFile}" does not exist (resolved to ${appPath})`)
  }
  // fastify-cli expects the file as the first positional, before any `--` plugin options.
  const args = [...resolved.fastifyArgs]
  const dashDash = args.indexOf('--')
  args.splice(dashDash === -1 ? args.length : dashDash, 0, appPath)
  return { exec: join(__dirname, '..', 'plugin', 'worker-main.js'), args: [], execArgv: process.execArgv, fastifyArgs: args }
}

// Per process by nature: one worker process serves one inline app, whatever the number of handles.
let startedInWorker = false

function startInWorker (options: ClusterOptions, names?: OptionNames): ClusterHandle {
  const channel = connectToPrimary()
  if (channel === null) throw new FST_CLUSTER_UNEXPECTED_WORKER_ENV(process.env.NODE_UNIQUE_ID ?? '')
  if (startedInWorker) throw new FST_CLUSTER_ALREADY_STARTED()
  startedInWorker = true
  const resolved = resolveOptions(options, names)
  const app = resolved.app
  if (app === undefined) throw new FST_CLUSTER_UNEXPECTED_WORKER_ENV(process.env.NODE_UNIQUE_ID ?? '')
  return new WorkerHandle(async (onClosed) => await runInlineWorker(channel, {
    app,
    appOptions: resolved.appOptions,
    serverOptions: resolved.serverOptions,
    port: resolved.port,
    host: resolved.host
  }, onClosed))
}
