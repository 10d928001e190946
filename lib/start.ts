/*
 * The entry point `start()`: in the primary it prepares and launches the cluster (lib/primary/launcher.ts); in a worker
 * running an inline app (the same script runs in both) it serves the app. Kept apart from the launcher so the
 * primary's modules never import the worker runtime.
 */
import { EventEmitter } from 'node:events'
import type { FastifyInstance } from 'fastify'
import type { ClusterHandle } from './shared/cluster-handle.js'
import { FST_CLUSTER_ALREADY_STARTED, FST_CLUSTER_RELOAD_UNAVAILABLE, FST_CLUSTER_UNEXPECTED_WORKER_ENV } from './shared/errors.js'
import type { ClusterEventMap, ClusterExit, ReloadResult, WorkerInfo } from './shared/events.js'
import { preparePrimary } from './primary/launcher.js'
import { resolveOptions, type ClusterOptions, type OptionNames } from './shared/options.js'
import { connectToPrimary, isClusterWorker } from '../plugin/channel.js'

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

  reload = async (): Promise<ReloadResult> => {
    throw new FST_CLUSTER_RELOAD_UNAVAILABLE('reload() is for the primary; this is a worker')
  }

  workers = (): WorkerInfo[] => []
  readonly healthPort = null
}

/**
 * Starts the cluster. In the primary: validates the options (throwing a coded error before anything is
 * forked), forks the workers and returns a handle. In a worker running an inline `app` (the same script runs in
 * both): builds and serves the app, and returns a worker handle.
 */
export function start (options: ClusterOptions, names?: OptionNames): ClusterHandle {
  if (isClusterWorker()) return startInWorker(options, names)
  const primary = preparePrimary(options, names)
  // Fork on the next tick so listeners attached right after start() returns see every worker:fork.
  primary.launch(undefined, true)
  return primary.handle
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
  return new WorkerHandle(async (onClosed) => await (await import('../plugin/worker-runtime.js')).runInlineWorker(channel, {
    app,
    appOptions: resolved.appOptions,
    serverOptions: resolved.serverOptions,
    port: resolved.port,
    host: resolved.host
  }, onClosed))
}
