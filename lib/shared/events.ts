import type { BootStage, HealthSample } from './protocol.js'

export type { BootStage }

/** Why a worker is recycled. `stuck` comes from the watchdog, the others from thresholds. */
export type RecycleReason = 'stuck' | 'heapUsed' | 'rss' | 'eventLoopDelay' | 'eventLoopUtilization' | 'healthCheck'

/** A threshold a sample is past. `value` and `limit` are in the metric's unit (bytes, ms, 0..1). */
export interface Breach {
  metric: Exclude<RecycleReason, 'stuck'>
  value: number
  limit: number
}

/** Lifecycle event names, `subject:verb`. Emitted by the handle `start()` returns; logged with the same fields. */
export const ClusterEvents = {
  /** A worker process was forked. Payload: {@link WorkerForkEvent}. */
  WORKER_FORK: 'worker:fork',
  /** A worker listens and sent its first health sample. Payload: {@link WorkerReadyEvent}. */
  WORKER_READY: 'worker:ready',
  /** A worker reported that the app failed to boot. Payload: {@link WorkerBootErrorEvent}. */
  WORKER_BOOT_ERROR: 'worker:boot-error',
  /** A worker process exited. Payload: {@link WorkerExitEvent}. */
  WORKER_EXIT: 'worker:exit',
  /** A worker sent a health sample. Payload: {@link WorkerHealthEvent}. */
  WORKER_HEALTH: 'worker:health',
  /** A ready worker crossed a recycle threshold for `unhealthyChecks` samples. Payload: {@link WorkerUnhealthyEvent}. */
  WORKER_UNHEALTHY: 'worker:unhealthy',
  /** A ready worker stopped reporting for `heartbeatTimeout`: killed and replaced. Payload: {@link WorkerStuckEvent}. */
  WORKER_STUCK: 'worker:stuck',
  /** A replacement is starting for a sick worker (replace before retire). Payload: {@link WorkerRecycleEvent}. */
  WORKER_RECYCLE: 'worker:recycle',
  /** The replacement of a sick worker failed to start; the old worker keeps serving. Payload: {@link WorkerRecycleEvent}. */
  WORKER_RECYCLE_FAILED: 'worker:recycle-failed',
  /** A slot cannot boot a worker while others serve: the cluster serves with fewer workers. Payload: {@link ClusterDegradedEvent}. */
  CLUSTER_DEGRADED: 'cluster:degraded',
  /** Every slot has a ready worker again after `cluster:degraded`. Payload: {@link ClusterDegradedEvent}. */
  CLUSTER_RECOVERED: 'cluster:recovered',
  /** A majority of workers breach event-loop thresholds at once: load, not sickness; nobody is recycled for it. */
  CLUSTER_OVERLOAD: 'cluster:overload',
  /** A worker sent an IPC message in our namespace that failed validation. Payload: {@link IpcInvalidEvent}. */
  IPC_INVALID: 'ipc:invalid',
  /** Every worker became ready for the first time. Payload: {@link ClusterReadyEvent}. */
  CLUSTER_READY: 'cluster:ready',
  /** Shutdown began (signal or `close()`). Payload: {@link ClusterShutdownEvent}. */
  CLUSTER_SHUTDOWN: 'cluster:shutdown',
  /** The crash-loop breaker tripped or a fatal boot error stopped the cluster. Payload: `{ error }`. */
  CLUSTER_GIVE_UP: 'cluster:give-up',
  /** A rolling reload pass began. Payload: `{ slots }`. */
  CLUSTER_RELOAD_START: 'cluster:reload:start',
  /** A rolling reload pass replaced every worker. Payload: {@link ReloadResult}. */
  CLUSTER_RELOAD_DONE: 'cluster:reload:done',
  /** A rolling reload pass stopped early (a replacement failed, or shutdown); old workers keep serving. */
  CLUSTER_RELOAD_FAILED: 'cluster:reload:failed',
  /** Every worker is gone; the cluster is closed. Payload: {@link ClusterExit}. */
  CLUSTER_CLOSE: 'cluster:close'
} as const

export type ClusterEventName = typeof ClusterEvents[keyof typeof ClusterEvents]

/** Where a worker's Fastify server listens, as it reported it. */
export interface WorkerAddress {
  address: string
  port: number
  family: string
}

/** The state machine the primary keeps for each worker; it never infers intent from `exitedAfterDisconnect`. */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopping' | 'exited'

/** Why a worker exited, as the primary classifies it. */
export type ExitReason =
  | 'stopped' // we asked it to stop and it did
  | 'crashed' // it died on its own after being ready
  | 'boot-failed' // it died before becoming ready
  | 'startup-timeout' // it was not ready within startupTimeout and was killed
  | 'killed-at-deadline' // we asked it to stop, it did not within workerStopTimeout, we killed it
  | 'stuck' // it stopped reporting for heartbeatTimeout and was killed
  | 'recycled' // it was replaced for its health (or a reload) and drained cleanly
  | 'left' // it drained and exited on its own (a signal from outside, or its own word), not at the primary's request

