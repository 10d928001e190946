import t from 'tap'
import type { HealthSample } from '../dist/lib/shared/protocol.js'
import {
  RecyclePolicy, hostBusy, type Decision, type RecycleSettings, type WorkerView
} from '../dist/lib/primary/recycle-policy.js'

const MB = 1024 ** 2
const SETTINGS: RecycleSettings = {
  heartbeatTimeout: 5000,
  maxHeapUsedBytes: 200 * MB,
  maxRssBytes: 400 * MB,
  maxEventLoopDelay: 200,
  maxEventLoopUtilization: 0.9,
  unhealthyChecks: 3,
  gracePeriod: 10_000,
  maxConcurrentRecycles: 1,
  recycleBudget: 3,
  recycleBudgetWindow: 600_000,
  recycleOnHealthCheck: false
}
const HEALTHY: HealthSample = {
  eventLoopDelay: 10, eventLoopUtilization: 0.2, heapUsed: 50 * MB, rss: 100 * MB, underPressure: false, checkHealthy: null
}
/** One metric past its threshold each (and only that one). */
const RSS = { rss: 500 * MB }
const HEAP = { heapUsed: 300 * MB }
const DELAY = { eventLoopDelay: 500 }
const ELU = { eventLoopUtilization: 0.99 }
const rssBreach = { metric: 'rss', value: 500 * MB, limit: 400 * MB }
const heapBreach = { metric: 'heapUsed', value: 300 * MB, limit: 200 * MB }
const delayBreach = { metric: 'eventLoopDelay', value: 500, limit: 200 }
const eluBreach = { metric: 'eventLoopUtilization', value: 0.99, limit: 0.9 }

/** Far past every worker's grace period (workers are ready at 0 unless told otherwise). */
const NOW = 1_000_000

const policy = (over: Partial<RecycleSettings> = {}): RecyclePolicy => new RecyclePolicy({ ...SETTINGS, ...over })
const sample = (over: Partial<HealthSample> = {}): HealthSample => ({ ...HEALTHY, ...over })
const view = (id: number, over: Partial<WorkerView> = {}): WorkerView =>
  ({ id, ready: true, readyAt: 0, lastReportAt: NOW, recycling: false, ...over })
const views = (...ids: number[]): WorkerView[] => ids.map((id) => view(id))

function feed (p: RecyclePolicy, id: number, over: Partial<HealthSample>, times: number): void {
  for (let i = 0; i < times; i++) p.observe(id, sample(over))
}

function only<K extends Decision['kind']> (decisions: Decision[], kind: K): Array<Extract<Decision, { kind: K }>> {
  return decisions.filter((d): d is Extract<Decision, { kind: K }> => d.kind === kind)
}

t.test('breaches: each threshold, strictly greater than its limit', async (t) => {
  const p = policy()
  t.same(p.breaches(HEALTHY), [], 'a healthy sample breaches nothing')
  t.same(p.breaches(sample({ rss: 400 * MB })), [], 'rss exactly at the limit is fine')
  t.same(p.breaches(sample({ rss: 400 * MB + 1 })), [{ metric: 'rss', value: 400 * MB + 1, limit: 400 * MB }], 'one byte over')
  t.same(p.breaches(sample({ heapUsed: 200 * MB })), [], 'heapUsed exactly at the limit is fine')
  t.same(p.breaches(sample({ heapUsed: 200 * MB + 1 })), [{ metric: 'heapUsed', value: 200 * MB + 1, limit: 200 * MB }])
  t.same(p.breaches(sample({ eventLoopDelay: 200 })), [], 'eventLoopDelay exactly at the limit is fine')
  t.same(p.breaches(sample({ eventLoopDelay: 200.5 })), [{ metric: 'eventLoopDelay', value: 200.5, limit: 200 }])
  t.same(p.breaches(sample({ eventLoopUtilization: 0.9 })), [], 'eventLoopUtilization exactly at the limit is fine')
  t.same(p.breaches(sample({ eventLoopUtilization: 0.91 })), [{ metric: 'eventLoopUtilization', value: 0.91, limit: 0.9 }])
  const all = p.breaches(sample({ ...RSS, ...HEAP, ...DELAY, ...ELU }))
  t.same(all.map((b) => b.metric).sort(), ['eventLoopDelay', 'eventLoopUtilization', 'heapUsed', 'rss'], 'all four at once')
  t.same(p.breaches(sample({ underPressure: true })), [], "under-pressure's own verdict is not a threshold")
})

