/*
 * Health-based recycling decisions, pure: samples and a clock in, decisions out. Knows nothing of processes.
 * The supervisor feeds it every health sample and ticks it; it answers which workers are stuck, which are sick
 * enough (for long enough) to replace, and whether the cluster is merely overloaded.
 */
import type { Breach, RecycleReason } from '../shared/events.js'
import type { HealthSample } from '../shared/protocol.js'

export interface RecycleSettings {
  /** A ready worker silent for longer than this is stuck. */
  heartbeatTimeout: number
  /** 0 disables each threshold. */
  maxHeapUsedBytes: number
  maxRssBytes: number
  maxEventLoopDelay: number
  maxEventLoopUtilization: number
  /** Consecutive bad samples before a threshold counts. */
  unhealthyChecks: number
  /** No threshold recycle this soon after a worker became ready. */
  gracePeriod: number
  maxConcurrentRecycles: number
  /** At most this many threshold recycles within `recycleBudgetWindow`. */
  recycleBudget: number
  recycleBudgetWindow: number
  /** Recycle on the user's own health check failing (off: it feeds readiness only). */
  recycleOnHealthCheck: boolean
}

/** What the supervisor tells the policy about each live worker at a tick. */
export interface WorkerView {
  id: number
  /** Only `ready` workers are judged; `starting` has startupTimeout, `draining` has its stop deadline. */
  ready: boolean
  readyAt: number | null
  /** When the primary last heard from it (any health report). */
  lastReportAt: number
  /** A replacement is already under way for it. */
  recycling: boolean
}

export type Decision =
  | { kind: 'stuck', id: number, silentFor: number }
  | { kind: 'recycle', id: number, reason: RecycleReason, breaches: Breach[] }
  | { kind: 'deferred', id: number, reason: RecycleReason, why: 'concurrency' | 'budget' }
  | { kind: 'overload', ids: number[], breaches: Record<number, Breach[]> }
  | { kind: 'overload-end' }

const EVENT_LOOP_METRICS: ReadonlySet<Breach['metric']> = new Set(['eventLoopDelay', 'eventLoopUtilization'])
/** Memory first: a leak only grows; event-loop trouble may pass. */
const PRIORITY: readonly Breach['metric'][] = ['rss', 'heapUsed', 'eventLoopDelay', 'eventLoopUtilization', 'healthCheck']

/** What the shell measured about the host at a tick. */
export interface HostView {
  /** The CPUs are saturated (tasks wait for a CPU most of the time): event-loop metrics are not the worker's own. */
  busy: boolean
}

/**
 * Host saturation from what the shell read: Linux PSI (`/proc/pressure/cpu`, `some avg10`, percent of time some
 * task waited for a CPU) when available, else the 1-minute load average against the CPU count.
 */
export function hostBusy (cpuPressureSomeAvg10: number | null, loadAverage1m: number, cpus: number): boolean {
  if (cpuPressureSomeAvg10 !== null) return cpuPressureSomeAvg10 >= 50
  return loadAverage1m > cpus * 1.5
}

export class RecyclePolicy {
  readonly #s: RecycleSettings
  /** Consecutive bad samples per worker and metric, and the latest breaches. */
  readonly #streaks = new Map<number, Map<Breach['metric'], number>>()
  readonly #latest = new Map<number, Breach[]>()
  #recycledAt: number[] = []
  #overloaded = false
  /** Ticks so far, and the tick at which each worker was last seen breaching an event-loop threshold. */
  #tick = 0
  readonly #loopBreachTick = new Map<number, number>()

  constructor (settings: RecycleSettings) {
    this.#s = settings
  }

  /** Thresholds a sample is past (empty when healthy or every threshold is off). */
  breaches (sample: HealthSample): Breach[] {
    const s = this.#s
    const out: Breach[] = []
    if (s.maxHeapUsedBytes > 0 && sample.heapUsed > s.maxHeapUsedBytes) out.push({ metric: 'heapUsed', value: sample.heapUsed, limit: s.maxHeapUsedBytes })
    if (s.maxRssBytes > 0 && sample.rss > s.maxRssBytes) out.push({ metric: 'rss', value: sample.rss, limit: s.maxRssBytes })
    if (s.maxEventLoopDelay > 0 && sample.eventLoopDelay > s.maxEventLoopDelay) out.push({ metric: 'eventLoopDelay', value: sample.eventLoopDelay, limit: s.maxEventLoopDelay })
    if (s.maxEventLoopUtilization > 0 && sample.eventLoopUtilization > s.maxEventLoopUtilization) {
      out.push({ metric: 'eventLoopUtilization', value: sample.eventLoopUtilization, limit: s.maxEventLoopUtilization })
    }
    if (s.recycleOnHealthCheck && sample.checkHealthy === false) out.push({ metric: 'healthCheck', value: 0, limit: 1 })
    return out
  }

  /** Records a sample: a breached metric's streak grows, a healthy one's resets. Returns the sample's breaches. */
  observe (id: number, sample: HealthSample): Breach[] {
    const found = this.breaches(sample)
    const streaks = this.#streaks.get(id) ?? new Map<Breach['metric'], number>()
    const breached = new Set(found.map((b) => b.metric))
    for (const metric of PRIORITY) streaks.set(metric, breached.has(metric) ? (streaks.get(metric) ?? 0) + 1 : 0)
    this.#streaks.set(id, streaks)
    this.#latest.set(id, found)
    return found
  }

