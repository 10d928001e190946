/*
 * Recycling, the effectful half: feeds health samples to the recycle policy, and at each tick carries out what it
 * decides (kill and replace a stuck worker, replace a sick one surge first, defer, announce overload). The
 * decisions are the policy's (recycle-policy); the pool's workings are the supervisor's (RecyclingHost).
 */
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import type { Logger } from 'pino'
import { ClusterEvents, type ClusterEventMap } from '../shared/events.js'
import { race } from './hooks.js'
import type { ResolvedOptions } from '../shared/options.js'
import type { HealthSample } from '../shared/protocol.js'
import type { Breach, RecycleReason } from '../shared/events.js'
import { RecyclePolicy, hostBusy, type Decision } from './recycle-policy.js'
import type { Member, Slot } from './slot.js'
import { captureStack, writeStuckReport } from './stuck-diagnostics.js'
import type { LifecycleEvent } from './worker-lifecycle.js'

/** Longest wait for a stuck worker's stack before it is killed anyway. */
const STACK_TIMEOUT_MS = 1000

/** What recycling needs from the pool. */
export interface RecyclingHost {
  readonly options: ResolvedOptions
  readonly log: Logger
  members: () => Iterable<Member>
  member: (id: number) => Member | undefined
  running: () => boolean
  emit: <K extends keyof ClusterEventMap>(event: K, ...args: ClusterEventMap[K]) => void
  step: (w: Member, event: LifecycleEvent) => void
  fork: (slot: Slot, asSuccessor: boolean) => Member | null
  /** Runs succession on the slot (the successor takes over, the old worker is retired). */
  succeed: (slot: Slot) => void
}

export class Recycling {
  readonly #host: RecyclingHost
  readonly #policy: RecyclePolicy
  /** Stuck diagnostics asked for and possible here. */
  readonly #diagnostics: boolean
  /** Deferred recycles already logged, so a deferral is logged once, not every tick. */
  readonly #deferredLogged = new Set<string>()
  /** Set during a rolling reload: threshold recycles wait (stuck workers are still replaced). */
  #paused = false
  #hostBusy = false