t.test('breaches: 0 turns a threshold off', async (t) => {
  const extreme = sample({ rss: 64 * 1024 * MB, heapUsed: 64 * 1024 * MB, eventLoopDelay: 1e6, eventLoopUtilization: 1, checkHealthy: false })
  const off = { maxHeapUsedBytes: 0, maxRssBytes: 0, maxEventLoopDelay: 0, maxEventLoopUtilization: 0 }
  t.same(policy(off).breaches(extreme), [], 'every threshold off: nothing, however bad')
  t.same(policy({ ...off, maxRssBytes: 1 }).breaches(extreme).map((b) => b.metric), ['rss'], 'only rss on')
  t.same(policy({ ...off, maxHeapUsedBytes: 1 }).breaches(extreme).map((b) => b.metric), ['heapUsed'], 'only heapUsed on')
  t.same(policy({ ...off, maxEventLoopDelay: 1 }).breaches(extreme).map((b) => b.metric), ['eventLoopDelay'], 'only eventLoopDelay on')
  t.same(policy({ ...off, maxEventLoopUtilization: 0.5 }).breaches(extreme).map((b) => b.metric), ['eventLoopUtilization'],
    'only eventLoopUtilization on')
  t.same(policy({ ...off, maxRssBytes: 0 }).breaches(sample({ rss: 0 })), [], 'rss 0 with the threshold off')
})

t.test('breaches: the health check counts only with recycleOnHealthCheck', async (t) => {
  t.same(policy().breaches(sample({ checkHealthy: false })), [], 'off by default: it feeds readiness only')
  const on = policy({ recycleOnHealthCheck: true })
  t.same(on.breaches(sample({ checkHealthy: false })), [{ metric: 'healthCheck', value: 0, limit: 1 }], 'a failing check')
  t.same(on.breaches(sample({ checkHealthy: true })), [], 'a passing check')
  t.same(on.breaches(sample({ checkHealthy: null })), [], 'no check configured')

  feed(on, 1, { checkHealthy: false }, 3)
  t.same(on.evaluate(views(1), NOW), [{ kind: 'recycle', id: 1, reason: 'healthCheck', breaches: [{ metric: 'healthCheck', value: 0, limit: 1 }] }],
    'three failing checks in a row recycle')
  const off = policy()
  feed(off, 1, { checkHealthy: false }, 10)
  t.same(off.evaluate(views(1), NOW), [], 'without the option, ten failing checks recycle nothing')
})

t.test('hysteresis: a recycle only after unhealthyChecks consecutive bad samples', async (t) => {
  const p = policy()
  t.same(p.observe(1, sample(RSS)), [rssBreach], 'observe returns the sample\'s breaches')
  t.same(p.evaluate(views(1), NOW), [], '1 bad sample: nothing')
  p.observe(1, sample(RSS))
  t.same(p.evaluate(views(1), NOW), [], '2 bad samples: nothing')
  p.observe(1, sample(RSS))
  t.same(p.evaluate(views(1), NOW), [{ kind: 'recycle', id: 1, reason: 'rss', breaches: [rssBreach] }], '3 bad samples: recycle')

  const fresh = policy()
  t.same(fresh.evaluate(views(1), NOW), [], 'a worker never sampled is not judged sick')
  const one = policy({ unhealthyChecks: 1 })
  one.observe(1, sample(HEAP))
  t.same(only(one.evaluate(views(1), NOW), 'recycle').map((d) => d.reason), ['heapUsed'], 'unhealthyChecks 1: the first bad sample')
})

