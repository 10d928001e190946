import type { HealthSample } from '../lib/protocol.js'

/** What a handler can know about the cluster, as `fastify.cluster`. */
export interface ClusterDecorator {
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

/** The mutable state behind the decorator; only the worker side of this package holds the setters. */
export class ClusterState implements ClusterDecorator {
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

  toJSON (): ClusterDecorator {
    return { isWorker: this.isWorker, workerId: this.workerId, slot: this.slot, draining: this.draining, lastSample: this.lastSample }
  }
}
