/*
 * One worker's lifecycle, pure: `step(worker, event, now) -> { worker, effects }`. One table of transitions; no
 * process, timer or socket here. The adapter (worker-process) turns process happenings into events and carries the
 * effects out; the supervisor composes slots and decides restarts (crash-loop).
 *
 * Intent is the primary's alone: an exit is requested only when the primary asked for it (stop, retire, kill).
 * A worker that says it is leaving drains, but its exit still counts as unrequested.
 */
import type { ExitReason, WorkerState } from '../shared/events.js'

/** Why the primary wants this worker gone. `null`: it never asked. */
export type Intent =
  | 'shutdown' // the cluster is closing
  | 'retire' // a successor took over (recycle, reload)
  | 'stuck' // silent past heartbeatTimeout
  | 'startup-timeout' // not ready within startupTimeout (a failure: counts toward the breaker)

export type TimerName = 'startup' | 'deadline' | 'kill'

export interface Lifecycle {
  readonly state: WorkerState
  readonly intent: Intent | null
  /** Stopped by a signal because it was still booting when asked to stop (not a forced stop). */
  readonly stoppedWhileBooting: boolean
  /** Signalled because it did not stop in time. */
  readonly forced: boolean
  /** It said it is draining on its own (SIGTERM from someone else). Informational: never makes the exit requested. */
  readonly leaving: boolean
  /** SIGTERM sent (SIGKILL follows on the kill timer). */
  readonly signalled: boolean
  readonly readyAt: number | null
}

export type LifecycleEvent =
  | { type: 'ready' }
  | { type: 'health' }
  | { type: 'leaving' }
  | { type: 'exit', code: number | null, signal: string | null }
  | { type: 'timer', name: TimerName }
  /** Command: drain through `fastify.close()` (shutdown), serving `drainDelay` more first. */
  | { type: 'stop', drainDelay: number }
  /** Command: a successor took over; drain now. */
  | { type: 'retire' }
  /** Command: mark stuck (out of service, exit expected); the kill follows with `kill`. */
  | { type: 'condemn' }
  /** Command: SIGTERM now, SIGKILL after forceKillDelay. */
  | { type: 'kill' }
  /** Command: SIGKILL now (second signal). */
  | { type: 'force' }

export const EVENT_TYPES: ReadonlyArray<LifecycleEvent['type']> =
  ['ready', 'health', 'leaving', 'exit', 'timer', 'stop', 'retire', 'condemn', 'kill', 'force']

/** What the primary learns from a worker's exit. */
export interface ExitOutcome {
  reason: ExitReason
  /** The primary asked for it: no restart, nothing counted. */
  expected: boolean
  wasReady: boolean
  /** A shutdown stop that did not end cleanly (forced, or a non-zero code): the cluster exits 1. */
  dirtyShutdown: boolean
}

export type Effect =
  | { kind: 'send-drain', delay: number }
  | { kind: 'signal', signal: 'SIGTERM' | 'SIGKILL' }
  | { kind: 'set-timer', name: TimerName, ms: number }
  | { kind: 'clear-timer', name: TimerName }
  /** Feed the health sample to the recycle policy (ready workers only). */
  | { kind: 'observe' }
  | { kind: 'emit', event: 'ready' | 'leaving' | 'startup-timeout' | 'stop-timeout' }
  | { kind: 'exited', outcome: ExitOutcome }

export interface LifecycleSettings {
  startupTimeout: number
  /** How long a worker draining on its own (SIGTERM from elsewhere) serves first. */
  drainDelay: number
  workerStopTimeout: number
  forceKillDelay: number
}

export interface Step { lifecycle: Lifecycle, effects: Effect[] }

/** A just-forked worker: booting, with its startup deadline. */
export function forked (settings: LifecycleSettings): Step {
  return {
    lifecycle: { state: 'starting', intent: null, stoppedWhileBooting: false, forced: false, leaving: false, signalled: false, readyAt: null },
    effects: [{ kind: 'set-timer', name: 'startup', ms: settings.startupTimeout }]
  }
}

const same = (lifecycle: Lifecycle): Step => ({ lifecycle, effects: [] })

/** SIGTERM by pid (a busy loop never runs a graceful handler), SIGKILL after forceKillDelay. */
function escalate (l: Lifecycle, s: LifecycleSettings, extra: Partial<Lifecycle> = {}, first: Effect[] = []): Step {
  return {
    lifecycle: { ...l, ...extra, state: 'stopping', signalled: true },
    effects: [...first, { kind: 'clear-timer', name: 'startup' }, { kind: 'clear-timer', name: 'deadline' },
      { kind: 'signal', signal: 'SIGTERM' }, { kind: 'set-timer', name: 'kill', ms: s.forceKillDelay }]
  }
}

/** Ask a serving worker to drain; signal it at the deadline. */
function drain (l: Lifecycle, s: LifecycleSettings, intent: Intent, delay: number): Step {
  return {
    lifecycle: { ...l, state: 'draining', intent },
    effects: [{ kind: 'send-drain', delay }, { kind: 'set-timer', name: 'deadline', ms: delay + s.workerStopTimeout }]
  }
}