t.test('hysteresis: one good sample resets the streak', async (t) => {
  const p = policy()
  feed(p, 1, RSS, 2)
  t.same(p.observe(1, HEALTHY), [], 'a good sample breaches nothing')
  feed(p, 1, RSS, 2)
  t.same(p.evaluate(views(1), NOW), [], 'bad, bad, good, bad, bad: the streak is 2, not 4')
  p.observe(1, sample(RSS))
  t.same(only(p.evaluate(views(1), NOW), 'recycle').map((d) => d.id), [1], 'the third bad sample in a row recycles')

  const perMetric = policy()
  feed(perMetric, 1, RSS, 2)
  perMetric.observe(1, sample(HEAP))
  feed(perMetric, 1, RSS, 2)
  t.same(perMetric.evaluate(views(1), NOW), [], 'streaks are per metric: a heap-only sample resets the rss streak')

  const both = policy()
  feed(both, 1, { ...RSS, ...HEAP }, 2)
  both.observe(1, sample(HEAP))
  t.same(only(both.evaluate(views(1), NOW), 'recycle').map((d) => d.reason), ['heapUsed'],
    'heapUsed, bad three times in a row, recycles though the rss streak broke')
})

t.test('flapping (alternate good and bad samples) never recycles', async (t) => {
  const p = policy({ unhealthyChecks: 2 })
  const decisions: Decision[] = []
  for (let tick = 0; tick < 200; tick++) {
    const now = NOW + tick * 1000
    p.observe(1, tick % 2 === 0 ? sample({ ...RSS, ...HEAP }) : HEALTHY)
    decisions.push(...p.evaluate([view(1, { lastReportAt: now })], now))
  }
  t.same(decisions, [], 'bad, good, repeated, with unhealthyChecks 2: no recycle, no deferral in 200 ticks')

  const q = policy()
  const more: Decision[] = []
  for (let tick = 0; tick < 200; tick++) {
    const now = NOW + tick * 1000
    q.observe(2, tick % 3 === 2 ? HEALTHY : sample(RSS))
    more.push(...q.evaluate([view(2, { lastReportAt: now })], now))
  }
  t.same(more, [], 'bad, bad, good, repeated, with unhealthyChecks 3: nothing')
})

t.test('grace period after readyAt', async (t) => {
  const p = policy({ gracePeriod: 10_000 })
  const readyAt = NOW
  feed(p, 1, RSS, 5)
  const at = (now: number): Decision[] => p.evaluate([view(1, { readyAt, lastReportAt: now })], now)
  t.same(at(readyAt), [], 'just ready: no recycle')
  t.same(at(readyAt + 9_999), [], '1 ms before the grace period ends: no recycle')
  t.same(only(at(readyAt + 10_000), 'recycle').map((d) => d.id), [1], 'at gracePeriod: recycle')
  t.same(only(at(readyAt + 60_000), 'recycle').map((d) => d.id), [1], 'well after: recycle')

  const q = policy()
  feed(q, 1, RSS, 5)
  t.same(q.evaluate([view(1, { readyAt: null })], NOW), [], 'no readyAt: no threshold recycle')
  const zero = policy({ gracePeriod: 0 })
  feed(zero, 1, RSS, 3)
  t.same(only(zero.evaluate([view(1, { readyAt: NOW })], NOW), 'recycle').length, 1, 'gracePeriod 0: at once')
  const atZero = policy()
  feed(atZero, 1, RSS, 3)
  t.same(only(atZero.evaluate([view(1, { readyAt: 0, lastReportAt: 10_000 })], 10_000), 'recycle').length, 1,
    'readyAt 0 is a time, not "never"')
})

