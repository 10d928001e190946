// The package's public surface. Nothing else is public.
import { fastifyCluster } from '../plugin/index.js'

export default fastifyCluster
export { fastifyCluster, fastifyCluster as clusterPlugin }
export type {
  ClusterPluginOptions, ClusterDecorator, AppMetricsOptions, MetricsRegistry, PrimaryClusterView, WorkerClusterView
} from '../plugin/index.js'
export { start } from './start.js'
export type { ClusterHandle } from './cluster-handle.js'
export { resolveOptions, DEFAULTS } from './options.js'
export type { ClusterOptions, ResolvedOptions, OptionNames, InlineApp } from './options.js'
export type { Breach, RecycleReason, ReloadResult, SlotReplacement } from './events.js'
export { ClusterEvents } from './events.js'
export type {
  ClusterEventMap, ClusterEventName, ClusterExit, ClusterReadyEvent, ClusterShutdownEvent, ExitReason,
  IpcInvalidEvent, WorkerAddress, WorkerUnhealthyEvent, WorkerStuckEvent, WorkerRecycleEvent, ClusterOverloadEvent, WorkerBootErrorEvent, WorkerExitEvent, WorkerForkEvent, WorkerHealthEvent,
  WorkerInfo, WorkerReadyEvent, WorkerState, BootStage, WorkerError, ClusterDegradedEvent
} from './events.js'
export { MessageTypes, PROTOCOL_NAMESPACE, PROTOCOL_VERSION } from './protocol.js'
export type { HealthSample } from './protocol.js'
export type { Duration, Size } from './units.js'
export * as errorCodes from './errors.js'