  constructor (host: RecyclingHost, diagnostics: boolean) {
    this.#host = host
    this.#diagnostics = diagnostics
    const o = host.options
    this.#policy = new RecyclePolicy({
      heartbeatTimeout: o.heartbeatTimeout,
      maxHeapUsedBytes: o.maxHeapUsedBytes,
      maxRssBytes: o.maxRssBytes,
      maxEventLoopDelay: o.maxEventLoopDelay,
      maxEventLoopUtilization: o.maxEventLoopUtilization,
      unhealthyChecks: o.unhealthyChecks,
      gracePeriod: o.recycleGracePeriod,
      maxConcurrentRecycles: o.maxConcurrentRecycles,
      recycleBudget: o.recycleBudget,
      recycleBudgetWindow: o.recycleBudgetWindow,
      recycleOnHealthCheck: o.recycleOnHealthCheck
    })
  }

  pause (paused: boolean): void { this.#paused = paused }

  forget (id: number): void { this.#policy.forget(id) }

  /** Feeds a ready worker's sample to the policy; announces a threshold when its streak reaches the limit. */
  observe (w: Member, sample: HealthSample): void {
    const before = w.unhealthyFor
    const breaches = this.#policy.observe(w.id, sample)
    w.unhealthyFor = breaches.length === 0 ? 0 : before + 1
    if (w.unhealthyFor === this.#host.options.unhealthyChecks) {
      const reason = breaches[0]?.metric ?? 'healthCheck'
      const event = { id: w.id, slot: w.slot.index, pid: w.pid, reason, breaches, sample }
      this.#host.log.warn({ event: ClusterEvents.WORKER_UNHEALTHY, ...event }, 'worker unhealthy')
      this.#host.emit(ClusterEvents.WORKER_UNHEALTHY, event)
    }
  }

  /** Every sampleInterval: carry out what the recycle policy decides. */
  tick (now: number): void {
    if (!this.#host.running()) return
    // A recycle lasts until the old worker is gone: a retiring worker still counts against maxConcurrentRecycles.
    const views = [...this.#host.members()]
      .filter((w) => w.retired !== null ? w.retired !== 'stuck' : w.life.intent === null && !w.life.leaving)
      .map((w) => ({
        id: w.id,
        ready: w.life.state === 'ready',
        readyAt: w.life.readyAt,
        lastReportAt: w.lastReportAt,
        recycling: w.recycling !== null || w.retired !== null
      }))
    const busy = hostBusy(cpuPressure(), loadavg()[0] ?? 0, availableParallelism())
    if (busy !== this.#hostBusy) {
      this.#hostBusy = busy
      this.#host.log[busy ? 'warn' : 'info']({ event: busy ? 'cluster:host-busy' : 'cluster:host-busy-end' }, busy
        ? "the host's CPUs are saturated (another process?): event-loop thresholds recycle nobody until it eases"
        : 'the host has CPU to spare again')
    }
    for (const decision of this.#policy.evaluate(views, now, { busy })) this.#apply(decision, now)
  }

  #apply (d: Decision, now: number): void {
    switch (d.kind) {
      case 'stuck': {
        const w = this.#host.member(d.id)
        if (w !== undefined) this.#onStuck(w, d.silentFor)
        return
      }
      case 'recycle': {
        if (this.#paused) {
          this.#apply({ kind: 'deferred', id: d.id, reason: d.reason, why: 'concurrency' }, now)
          return
        }
        const w = this.#host.member(d.id)
        if (w !== undefined) this.#recycle(w, d.reason, d.breaches, now)
        return
      }
      case 'deferred': {
        const key = `${d.id}:${d.reason}:${d.why}`
        if (this.#deferredLogged.has(key)) return
        this.#deferredLogged.add(key)
        this.#host.log.info({ event: 'worker:recycle-deferred', id: d.id, reason: d.reason, why: d.why },
          d.why === 'budget' ? 'recycle deferred: the recycle budget is used up' : 'recycle deferred: another recycle is running')
        return
      }
      case 'overload': {
        const event = { workers: d.ids, breaches: d.breaches }
        this.#host.log.warn({ event: ClusterEvents.CLUSTER_OVERLOAD, ...event },
          'a majority of workers breach event-loop thresholds: overload, not sickness; no event-loop recycles')
        this.#host.emit(ClusterEvents.CLUSTER_OVERLOAD, event)
        return
      }
      case 'overload-end':
        this.#host.log.info({ event: 'cluster:overload-end' }, 'overload over')
    }
  }

  /** A worker silent past heartbeatTimeout: out of the slot, SIGTERM then SIGKILL by pid, replacement forked now. */
  #onStuck (w: Member, silentFor: number): void {
    const slot = w.slot
    const event = { id: w.id, slot: slot.index, pid: w.pid, silentFor, heartbeatTimeout: this.#host.options.heartbeatTimeout }
    this.#host.log.error({ event: ClusterEvents.WORKER_STUCK, ...event }, 'worker stuck: no health report within heartbeatTimeout; killing and replacing it')
    this.#host.emit(ClusterEvents.WORKER_STUCK, event)
    slot.recycles.stuck = (slot.recycles.stuck ?? 0) + 1
    w.retired = 'stuck'
    this.#host.step(w, { type: 'condemn' })
    // Evidence first (bounded: at most STACK_TIMEOUT_MS), then the kill; the replacement is forked now either way.
    if (this.#diagnostics && w.inspector !== null) {
      void this.#diagnose(w, w.inspector, silentFor).finally(() => { this.#host.step(w, { type: 'kill' }) })
    } else {
      this.#host.step(w, { type: 'kill' })
    }
    if (slot.current === w) {
      slot.current = null
      if (slot.successor !== null) this.#host.succeed(slot)
      else this.#host.fork(slot, false)
    } else if (slot.successor === w) {
      slot.successor = null
      w.takeover?.({ ok: false, error: 'the replacement got stuck' })
      w.takeover = null
      this.recycleFailed(slot.current, w, 'the replacement got stuck')
    }
  }

  /** Reads a stuck worker's JS stack through its inspector, writes it to a file and logs where. Never throws. */
  async #diagnose (w: Member, url: string, silentFor: number): Promise<void> {
    const ids = { id: w.id, slot: w.slot.index, pid: w.pid }
    try {
      const frames = await captureStack(url, STACK_TIMEOUT_MS)
      const path = await writeStuckReport({ pid: w.pid, id: w.id, silentFor, frames }, this.#host.options.stuckDiagnosticsDir)
      const top = frames.slice(0, 8).map((f) => `${f.functionName} (${f.url}:${f.line}:${f.column})`)
      this.#host.log.error({ event: 'worker:stuck-diagnostics', ...ids, path, stack: top }, `stuck worker's stack written to ${path}`)
    } catch (err) {
      this.#host.log.warn({ event: 'worker:stuck-diagnostics-failed', ...ids, reason: (err as Error).message },
        'could not capture the stuck worker\'s stack; killing it anyway')
    }
  }

  /** Replace before retire: ask the hook, start a successor in the same slot; the old worker serves until it is ready. */
  #recycle (w: Member, reason: RecycleReason, breaches: Breach[], now: number): void {
    // Reserve the recycle now so the next tick does not start a second one while the hook runs.
    const pending = { reason, breaches }
    w.recycling = pending
    // Take the budget now, not after the hook: the next tick must see it spent.
    this.#policy.recorded(now)
    const hook = this.#host.options.onWorkerUnhealthy
    const decided = hook === undefined
      ? Promise.resolve(true)
      : race(Promise.resolve().then(() => hook({ id: w.id, pid: w.pid, slot: w.slot.index, reason, breaches })),
        this.#host.options.workerStopTimeout)
        .then((verdict) => verdict !== false, (err: unknown) => {
          this.#host.log.error({ err, hook: 'onWorkerUnhealthy' }, 'a lifecycle hook threw; recycling anyway')
          return true
        })
    void decided.then((approved) => {
      if (w.recycling !== pending) return
      if (w.life.state !== 'ready' || !this.#host.running() || w.slot.current !== w || w.slot.successor !== null || !approved) {
        w.recycling = null
        this.#policy.released(now)
        if (!approved) this.#host.log.info({ event: 'worker:recycle-vetoed', id: w.id, pid: w.pid, reason }, 'recycle vetoed by onWorkerUnhealthy')
        return
      }
      const successor = this.#host.fork(w.slot, true)
      const event = { id: w.id, slot: w.slot.index, pid: w.pid, reason, breaches, replacementId: successor?.id ?? null }
      this.#host.log.warn({ event: ClusterEvents.WORKER_RECYCLE, ...event }, 'recycling worker: its replacement is starting')
      this.#host.emit(ClusterEvents.WORKER_RECYCLE, event)
    })
  }

  recycleFailed (old: Member | null, replacement: Member, error: string): void {
    const info = old?.recycling
    if (old !== null) old.recycling = null
    // A reload reports its own failure; this event is for health recycles.
    if (info?.reason === 'reload') return
    const event = {
      id: old?.id ?? -1, slot: replacement.slot.index, pid: old?.pid ?? -1, reason: (info?.reason ?? 'stuck') as RecycleReason,
      breaches: info?.breaches ?? [], replacementId: replacement.id, error
    }
    this.#host.log.error({ event: ClusterEvents.WORKER_RECYCLE_FAILED, ...event }, 'recycle failed: the old worker keeps serving')
    this.#host.emit(ClusterEvents.WORKER_RECYCLE_FAILED, event)
  }
}

/** Linux PSI: percent of the last 10 s in which some task waited for a CPU, or `null` where it is not exposed. */
function cpuPressure (): number | null {
  try {
    const match = /^some avg10=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))
    return match === null ? null : Number(match[1])
  } catch {
    return null
  }
}