t.test('stuck: a ready worker silent for longer than heartbeatTimeout', async (t) => {
  const p = policy({ heartbeatTimeout: 5000 })
  t.same(p.evaluate([view(1, { lastReportAt: NOW - 5001 })], NOW), [{ kind: 'stuck', id: 1, silentFor: 5001 }], '1 ms past the limit')
  t.same(p.evaluate([view(1, { lastReportAt: NOW - 5000 })], NOW), [], 'exactly at the limit: not stuck')
  t.same(p.evaluate([view(1, { lastReportAt: NOW - 60_000 })], NOW), [{ kind: 'stuck', id: 1, silentFor: 60_000 }], 'silentFor is measured')
  t.same(p.evaluate([view(1, { ready: false, readyAt: null, lastReportAt: 0 })], NOW), [],
    'a starting worker is never stuck (startupTimeout covers it)')
  t.same(p.evaluate([view(1, { recycling: true, lastReportAt: NOW - 5001 })], NOW), [{ kind: 'stuck', id: 1, silentFor: 5001 }],
    'a worker being recycled can still be stuck')
  t.same(p.evaluate([view(1, { lastReportAt: NOW - 6000 }), view(2), view(3, { lastReportAt: NOW - 7000 })], NOW),
    [{ kind: 'stuck', id: 1, silentFor: 6000 }, { kind: 'stuck', id: 3, silentFor: 7000 }], 'each stuck worker, once')
})

t.test('stuck: a stuck worker is not also recycled, and takes no recycle slot', async (t) => {
  const p = policy()
  feed(p, 1, RSS, 3)
  feed(p, 2, RSS, 3)
  t.same(p.evaluate([view(1, { lastReportAt: NOW - 9000 }), view(2)], NOW), [
    { kind: 'stuck', id: 1, silentFor: 9000 },
    { kind: 'recycle', id: 2, reason: 'rss', breaches: [rssBreach] }
  ], 'worker 1 is stuck (only), worker 2 gets the one slot')
})

t.test('overload: a strict majority breaching event-loop thresholds is load, not sickness', async (t) => {
  const p = policy()
  feed(p, 1, DELAY, 3)
  feed(p, 2, ELU, 3)
  feed(p, 3, HEALTHY, 3)
  const first = p.evaluate(views(1, 2, 3), NOW)
  t.same(first, [{ kind: 'overload', ids: [1, 2], breaches: { 1: [delayBreach], 2: [eluBreach] } }],
    '2 of 3: one overload decision and no event-loop recycle')

  p.observe(1, sample(DELAY))
  p.observe(2, sample(ELU))
  t.same(p.evaluate(views(1, 2, 3), NOW + 1000), [], 'still overloaded: no second overload decision, still no recycle')

  p.observe(1, sample(DELAY))
  p.observe(2, HEALTHY)
  t.same(p.evaluate(views(1, 2, 3), NOW + 1500), [],
    'worker 2 dipped under the threshold for one sample: still load (it breached within the last unhealthyChecks ticks)')
  p.observe(1, sample(DELAY))
  p.observe(2, HEALTHY)
  t.same(p.evaluate(views(1, 2, 3), NOW + 2000), [], 'still within the window')
  p.observe(1, sample(DELAY))
  p.observe(2, HEALTHY)
  t.same(p.evaluate(views(1, 2, 3), NOW + 2500), [{ kind: 'overload-end' }],
    'worker 2 clean for unhealthyChecks ticks: overload over; the one still slow has 1 fresh bad sample')
  p.observe(1, sample(DELAY))
  t.same(p.evaluate(views(1, 2, 3), NOW + 3000), [], 'overload-end is edge-triggered too; 2 fresh bad samples')
  p.observe(1, sample(DELAY))
  t.same(p.evaluate(views(1, 2, 3), NOW + 3500), [{ kind: 'recycle', id: 1, reason: 'eventLoopDelay', breaches: [delayBreach] }],
    'bad for unhealthyChecks samples on its own: sick after all')

  feed(p, 2, ELU, 1)
  feed(p, 3, DELAY, 1)
  t.same(only(p.evaluate(views(1, 2, 3), NOW + 4000), 'overload').map((d) => d.ids), [[1, 2, 3]], 'a second overload is announced again')
})

