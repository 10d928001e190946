import type { EventEmitter } from 'node:events'
import type { FastifyInstance } from 'fastify'
import type { ClusterEventMap, ClusterExit, ReloadResult, WorkerInfo } from './events.js'

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
  /**
   * Rolling reload, as on SIGUSR2: replaces every worker surge first, with no dropped request. A request while a
   * pass runs joins one more pass after it. Rejects (FST_CLUSTER_RELOAD_UNAVAILABLE) before ready, after close
   * and in a worker.
   */
  reload: () => Promise<ReloadResult>
  /** The live workers (empty in a worker). */
  workers: () => WorkerInfo[]
  /** The health server's port once it listens, else `null`. */
  readonly healthPort: number | null
  /** In a worker: the Fastify instance once ready; `null` in the primary. */
  readonly fastify: FastifyInstance | null
}
