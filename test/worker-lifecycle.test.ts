import t from 'tap'
import {
  EVENT_TYPES, classifyExit, forked, step, type Effect, type Lifecycle, type LifecycleEvent, type LifecycleSettings
} from '../dist/lib/primary/worker-lifecycle.js'

const S: LifecycleSettings = { startupTimeout: 30_000, drainDelay: 500, workerStopTimeout: 10_000, forceKillDelay: 1000 }
const NOW = 50_000

const run = (l: Lifecycle, e: LifecycleEvent): ReturnType<typeof step> => step(l, e, NOW, S)
const starting = forked(S).lifecycle
const ready = run(starting, { type: 'ready' }).lifecycle

/** Every state the machine can be in, reached through its own transitions. */
const STATES: Record<string, Lifecycle> = {
  starting,
  ready,
  'draining (on its own)': run(ready, { type: 'leaving' }).lifecycle,
  'draining (shutdown)': run(ready, { type: 'stop', drainDelay: 500 }).lifecycle,
  'stopping (condemned)': run(ready, { type: 'condemn' }).lifecycle,
  'stopping (signalled)': run(ready, { type: 'kill' }).lifecycle,
  exited: run(ready, { type: 'exit', code: 1, signal: null }).lifecycle
}

/** Every event, with each timer name. */
const EVENTS: Record<string, LifecycleEvent> = {
  ready: { type: 'ready' },
  health: { type: 'health' },
  leaving: { type: 'leaving' },
  exit: { type: 'exit', code: 0, signal: null },
  'timer startup': { type: 'timer', name: 'startup' },
  'timer deadline': { type: 'timer', name: 'deadline' },
  'timer kill': { type: 'timer', name: 'kill' },
  stop: { type: 'stop', drainDelay: 500 },
  retire: { type: 'retire' },
  condemn: { type: 'condemn' },
  kill: { type: 'kill' },
  force: { type: 'force' }
}

const TERM = ['clear-timer:startup', 'clear-timer:deadline', 'signal:SIGTERM', 'set-timer:kill:1000']
const none: string[] = []

/** [next state, effects] for every (state, event) pair. */
const TABLE: Record<string, Record<string, [string, string[]]>> = {
  starting: {
    ready: ['ready', ['clear-timer:startup', 'emit:ready']],
    health: ['starting', none],
    leaving: ['starting', none],
    exit: ['exited', ['exited:boot-failed']],
    'timer startup': ['stopping', ['emit:startup-timeout', ...TERM]],
    'timer deadline': ['starting', none],
    'timer kill': ['starting', none],
    stop: ['stopping', TERM],
    retire: ['stopping', TERM],
    condemn: ['stopping', ['clear-timer:startup']],
    kill: ['stopping', TERM],
    force: ['stopping', ['signal:SIGKILL']]
  },
  ready: {
    ready: ['ready', none],
    health: ['ready', ['observe']],
    leaving: ['draining', ['emit:leaving', 'set-timer:deadline:10500']],
    exit: ['exited', ['exited:crashed']],
    'timer startup': ['ready', none],
    'timer deadline': ['ready', none],
    'timer kill': ['ready', none],
    stop: ['draining', ['send-drain:500', 'set-timer:deadline:10500']],
    retire: ['draining', ['send-drain:0', 'set-timer:deadline:10000']],
    condemn: ['stopping', none],
    kill: ['stopping', TERM],
    force: ['stopping', ['signal:SIGKILL']]
  },
  'draining (on its own)': {
    ready: ['draining', none],
    health: ['draining', none],
    leaving: ['draining', none],
    exit: ['exited', ['exited:left']],
    'timer startup': ['draining', none],
    'timer deadline': ['stopping', ['emit:stop-timeout', ...TERM]],
    'timer kill': ['draining', none],
    stop: ['draining', none],
    retire: ['draining', none],
    condemn: ['stopping', ['clear-timer:deadline']],
    kill: ['stopping', TERM],
    force: ['stopping', ['signal:SIGKILL']]
  },
  'draining (shutdown)': {
    ready: ['draining', none],
    health: ['draining', none],
    leaving: ['draining', none],
    exit: ['exited', ['exited:stopped']],
    'timer startup': ['draining', none],
    'timer deadline': ['stopping', ['emit:stop-timeout', ...TERM]],
    'timer kill': ['draining', none],
    stop: ['draining', none],
    retire: ['draining', none],
    condemn: ['stopping', ['clear-timer:deadline']],
    kill: ['stopping', TERM],
    force: ['stopping', ['signal:SIGKILL']]
  },
  'stopping (condemned)': {
    ready: ['stopping', none],
    health: ['stopping', none],
    leaving: ['stopping', none],
    exit: ['exited', ['exited:stuck']],
    'timer startup': ['stopping', none],
    'timer deadline': ['stopping', none],
    'timer kill': ['stopping', ['signal:SIGKILL']],
    stop: ['stopping', none],
    retire: ['stopping', none],
    condemn: ['stopping', none],
    kill: ['stopping', TERM],
    force: ['stopping', ['signal:SIGKILL']]
  },
  'stopping (signalled)': {
    ready: ['stopping', none],
    health: ['stopping', none],
    leaving: ['stopping', none],
    exit: ['exited', ['exited:stuck']],
    'timer startup': ['stopping', none],
    'timer deadline': ['stopping', none],
    'timer kill': ['stopping', ['signal:SIGKILL']],
    stop: ['stopping', none],
    retire: ['stopping', none],
    condemn: ['stopping', none],
    kill: ['stopping', none],
    force: ['stopping', ['signal:SIGKILL']]
  },
  exited: Object.fromEntries(Object.keys(EVENTS).map((e) => [e, ['exited', none]]))
}