t.test('overload: two busy workers whose samples alternate under the threshold are load, not sickness (noisy neighbour)', async (t) => {
  const p = policy()
  const decisions: Decision[] = []
  // Worker 1 breaches every sample; worker 2, starved unevenly by another process on the host, one in three.
  for (let i = 0; i < 12; i++) {
    p.observe(1, sample(ELU))
    p.observe(2, i % 3 === 0 ? sample(ELU) : HEALTHY)
    const at = NOW + i * 1000
    decisions.push(...p.evaluate([view(1, { lastReportAt: at }), view(2, { lastReportAt: at })], at))
  }
  t.same(only(decisions, 'recycle'), [], 'nobody recycled for being busy')
  t.same(only(decisions, 'overload').map((d) => d.ids), [[1, 2]], 'one overload, both workers')
  t.same(only(decisions, 'overload-end'), [], 'no flapping')
})

t.test('overload: memory recycles still happen', async (t) => {
  const p = policy()
  feed(p, 1, DELAY, 3)
  feed(p, 2, { ...DELAY, ...ELU }, 3)
  feed(p, 3, { ...DELAY, ...HEAP }, 3)
  const decisions = p.evaluate(views(1, 2, 3), NOW)
  t.same(only(decisions, 'overload').map((d) => d.ids), [[1, 2, 3]], 'overloaded')
  t.same(only(decisions, 'recycle'), [{ kind: 'recycle', id: 3, reason: 'heapUsed', breaches: [heapBreach, delayBreach] }],
    'the leaking worker is recycled for heapUsed; its breaches include the event loop')
  t.same(only(decisions, 'deferred'), [], 'the only-slow workers are not even deferred')

  const q = policy()
  feed(q, 1, { ...DELAY, ...RSS }, 3)
  feed(q, 2, DELAY, 3)
  t.same(only(q.evaluate(views(1, 2), NOW), 'recycle').map((d) => [d.id, d.reason]), [[1, 'rss']], 'rss also recycles under overload')

  const r = policy()
  const seen: Decision[][] = []
  for (let tick = 0; tick < 3; tick++) {
    r.observe(1, sample({ ...DELAY, ...RSS }))
    r.observe(2, sample(DELAY))
    seen.push(r.evaluate([view(1, { lastReportAt: NOW + tick }), view(2, { lastReportAt: NOW + tick })], NOW + tick))
  }
  t.same(seen.map((ds) => ds.map((d) => d.kind)), [['overload'], [], ['recycle']],
    'a memory streak keeps growing across overloaded ticks (only event-loop streaks are held back)')
})

t.test('overload: exactly half breaching is not overload', async (t) => {
  const p = policy()
  feed(p, 1, ELU, 3)
  feed(p, 2, DELAY, 3)
  feed(p, 3, HEALTHY, 3)
  feed(p, 4, HEALTHY, 3)
  t.same(p.evaluate(views(1, 2, 3, 4), NOW), [
    { kind: 'recycle', id: 2, reason: 'eventLoopDelay', breaches: [delayBreach] },
    { kind: 'deferred', id: 1, reason: 'eventLoopUtilization', why: 'concurrency' }
  ], '2 of 4: no overload; both are sick, the slot goes to eventLoopDelay first')
  const one = policy()
  feed(one, 1, DELAY, 3)
  t.same(one.evaluate(views(1), NOW), [{ kind: 'overload', ids: [1], breaches: { 1: [delayBreach] } }],
    '1 of 1 is a majority')
})

