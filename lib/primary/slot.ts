/*
 * A slot is one place in the pool: a current worker and at most one successor. Succession happens here and only
 * here. A member is one worker as the primary knows it: its process, its lifecycle, its reports.
 */
import type { Breach, RecycleReason, WorkerAddress, WorkerError } from '../shared/events.js'
import type { HealthSample } from '../shared/protocol.js'
import type { Lifecycle } from './worker-lifecycle.js'
import type { WorkerProcess } from './worker-process.js'

export interface Member {
  readonly proc: WorkerProcess
  readonly id: number
  readonly pid: number
  readonly slot: Slot
  readonly forkedAt: number
  life: Lifecycle
  /** Why it was retired (its successor took over) or killed as stuck. */
  retired: RecycleReason | 'reload' | null
  /** A replacement for it is starting (replace before retire). */
  recycling: { reason: RecycleReason | 'reload', breaches: Breach[] } | null
  /** For a successor started by `replaceSlot`: told whether it took over. */
  takeover: ((result: { ok: boolean, error?: string }) => void) | null
  exitWaiters: Array<() => void>
  lastReportAt: number
  /** Consecutive samples with a breach (for the `worker:unhealthy` announcement). */
  unhealthyFor: number
  address: WorkerAddress | null
  inspector: string | null
  lastHealth: (HealthSample & { receivedAt: number }) | null
  /** The last uncaught error it reported. */
  error: WorkerError | null
  /** Its boot error, `code: message`. */
  bootError: string | null
  invalid: Map<string, { count: number, loggedAt: number }>
  /** It said it stopped taking connections (`unlisten`): the sticky balancer sends it none. */
  unlistened: boolean
}

export interface Slot {
  readonly index: number
  current: Member | null
  /** Starting to take over from `current`; takes the slot when ready or when `current` is gone. */
  successor: Member | null
  recycles: Partial<Record<RecycleReason, number>>
  /** Consecutive unstable exits: drives the backoff. */
  attempt: number
  restarts: number
  restartTimer: NodeJS.Timeout | null
  /** Its worker cannot boot while others serve: the cluster is degraded. */
  failing: boolean
}

export function newSlot (index: number): Slot {
  return { index, current: null, successor: null, recycles: {}, attempt: 0, restarts: 0, restartTimer: null, failing: false }
}

/**
 * Succession: the successor takes the slot once it is ready, or at once when the current worker is gone. Returns
 * the worker it replaced (to retire: it drains, then exits), or `null`.
 */
export function succeed (slot: Slot): Member | null {
  const next = slot.successor
  if (next === null) return null
  const old = slot.current
  if (old !== null && next.life.state !== 'ready') return null
  slot.current = next
  slot.successor = null
  if (old === null) return null
  const reason = old.recycling?.reason ?? 'reload'
  if (reason !== 'reload') slot.recycles[reason] = (slot.recycles[reason] ?? 0) + 1
  old.retired = reason
  old.recycling = null
  return old
}