  /** The worker is gone: drop its history. */
  forget (id: number): void {
    this.#streaks.delete(id)
    this.#latest.delete(id)
    this.#loopBreachTick.delete(id)
  }

  /** Counts a recycle that was carried out (threshold recycles only), for the budget. */
  recorded (now: number): void {
    this.#recycledAt.push(now)
  }

  /** Gives back a budget entry taken by `recorded(at)` (the recycle was vetoed). */
  released (at: number): void {
    const i = this.#recycledAt.lastIndexOf(at)
    if (i !== -1) this.#recycledAt.splice(i, 1)
  }

  /** Threshold recycles in the budget window ending at `now`. */
  budgetUsed (now: number): number {
    this.#recycledAt = this.#recycledAt.filter((t) => now - t < this.#s.recycleBudgetWindow)
    return this.#recycledAt.length
  }

  /**
   * Decides, at `now`, over the live workers: stuck ones (always acted on), whether the cluster is overloaded
   * (a majority breaching event-loop thresholds: load, not sickness), and which sick workers to recycle within
   * the concurrency limit and the time budget.
   */
  evaluate (workers: readonly WorkerView[], now: number, host: HostView = { busy: false }): Decision[] {
    const s = this.#s
    const decisions: Decision[] = []
    // A worker being replaced can still get stuck; it is only spared the threshold checks.
    for (const w of workers) {
      const silentFor = now - w.lastReportAt
      if (w.ready && silentFor > s.heartbeatTimeout) decisions.push({ kind: 'stuck', id: w.id, silentFor })
    }
    const stuck = new Set(decisions.flatMap((d) => d.kind === 'stuck' ? [d.id] : []))
    const alive = workers.filter((w) => w.ready && !w.recycling && !stuck.has(w.id))

    // Workers sample on their own clocks, and a noisy neighbour on the host starves them unevenly: a worker counts as
    // loaded if it breached an event-loop threshold in any of the last `unhealthyChecks` ticks, not only the latest
    // sample. So one busy worker whose peer dipped under the threshold for a sample is load, not sickness.
    const tick = ++this.#tick
    for (const w of alive) {
      if ((this.#latest.get(w.id) ?? []).some((b) => EVENT_LOOP_METRICS.has(b.metric))) this.#loopBreachTick.set(w.id, tick)
    }
    const loopBreaching = alive.filter((w) => tick - (this.#loopBreachTick.get(w.id) ?? -Infinity) < s.unhealthyChecks)
    const overloaded = alive.length > 0 && loopBreaching.length * 2 > alive.length
    if (overloaded && !this.#overloaded) {
      decisions.push({
        kind: 'overload',
        ids: loopBreaching.map((w) => w.id),
        breaches: Object.fromEntries(loopBreaching.map((w) => [w.id, this.#latest.get(w.id) ?? []]))
      })
    } else if (!overloaded && this.#overloaded) {
      decisions.push({ kind: 'overload-end' })
    }
    this.#overloaded = overloaded
    // A host whose CPUs are saturated (a noisy neighbour) starves every worker: event-loop numbers then say nothing
    // about a worker's own health, so they count no more than under overload.
    const holdLoop = overloaded || host.busy
    if (holdLoop) {
      // Under overload, event-loop streaks do not accumulate: when the load ends, a worker must be bad for
      // `unhealthyChecks` fresh samples on its own before it counts as sick.
      for (const streaks of this.#streaks.values()) for (const metric of EVENT_LOOP_METRICS) streaks.set(metric, 0)
    }

    let slots = s.maxConcurrentRecycles - workers.filter((w) => w.recycling).length
    let budget = s.recycleBudget - this.budgetUsed(now)
    const candidates = alive
      .filter((w) => w.readyAt !== null && now - w.readyAt >= s.gracePeriod)
      .map((w) => ({ w, reason: this.#reason(w.id, holdLoop) }))
      .filter((c): c is { w: WorkerView, reason: Breach['metric'] } => c.reason !== null)
      .sort((a, b) => PRIORITY.indexOf(a.reason) - PRIORITY.indexOf(b.reason))
    for (const { w, reason } of candidates) {
      if (slots <= 0) {
        decisions.push({ kind: 'deferred', id: w.id, reason, why: 'concurrency' })
      } else if (budget <= 0) {
        decisions.push({ kind: 'deferred', id: w.id, reason, why: 'budget' })
      } else {
        decisions.push({ kind: 'recycle', id: w.id, reason, breaches: this.#latest.get(w.id) ?? [] })
        slots--
        budget--
      }
    }
    return decisions
  }

  /** The metric that has been bad for `unhealthyChecks` samples in a row, by priority; event loop not if overloaded. */
  #reason (id: number, overloaded: boolean): Breach['metric'] | null {
    const streaks = this.#streaks.get(id)
    if (streaks === undefined) return null
    for (const metric of PRIORITY) {
      if (overloaded && EVENT_LOOP_METRICS.has(metric)) continue
      if ((streaks.get(metric) ?? 0) >= this.#s.unhealthyChecks) return metric
    }
    return null
  }
}