t.test('overload: judged over ready workers not being recycled or stuck', async (t) => {
  const withStarting = policy()
  feed(withStarting, 1, DELAY, 3)
  feed(withStarting, 2, DELAY, 3)
  feed(withStarting, 3, HEALTHY, 1)
  const a = withStarting.evaluate([...views(1, 2, 3), view(4, { ready: false, readyAt: null }), view(5, { ready: false, readyAt: null })], NOW)
  t.same(only(a, 'overload').map((d) => d.ids), [[1, 2]], '2 of 3 ready; the 2 starting workers are not counted')

  const withRecycling = policy()
  feed(withRecycling, 1, DELAY, 3)
  feed(withRecycling, 2, DELAY, 3)
  feed(withRecycling, 3, HEALTHY, 1)
  const b = withRecycling.evaluate([view(1, { recycling: true }), view(2), view(3)], NOW)
  t.same(only(b, 'overload'), [], '1 of 2 judged: worker 1 is being recycled')

  const withStuck = policy()
  feed(withStuck, 1, DELAY, 3)
  feed(withStuck, 2, DELAY, 3)
  feed(withStuck, 3, HEALTHY, 1)
  const c = withStuck.evaluate([view(1, { lastReportAt: 0 }), view(2), view(3)], NOW)
  t.same(only(c, 'overload'), [], '1 of 2 judged: worker 1 is stuck')
  t.same(only(c, 'stuck').map((d) => d.id), [1])
})

t.test('maxConcurrentRecycles', async (t) => {
  const p = policy({ maxConcurrentRecycles: 1 })
  feed(p, 1, RSS, 3)
  feed(p, 2, RSS, 3)
  t.same(p.evaluate(views(1, 2), NOW), [
    { kind: 'recycle', id: 1, reason: 'rss', breaches: [rssBreach] },
    { kind: 'deferred', id: 2, reason: 'rss', why: 'concurrency' }
  ], '2 sick, limit 1: one recycle, one deferred')

  const two = policy({ maxConcurrentRecycles: 2 })
  feed(two, 1, RSS, 3)
  feed(two, 2, RSS, 3)
  t.same(only(two.evaluate(views(1, 2), NOW), 'recycle').map((d) => d.id), [1, 2], 'limit 2: both')

  const busy = policy({ maxConcurrentRecycles: 1 })
  feed(busy, 1, RSS, 3)
  feed(busy, 3, RSS, 3)
  t.same(busy.evaluate([view(1), view(2), view(3, { recycling: true })], NOW),
    [{ kind: 'deferred', id: 1, reason: 'rss', why: 'concurrency' }],
    'a worker already being recycled takes the slot, and gets no second recycle')
  t.same(busy.evaluate([view(1), view(2, { recycling: true })], NOW),
    [{ kind: 'deferred', id: 1, reason: 'rss', why: 'concurrency' }], 'even a healthy one being recycled takes it')
  t.same(only(busy.evaluate(views(1, 2), NOW), 'recycle').map((d) => d.id), [1], 'the slot is free again')
})

t.test('recycle budget', async (t) => {
  const window = 60_000
  const p = policy({ recycleBudget: 3, recycleBudgetWindow: window, maxConcurrentRecycles: 10 })
  feed(p, 1, RSS, 3)
  const start = NOW - 30_000
  for (let i = 0; i < 3; i++) p.recorded(start + i)
  const at = (now: number): Decision[] => p.evaluate([view(1, { lastReportAt: now })], now)
  t.equal(p.budgetUsed(NOW), 3, 'three recycles in the window')
  t.same(at(NOW), [{ kind: 'deferred', id: 1, reason: 'rss', why: 'budget' }], 'the budget is used up')
  t.same(at(start + window - 1), [{ kind: 'deferred', id: 1, reason: 'rss', why: 'budget' }],
    '1 ms before the first recycle leaves the window')
  t.equal(p.budgetUsed(start + window), 2, 'a recycle exactly one window old is out')
  t.same(at(start + window), [{ kind: 'recycle', id: 1, reason: 'rss', breaches: [rssBreach] }],
    'so one recycle is allowed again')
  t.equal(p.budgetUsed(start + window + 10_000), 0, 'all out later')

  const q = policy({ recycleBudget: 1, maxConcurrentRecycles: 5 })
  feed(q, 1, RSS, 3)
  feed(q, 2, HEAP, 3)
  t.same(q.evaluate(views(1, 2), NOW), [
    { kind: 'recycle', id: 1, reason: 'rss', breaches: [rssBreach] },
    { kind: 'deferred', id: 2, reason: 'heapUsed', why: 'budget' }
  ], 'the budget also holds within one evaluate')

  const none = policy({ recycleBudget: 0 })
  feed(none, 1, RSS, 3)
  t.same(none.evaluate(views(1), NOW), [{ kind: 'deferred', id: 1, reason: 'rss', why: 'budget' }], 'budget 0: no threshold recycle')
  t.same(none.evaluate([view(1, { lastReportAt: 0 })], NOW), [{ kind: 'stuck', id: 1, silentFor: NOW }],
    'budget 0 does not stop the watchdog')
})

