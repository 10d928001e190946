/*
 * A registration of the worker plugin, kept on the Fastify instance it decorates, and the internal accessors the
 * worker runtime uses. Apart from plugin/index.ts so the runtime reads it without importing the plugin.
 */
import type { FastifyInstance } from 'fastify'
import type { ReadyMessage } from '../lib/shared/protocol.js'
import type { WorkerMetrics } from './app-metrics.js'
import type { ClusterState } from './state.js'

/** Per instance, not per module: the state of a registration lives with the Fastify instance it decorates. */
export const STATE = Symbol.for('fastify-cluster.state')

/** The instance where under-pressure is registered: its verdicts feed the samples and the readiness route. */
export interface Pressure {
  eventLoopDelay: () => number
  isUnderPressure: () => boolean
}

export interface Registration {
  state: ClusterState
  setHealthCheck: (fn: (fastify: FastifyInstance) => boolean | Promise<boolean>) => void
  pressure: Pressure | null
  interval: number
  metrics: WorkerMetrics
  /** Tells the primary this worker is ready at `address` (on listen; the sticky runtime calls it itself). */
  announce: (address: ReadyMessage['address']) => void
}
export interface Internal { [STATE]?: Registration }

/** Internal: this process's under-pressure verdict, wherever under-pressure was registered. */
export function isUnderPressure (fastify: FastifyInstance): boolean {
  return (fastify as FastifyInstance & Internal)[STATE]?.pressure?.isUnderPressure() ?? false
}

/** Internal, for the sticky runtime (which never listens): report ready at the primary's address. */
export function announceReady (fastify: FastifyInstance, address: ReadyMessage['address']): void {
  (fastify as FastifyInstance & Internal)[STATE]?.announce(address)
}

/** Internal: the state object behind `fastify.cluster`, for the worker runtime to mark draining. */
export function clusterStateOf (fastify: FastifyInstance): ClusterState | undefined {
  return (fastify as FastifyInstance & Internal)[STATE]?.state
}
