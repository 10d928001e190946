// The package's public surface. Nothing else is public.
import { fastifyCluster } from '../plugin/index.js'

export default fastifyCluster
export { fastifyCluster, fastifyCluster as clusterPlugin }
export type {
  ClusterPluginOptions, ClusterDecorator, AppMetricsOptions, MetricsRegistry, PrimaryClusterView, WorkerClusterView
} from '../plugin/index.js'
export { start } from './start.js'
export type { ClusterHandle } from './shared/cluster-handle.js'
export { resolveOptions, DEFAULTS } from './shared/options.js'
export type { ClusterOptions, ResolvedOptions, OptionNames, InlineApp } from './shared/options.js'
export type { Breach, RecycleReason, ReloadResult, SlotReplacement } from './shared/events.js'
export { ClusterEvents } from './shared/events.js'
export type {
  ClusterEventMap, ClusterEventName, ClusterExit, ClusterReadyEvent, ClusterShutdownEvent, ExitReason,
  IpcInvalidEvent, WorkerAddress, WorkerUnhealthyEvent, WorkerStuckEvent, WorkerRecycleEvent, ClusterOverloadEvent, WorkerBootErrorEvent, WorkerExitEvent, WorkerForkEvent, WorkerHealthEvent,
  WorkerInfo, WorkerReadyEvent, WorkerState, BootStage, WorkerError, ClusterDegradedEvent
} from './shared/events.js'
export { MessageTypes, PROTOCOL_NAMESPACE, PROTOCOL_VERSION } from './shared/protocol.js'
export type { HealthSample } from './shared/protocol.js'
export type { Duration, Size } from './shared/units.js'
export * as errorCodes from './shared/errors.js'