t.test('priority: rss, then heapUsed, then the event loop', async (t) => {
  const within = (over: Partial<HealthSample>): string | undefined => {
    const p = policy()
    feed(p, 1, over, 3)
    return only(p.evaluate(views(1, 2, 3), NOW), 'recycle')[0]?.reason
  }
  t.equal(within({ ...DELAY, ...HEAP, ...RSS }), 'rss', 'one worker past all: rss')
  t.equal(within({ ...ELU, ...DELAY, ...HEAP }), 'heapUsed', 'heapUsed before the event loop')
  t.equal(within({ ...ELU, ...DELAY }), 'eventLoopDelay', 'delay before utilisation')

  const p = policy()
  feed(p, 1, DELAY, 3)
  feed(p, 2, HEAP, 3)
  feed(p, 3, RSS, 3)
  feed(p, 4, HEALTHY, 3)
  t.same(p.evaluate(views(1, 2, 3, 4), NOW), [
    { kind: 'recycle', id: 3, reason: 'rss', breaches: [rssBreach] },
    { kind: 'deferred', id: 2, reason: 'heapUsed', why: 'concurrency' },
    { kind: 'deferred', id: 1, reason: 'eventLoopDelay', why: 'concurrency' }
  ], 'across workers: the rss worker gets the slot whatever the order of the list')
})

t.test('a storm (every sample bad on 4 workers, limit 1, budget 3) never recycles more than the budget', async (t) => {
  const run = (bad: Partial<HealthSample>): { recycles: number, deferredBudget: number, maxInFlight: number, overloads: number, stuck: number } => {
    const p = policy({ maxConcurrentRecycles: 1, recycleBudget: 3, gracePeriod: 2000 })
    // The supervisor's part: count the recycle, mark the worker, and replace it with a new id two ticks later.
    let workers = [1, 2, 3, 4].map((id) => ({ id, readyAt: 0, recyclingSince: -1 }))
    let nextId = 5
    let recycles = 0
    let deferredBudget = 0
    let maxInFlight = 0
    let overloads = 0
    let stuck = 0
    for (let tick = 0; tick < 300; tick++) {
      const now = NOW + tick * 1000
      for (const w of workers.filter((w) => w.recyclingSince !== -1 && tick - w.recyclingSince >= 2)) {
        p.forget(w.id)
        workers = workers.filter((x) => x !== w)
        workers.push({ id: nextId++, readyAt: now, recyclingSince: -1 })
      }
      for (const w of workers) p.observe(w.id, sample(bad))
      const decisions = p.evaluate(workers.map((w) => view(w.id, { readyAt: w.readyAt, lastReportAt: now, recycling: w.recyclingSince !== -1 })), now)
      for (const d of only(decisions, 'recycle')) {
        recycles++
        p.recorded(now)
        const w = workers.find((x) => x.id === d.id)
        if (w !== undefined) w.recyclingSince = tick
      }
      deferredBudget += only(decisions, 'deferred').filter((d) => d.why === 'budget').length
      overloads += only(decisions, 'overload').length
      stuck += only(decisions, 'stuck').length
      maxInFlight = Math.max(maxInFlight, workers.filter((w) => w.recyclingSince !== -1).length)
    }
    return { recycles, deferredBudget, maxInFlight, overloads, stuck }
  }

  const memory = run({ ...RSS, ...HEAP })
  t.equal(memory.recycles, 3, 'memory storm over 300 s (window 600 s): exactly the budget of 3')
  t.ok(memory.deferredBudget > 0, `the rest was deferred for the budget (${memory.deferredBudget} deferrals)`)
  t.equal(memory.maxInFlight, 1, 'never more than one at a time')
  t.equal(memory.stuck, 0, 'no stuck worker: every worker reports')

  const everything = run({ ...RSS, ...HEAP, ...DELAY, ...ELU })
  t.equal(everything.recycles, 3, 'every metric bad: still exactly 3')
  t.equal(everything.overloads, 1, 'and one overload announced, once')
  t.equal(everything.maxInFlight, 1)

  const loop = run({ ...DELAY, ...ELU })
  t.equal(loop.recycles, 0, 'an event-loop storm on every worker is overload: nothing recycled')
  t.equal(loop.deferredBudget, 0, 'and nothing deferred either')
  t.equal(loop.overloads, 1)
})