/** Why it exited, from the primary's intent and what happened; never from the worker's word. */
export function classifyExit (l: Lifecycle, code: number | null): ExitOutcome {
  const wasReady = l.readyAt !== null
  let reason: ExitReason
  switch (l.intent) {
    case 'stuck': reason = 'stuck'; break
    case 'startup-timeout': reason = 'startup-timeout'; break
    case 'retire': reason = l.forced ? 'killed-at-deadline' : 'recycled'; break
    case 'shutdown': reason = l.forced ? 'killed-at-deadline' : 'stopped'; break
    default:
      if (l.forced) reason = 'killed-at-deadline'
      else if (!wasReady) reason = 'boot-failed'
      // Its word that it was leaving explains a clean exit, never a failing one.
      else reason = l.leaving && code === 0 ? 'left' : 'crashed'
  }
  const expected = l.intent === 'shutdown' || l.intent === 'retire' || l.intent === 'stuck'
  const dirtyShutdown = l.intent === 'shutdown' && !l.stoppedWhileBooting && (l.forced || code !== 0)
  return { reason, expected, wasReady, dirtyShutdown }
}

/** The transition table. Events a state does not expect are ignored (no effects). */
export function step (l: Lifecycle, event: LifecycleEvent, now: number, s: LifecycleSettings): Step {
  if (l.state === 'exited') return same(l)
  if (event.type === 'exit') {
    return {
      lifecycle: { ...l, state: 'exited' },
      effects: [{ kind: 'exited', outcome: classifyExit(l, event.code) }]
    }
  }
  if (event.type === 'force') {
    return {
      lifecycle: { ...l, state: 'stopping', intent: l.intent ?? 'shutdown', forced: true },
      effects: [{ kind: 'signal', signal: 'SIGKILL' }]
    }
  }
  switch (l.state) {
    case 'starting':
      switch (event.type) {
        case 'ready':
          return {
            lifecycle: { ...l, state: 'ready', readyAt: now },
            effects: [{ kind: 'clear-timer', name: 'startup' }, { kind: 'emit', event: 'ready' }]
          }
        case 'timer':
          if (event.name !== 'startup') return same(l)
          return escalate(l, s, { intent: 'startup-timeout' }, [{ kind: 'emit', event: 'startup-timeout' }])
        // A booting worker serves nothing and may not listen for IPC yet: a signal is the reliable stop.
        case 'stop':
        case 'retire':
          return escalate(l, s, { intent: event.type === 'stop' ? 'shutdown' : 'retire', stoppedWhileBooting: true })
        case 'condemn':
          return { lifecycle: { ...l, state: 'stopping', intent: 'stuck' }, effects: [{ kind: 'clear-timer', name: 'startup' }] }
        case 'kill':
          return escalate(l, s, { intent: 'stuck' })
        default: // health before ready, leaving while booting: nothing to do
          return same(l)
      }
    case 'ready':
      switch (event.type) {
        case 'health':
          return { lifecycle: l, effects: [{ kind: 'observe' }] }
        case 'leaving':
          // Someone else SIGTERMed it: it drains; we bound the drain. Its exit is still not requested.
          return {
            lifecycle: { ...l, state: 'draining', leaving: true },
            effects: [{ kind: 'emit', event: 'leaving' }, { kind: 'set-timer', name: 'deadline', ms: s.drainDelay + s.workerStopTimeout }]
          }
        case 'stop':
          return drain(l, s, 'shutdown', event.drainDelay)
        case 'retire':
          return drain(l, s, 'retire', 0)
        case 'condemn':
          return { lifecycle: { ...l, state: 'stopping', intent: 'stuck' }, effects: [] }
        case 'kill':
          return escalate(l, s, { intent: 'stuck' })
        default: // ready again, a stray timer
          return same(l)
      }
    case 'draining':
      switch (event.type) {
        case 'stop':
        case 'retire':
          // Draining on its own: from now on the primary wants it gone too. Already draining: keep its deadline.
          if (l.intent !== null) return same(l)
          return { lifecycle: { ...l, intent: event.type === 'stop' ? 'shutdown' : 'retire' }, effects: [] }
        case 'timer':
          if (event.name !== 'deadline') return same(l)
          return escalate(l, s, { forced: true }, [{ kind: 'emit', event: 'stop-timeout' }])
        case 'condemn':
          return { lifecycle: { ...l, state: 'stopping', intent: l.intent ?? 'stuck' }, effects: [{ kind: 'clear-timer', name: 'deadline' }] }
        case 'kill':
          return escalate(l, s, { intent: l.intent ?? 'stuck' })
        default: // ready, health (not judged while draining), leaving again
          return same(l)
      }
    case 'stopping':
      switch (event.type) {
        case 'timer':
          if (event.name !== 'kill') return same(l)
          return { lifecycle: l, effects: [{ kind: 'signal', signal: 'SIGKILL' }] }
        case 'stop':
        case 'retire':
          if (l.intent !== null) return same(l)
          return { lifecycle: { ...l, intent: event.type === 'stop' ? 'shutdown' : 'retire' }, effects: [] }
        case 'kill':
          // Condemned and not yet signalled (stuck diagnostics ran first): escalate, once.
          return l.signalled ? same(l) : escalate(l, s)
        default:
          return same(l)
      }
  }
}
