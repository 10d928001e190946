import type { ClusterHandle } from '../lib/shared/cluster-handle.js'
import type { HealthSample } from '../lib/shared/protocol.js'

/** `fastify.cluster` in a worker or a plain process: what a handler can know about the cluster. */
export interface WorkerClusterView {
  /** False: this process serves requests (a worker, or a plain process). */
  readonly isPrimary: false
  /** True when this process is a worker forked by fastify-cluster (false in a plain process). */
  readonly isWorker: boolean
  /** The `cluster` worker id, or `null` outside a fastify-cluster worker. */
  readonly workerId: number | null
  /** The worker's slot (0 .. workers-1), or `null` outside a fastify-cluster worker. */
  readonly slot: number | null
  /** True once the primary told this worker to drain: it is finishing its work and will close. */
  readonly draining: boolean
  /** The latest health sample taken in this process, or `null` before the first one. */
  readonly lastSample: HealthSample | null
}

/**
 * `fastify.cluster` in the primary that `register(clusterPlugin, { workers })` launched: the handle `start()`
 * returns (`workers()`, `reload()`, `close()`, `ready`, `closed`, events), with the per-process fields of a
 * worker's view (no worker id, no slot, no sample: the primary serves no requests).
 */
export interface PrimaryClusterView extends ClusterHandle {
  readonly isPrimary: true
  readonly isWorker: false
  readonly workerId: null
  readonly slot: null
  /** True once the cluster is shutting down. */
  readonly draining: boolean
  readonly lastSample: null
}

/** `fastify.cluster`: narrow on `isPrimary` to reach the primary's cluster handle. */
export type ClusterDecorator = WorkerClusterView | PrimaryClusterView

/** The mutable state behind the decorator; only the worker side of this package holds the setters. */
export class ClusterState implements WorkerClusterView {
  readonly isPrimary = false as const
  readonly isWorker: boolean
  readonly workerId: number | null
  readonly slot: number | null
  #draining = false
  #lastSample: HealthSample | null = null

  constructor (isWorker: boolean, workerId: number | null, slot: number | null) {
    this.isWorker = isWorker
    this.workerId = workerId
    this.slot = slot
  }

  get draining (): boolean { return this.#draining }
  get lastSample (): HealthSample | null { return this.#lastSample }

  markDraining (): void { this.#draining = true }
  recordSample (sample: HealthSample): void { this.#lastSample = sample }

  toJSON (): WorkerClusterView {
    return { isPrimary: false, isWorker: this.isWorker, workerId: this.workerId, slot: this.slot, draining: this.draining, lastSample: this.lastSample }
  }
}