t.test('forget drops a worker\'s streaks and latest sample', async (t) => {
  const p = policy()
  feed(p, 1, RSS, 3)
  p.forget(1)
  t.same(p.evaluate(views(1), NOW), [], 'forgotten: no recycle')
  feed(p, 1, RSS, 2)
  t.same(p.evaluate(views(1), NOW), [], 'the streak starts again from zero (2 of 3)')
  p.observe(1, sample(RSS))
  t.same(only(p.evaluate(views(1), NOW), 'recycle').map((d) => d.id), [1], 'and reaches 3')

  const q = policy()
  feed(q, 1, DELAY, 1)
  feed(q, 2, DELAY, 1)
  feed(q, 3, HEALTHY, 1)
  q.forget(1)
  t.same(only(q.evaluate(views(1, 2, 3), NOW), 'overload'), [], 'its last sample no longer counts toward overload')
  q.forget(42)
  t.pass('forgetting an unknown id is harmless')
})

t.test('policies do not share state', async (t) => {
  const a = policy()
  const b = policy()
  feed(a, 1, RSS, 3)
  a.recorded(NOW)
  t.same(b.evaluate(views(1), NOW), [], 'b saw no samples')
  t.equal(b.budgetUsed(NOW), 0, 'b recorded no recycle')
})

t.test('a saturated host (noisy neighbour): event-loop breaches recycle nobody, memory still does', async (t) => {
  const p = policy()
  feed(p, 1, ELU, 5)
  feed(p, 2, HEALTHY, 5)
  feed(p, 3, RSS, 5)
  const busy = p.evaluate(views(1, 2, 3), NOW, { busy: true })
  t.same(only(busy, 'recycle').map((d) => [d.id, d.reason]), [[3, 'rss']], 'only the memory recycle')
  t.same(only(busy, 'overload'), [], 'not an overload: one worker of three breaches')
  feed(p, 1, ELU, 1)
  t.same(only(p.evaluate(views(1, 2), NOW + 1000, { busy: false }), 'recycle'), [],
    'the host eased: the streak starts over (held back while the host was busy)')
  feed(p, 1, ELU, 2)
  t.same(only(p.evaluate(views(1, 2), NOW + 2000), 'recycle').map((d) => [d.id, d.reason]), [[1, 'eventLoopUtilization']],
    'bad for unhealthyChecks samples on a quiet host: sick')
})

t.test('hostBusy: CPU pressure when the kernel exposes it, else the load average', async (t) => {
  t.equal(hostBusy(99.9, 0, 2), true, 'tasks waited for a CPU 99.9% of the time')
  t.equal(hostBusy(10, 100, 2), false, 'PSI wins over the load average')
  t.equal(hostBusy(null, 3.1, 2), true, 'no PSI: load above 1.5 x CPUs')
  t.equal(hostBusy(null, 2.5, 2), false)
})