/** A snapshot of one worker, as listed by `handle.workers()`. */
export interface WorkerInfo {
  /** The `cluster` worker id: unique per fork, never reused. */
  id: number
  /** The slot (0 .. workers-1) this worker fills; a replacement takes the same slot. */
  slot: number
  pid: number
  state: WorkerState
  /** Milliseconds since the worker was forked. */
  uptime: number
  /** How many times this slot's worker has been replaced after an unexpected exit. */
  restarts: number
  /** The last health sample it sent, with the primary's receive time; `null` before the first one. */
  lastHealth: (HealthSample & { receivedAt: number }) | null
  address: WorkerAddress | null
  /** A replacement for this worker is starting. */
  recycling: boolean
  /** Recycles of this worker's slot, by reason. */
  recycles: Partial<Record<RecycleReason, number>>
  /** Its slot cannot boot a worker while others serve (see `cluster:degraded`). */
  degraded?: boolean
}


/** The last uncaught error a worker reported before dying. */
export interface WorkerError {
  message: string
  /** Its top stack frame, when it had one. */
  frame: string | null
}

/** The outcome of replacing one slot's worker. */
export interface SlotReplacement {
  slot: number
  ok: boolean
  error?: string
  oldPid: number | null
  newPid: number | null
}

/** The outcome of one rolling reload pass. */
export interface ReloadResult {
  /** Slots whose worker was replaced, in order. */
  replaced: SlotReplacement[]
  /** The slot whose replacement failed to become ready (the reload stopped there), or `null`. */
  failed: SlotReplacement | null
  /** Why the pass stopped early: a failed replacement, a shutdown, or `null` when it replaced every slot. */
  aborted: 'failure' | 'shutdown' | null
  durationMs: number
}

export interface WorkerForkEvent { id: number, slot: number, pid: number }
export interface WorkerReadyEvent { id: number, slot: number, pid: number, address: WorkerAddress, bootMs: number }
export interface WorkerBootErrorEvent {
  id: number
  slot: number
  pid: number
  code: string
  message: string
  /** Where the boot failed. */
  stage: BootStage
  /** True at first start when no worker can serve at all (the app file cannot load, or the port cannot be bound). */
  fatal: boolean
}
export interface WorkerExitEvent {
  id: number
  slot: number
  pid: number
  code: number | null
  signal: string | null
  reason: ExitReason
  /** True when the primary asked for this exit. */
  expected: boolean
  uptime: number
  /** Delay before the slot's replacement is forked, or `null` when none will be. */
  restartIn: number | null
  /** The last uncaught error it reported, if it died of one. */
  error?: WorkerError
}
export interface WorkerHealthEvent { id: number, slot: number, pid: number, sample: HealthSample }
export interface WorkerUnhealthyEvent { id: number, slot: number, pid: number, reason: RecycleReason, breaches: Breach[], sample: HealthSample | null }
export interface WorkerStuckEvent { id: number, slot: number, pid: number, silentFor: number, heartbeatTimeout: number }
export interface WorkerRecycleEvent { id: number, slot: number, pid: number, reason: RecycleReason, breaches: Breach[], replacementId: number | null, error?: string }
export interface ClusterOverloadEvent { workers: number[], breaches: Record<number, Breach[]> }
export interface IpcInvalidEvent { id: number, pid: number, reason: string, count: number }
export interface ClusterReadyEvent { workers: WorkerInfo[], address: WorkerAddress | null }
export interface ClusterDegradedEvent {
  /** Slots that have no ready worker because their worker cannot boot. */
  slots: number[]
  /** Ready workers serving meanwhile. */
  ready: number
  /** The last boot error of a failing slot, when known. */
  error: string | null
}
export interface ClusterShutdownEvent { reason: string, signal: string | null }
/** How the cluster ended. `code` is the exit code the CLI uses: 0 clean, 1 forced or gave up. */
export interface ClusterExit { code: number, reason: string, forced: boolean, error?: Error }

export interface ClusterEventMap {
  'worker:fork': [WorkerForkEvent]
  'worker:ready': [WorkerReadyEvent]
  'worker:boot-error': [WorkerBootErrorEvent]
  'worker:exit': [WorkerExitEvent]
  'worker:health': [WorkerHealthEvent]
  'ipc:invalid': [IpcInvalidEvent]
  'worker:unhealthy': [WorkerUnhealthyEvent]
  'worker:stuck': [WorkerStuckEvent]
  'worker:recycle': [WorkerRecycleEvent]
  'worker:recycle-failed': [WorkerRecycleEvent]
  'cluster:overload': [ClusterOverloadEvent]
  'cluster:degraded': [ClusterDegradedEvent]
  'cluster:recovered': [ClusterDegradedEvent]
  'cluster:reload:start': [{ slots: number }]
  'cluster:reload:done': [ReloadResult]
  'cluster:reload:failed': [ReloadResult]
  'cluster:ready': [ClusterReadyEvent]
  'cluster:shutdown': [ClusterShutdownEvent]
  'cluster:give-up': [{ error: Error }]
  'cluster:close': [ClusterExit]
}