function summary (effects: Effect[]): string[] {
  return effects.map((e) => {
    switch (e.kind) {
      case 'send-drain': return `send-drain:${e.delay}`
      case 'signal': return `signal:${e.signal}`
      case 'set-timer': return `set-timer:${e.name}:${e.ms}`
      case 'clear-timer': return `clear-timer:${e.name}`
      case 'emit': return `emit:${e.event}`
      case 'exited': return `exited:${e.outcome.reason}`
      default: return e.kind
    }
  })
}

t.test('the table covers every (state, event) pair', async (t) => {
  t.same(new Set(Object.values(EVENTS).map((e) => e.type)), new Set(EVENT_TYPES), 'every event type is exercised')
  for (const state of Object.keys(STATES)) t.same(Object.keys(TABLE[state] ?? {}).sort(), Object.keys(EVENTS).sort(), state)
})

t.test('every (state, event) pair', async (t) => {
  for (const [stateName, state] of Object.entries(STATES)) {
    for (const [eventName, event] of Object.entries(EVENTS)) {
      const [nextState, effects] = TABLE[stateName]?.[eventName] ?? ['?', []]
      const result = run(state, event)
      t.equal(result.lifecycle.state, nextState, `${stateName} + ${eventName} -> ${nextState}`)
      t.same(summary(result.effects), effects, `${stateName} + ${eventName}: effects`)
    }
  }
})

t.test('an exit is requested only when the primary asked for it', async (t) => {
  const exit = (l: Lifecycle, code: number | null = 0): ReturnType<typeof classifyExit> => classifyExit(l, code)
  t.equal(exit(STATES['draining (on its own)'] as Lifecycle).expected, false, 'the worker said it is leaving: not requested')
  t.equal(exit(STATES['draining (on its own)'] as Lifecycle).reason, 'left')
  t.equal(exit(STATES['draining (on its own)'] as Lifecycle, 1).reason, 'crashed', 'its word does not explain a failing exit')
  t.equal(exit(ready, 1).expected, false, 'a crash')
  t.equal(exit(starting, 1).reason, 'boot-failed')
  const timedOut = run(starting, { type: 'timer', name: 'startup' }).lifecycle
  t.same(exit(timedOut, null), { reason: 'startup-timeout', expected: false, wasReady: false, dirtyShutdown: false },
    'a startup timeout is the primary killing a failure: it counts')
  t.same(exit(STATES['draining (shutdown)'] as Lifecycle), { reason: 'stopped', expected: true, wasReady: true, dirtyShutdown: false })
  t.equal(exit(STATES['draining (shutdown)'] as Lifecycle, 1).dirtyShutdown, true, 'a shutdown exit with code 1 is not clean')
  const bootStop = run(starting, { type: 'stop', drainDelay: 0 }).lifecycle
  t.same(exit(bootStop, null), { reason: 'stopped', expected: true, wasReady: false, dirtyShutdown: false },
    'a booting worker stopped by signal at shutdown is a clean stop')
  const late = run(STATES['draining (shutdown)'] as Lifecycle, { type: 'timer', name: 'deadline' }).lifecycle
  t.same(exit(late, null), { reason: 'killed-at-deadline', expected: true, wasReady: true, dirtyShutdown: true })
  const retired = run(ready, { type: 'retire' }).lifecycle
  t.same(exit(retired), { reason: 'recycled', expected: true, wasReady: true, dirtyShutdown: false })
  const leftThenStopped = run(STATES['draining (on its own)'] as Lifecycle, { type: 'stop', drainDelay: 0 }).lifecycle
  t.equal(exit(leftThenStopped).expected, true, 'draining on its own, then the cluster shut down: requested from then on')
  const leftLate = run(STATES['draining (on its own)'] as Lifecycle, { type: 'timer', name: 'deadline' }).lifecycle
  t.same(exit(leftLate, null), { reason: 'killed-at-deadline', expected: false, wasReady: true, dirtyShutdown: false },
    'a self-drain past its deadline is killed and still counts')
})

t.test('ready time comes from the event clock', async (t) => {
  t.equal(run(starting, { type: 'ready' }).lifecycle.readyAt, NOW)
  t.equal(starting.readyAt, null)
})
