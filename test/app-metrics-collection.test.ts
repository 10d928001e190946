import t from 'tap'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import {
  MAX_METRICS_CHARS, MessageTypes, buildAppMetrics, buildAppMetricsRequest, buildClusterMetrics, buildClusterMetricsRequest,
  decodeLaunch, encodeLaunch, parseMetrics, parsePrimaryMessage, parseWorkerMessage, type MetricJSON, type MetricsWorkerMessage
} from '../dist/lib/shared/protocol.js'

/** parseWorkerMessage, then parseMetrics on an app-metrics answer (as the collector does for answers it asked for). */
function parseAnswer (raw: unknown): unknown {
  const parsed = parseWorkerMessage(raw)
  if (parsed.kind !== 'ok' || parsed.message.type !== 'app-metrics' || parsed.message.metrics === undefined) return parsed
  const metrics = parseMetrics(parsed.message.metrics)
  return metrics.ok ? { kind: 'ok', message: { ...parsed.message, metrics: metrics.metrics } } : { kind: 'invalid', reason: metrics.reason }
}
import { AppMetricsCollector, CounterLedger, type Collection } from '../dist/lib/primary/app-metrics.js'
import { ClusterMetrics } from '../dist/lib/primary/metrics.js'

// The collector's timers are unref'd (a scrape must not keep a primary alive); hold this process while testing.
const hold = setInterval(() => {}, 1000)
t.teardown(() => { clearInterval(hold) })

/** Through JSON, as node:cluster's channel carries it. */
const wire = (m: object): unknown => JSON.parse(JSON.stringify(m))

async function registryJSON (setup: (registers: Registry[]) => void): Promise<MetricJSON[]> {
  const registry = new Registry()
  setup([registry])
  return wire(await registry.getMetricsAsJSON()) as MetricJSON[]
}

t.test('app-metrics messages round-trip through the parsers', async (t) => {
  const metrics = await registryJSON((registers) => {
    new Counter({ name: 'c_total', help: 'c', labelNames: ['route'], registers }).inc({ route: '/a' }, 3)
    new Histogram({ name: 'h_seconds', help: 'h', buckets: [1], registers }).observe(0.5)
  })
  const parsed = parseAnswer(wire(buildAppMetrics(7, metrics))) as { kind: string, message: { type: string, id: number, metrics?: MetricJSON[] } }
  if (parsed.kind !== 'ok' || parsed.message.type !== MessageTypes.APP_METRICS) throw new Error(`not ok: ${JSON.stringify(parsed)}`)
  t.equal(parsed.message.id, 7)
  t.same(parsed.message.metrics?.map((m) => [m.name, m.type, m.aggregator]), [['c_total', 'counter', 'sum'], ['h_seconds', 'histogram', 'sum']])
  t.same(parsed.message.metrics?.[0]?.values, [{ value: 3, labels: { route: '/a' } }])
  t.equal(parsed.message.metrics?.[1]?.values.find((v) => v.metricName === 'h_seconds_count')?.value, 1)

  t.same(parseWorkerMessage(wire(buildAppMetrics(8, new Error('boom')))), { kind: 'ok', message: { type: 'app-metrics', id: 8, error: 'boom' } })
  t.same(parseWorkerMessage(wire(buildClusterMetricsRequest(9))), { kind: 'ok', message: { type: 'cluster-metrics-request', id: 9 } })
  t.same(parsePrimaryMessage(wire(buildAppMetricsRequest(10))), { kind: 'ok', message: { type: 'app-metrics-request', id: 10 } })
  t.same(parsePrimaryMessage(wire(buildClusterMetrics(11, 'a 1\n'))), { kind: 'ok', message: { type: 'cluster-metrics', id: 11, body: 'a 1\n' } })
  t.same(parsePrimaryMessage(wire(buildClusterMetrics(12, new Error('late')))), { kind: 'ok', message: { type: 'cluster-metrics', id: 12, error: 'late' } })

  // Over the cap: the builders send the reason instead of the payload.
  const huge = [{ name: 'x', help: 'y'.repeat(MAX_METRICS_CHARS), type: 'gauge', values: [] }]
  t.match(parseWorkerMessage(wire(buildAppMetrics(1, huge))), { kind: 'ok', message: { error: /over the 4194304 limit/ } })
  t.match(parsePrimaryMessage(wire(buildClusterMetrics(1, 'z'.repeat(MAX_METRICS_CHARS + 1)))), { kind: 'ok', message: { error: /over the/ } })

  const launch = { v: 1 as const, slot: 0, sampleInterval: 1000, drainDelay: 0, readinessPath: false as const, metricsTimeout: 1500 }
  t.equal(decodeLaunch({ FASTIFY_CLUSTER_WORKER: encodeLaunch(launch) })?.metricsTimeout, 1500, 'the launch contract carries metricsTimeout')
  t.equal(decodeLaunch({ FASTIFY_CLUSTER_WORKER: encodeLaunch({ ...launch, metricsTimeout: -1 }) }), null, 'a bad one is refused')
})

t.test('hostile app-metrics payloads are invalid, never thrown, never passed on', async (t) => {
  const ok = { name: 'a', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value: 1, labels: {} }] }
  const send = (metrics: unknown, extra: object = {}): unknown => ({ ns: 'fastify-cluster', v: 1, type: 'app-metrics', id: 1, metrics, ...extra })
  const bad: Array<[string, unknown]> = [
    ['metrics not an array', send({ length: 1 })],
    ['a metric not an object', send([null])],
    ['a name with a newline (exposition injection)', send([{ ...ok, name: 'a\nevil 1' }])],
    ['a name with a space', send([{ ...ok, name: 'a b' }])],
    ['an unknown type', send([{ ...ok, type: 'info' }])],
    ['an unknown aggregator (prom-client would throw)', send([{ ...ok, aggregator: 'median' }])],
    ['a label name with a quote', send([{ ...ok, values: [{ value: 1, labels: { 'a"': 'x' } }] }])],
    ['a label value object', send([{ ...ok, values: [{ value: 1, labels: { a: { b: 1 } } }] }])],
    ['a string value', send([{ ...ok, values: [{ value: '1', labels: {} }] }])],
    ['a metricName with a brace', send([{ ...ok, values: [{ value: 1, labels: {}, metricName: 'a{x="1"}' }] }])],
    ['too many labels', send([{ ...ok, values: [{ value: 1, labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, 'v'])) }] }])],
    ['too many values', send([{ ...ok, values: Array.from({ length: 200_001 }, () => ({ value: 1, labels: {} })) }])],
    ['a negative id', send([ok], { id: -1 })],
    ['a fractional id', send([ok], { id: 1.5 })],
    ['no id', { ns: 'fastify-cluster', v: 1, type: 'cluster-metrics-request' }]
  ]
  for (const [label, raw] of bad) {
    let parsed: unknown
    t.doesNotThrow(() => { parsed = parseAnswer(raw) }, `${label}: does not throw`)
    t.match(parsed, { kind: 'invalid' }, `${label}: invalid`)
  }
  // JSON turns NaN and Infinity into null: such a value is dropped, the rest kept.
  const nulls = parseAnswer(send([{ ...ok, values: [{ value: null, labels: {} }, { value: 2, labels: { a: 'b' } }] }]))
  t.match(nulls, { kind: 'ok', message: { metrics: [{ values: [{ value: 2, labels: { a: 'b' } }] }] } })
  // __proto__ as a label name is a plain own key of a fresh null-prototype object, not a prototype change.
  const proto = parseAnswer(JSON.parse('{"ns":"fastify-cluster","v":1,"type":"app-metrics","id":1,"metrics":[{"name":"a","help":"h","type":"gauge","values":[{"value":1,"labels":{"__proto__":"x"}}]}]}'))
  const labels = (proto as { message: { metrics: MetricJSON[] } }).message.metrics[0]?.values[0]?.labels ?? {}
  t.equal(Object.getPrototypeOf(labels), null)
  t.equal(Object.keys(labels).join(), '__proto__')
  t.equal(({} as Record<string, unknown>).x, undefined, 'no prototype was touched')
  // Extra fields are not copied.
  const extra = parseAnswer(send([{ ...ok, evil: 1, values: [{ value: 1, labels: {}, exemplar: { x: 1 }, evil: 2 }] }]))
  t.same(extra, { kind: 'ok', message: { type: 'app-metrics', id: 1, metrics: [{ name: 'a', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value: 1, labels: {} }] }] } })
})

interface Sent { id: number, message: { type: string, id: number, body?: string, error?: string } }

function collector (targets: number[], timeout = 200, alive: number[] = targets): { c: AppMetricsCollector, sent: Sent[] } {
  const sent: Sent[] = []
  const c = new AppMetricsCollector({
    targets: () => targets.map((id) => ({ id, pid: 1000 + id, slot: id - 1 })),
    alive: () => new Set(alive),
    send: (id, message) => { sent.push({ id, message: message as Sent['message'] }) },
    timeout
  })
  return { c, sent }
}

const answer = (id: number, metrics: unknown): MetricsWorkerMessage => ({ type: 'app-metrics', id, metrics: { unchecked: metrics } })
const noRender = async (): Promise<string> => ''

t.test('the collector asks each ready worker once and ends the round when all answered', async (t) => {
  const { c, sent } = collector([1, 2], 10_000)
  const started = Date.now()
  const pending = c.collect()
  t.same(sent.map((s) => [s.id, s.message.type]), [[1, 'app-metrics-request'], [2, 'app-metrics-request']])
  const round = sent[0]?.message.id ?? -1
  const m: MetricJSON[] = [{ name: 'a', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value: 1, labels: {} }] }]
  c.receive(3, answer(round, m), noRender)
  c.receive(1, answer(round + 1, m), noRender)
  c.receive(1, answer(round, m), noRender)
  c.receive(1, answer(round, m), noRender)
  c.receive(2, { type: 'app-metrics', id: round, error: 'registry threw' }, noRender)
  const result = await pending
  t.ok(Date.now() - started < 5000, 'ended as soon as everyone answered, not at the 10 s timeout')
  t.equal(result.metrics.length, 1, 'one answer from worker 1: a stranger, a wrong id and a repeat are ignored')
  t.same(result.missing, [{ id: 2, pid: 1002, slot: 1, reason: 'the worker could not read its metrics: registry threw' }])
  t.equal(result.asked, 2)
})

t.test('a worker that does not answer is missing at the timeout; overlapping collections share one round', async (t) => {
  const { c, sent } = collector([1, 2], 100)
  const started = Date.now()
  const [a, b] = await Promise.all([c.collect(), c.collect()])
  const elapsed = Date.now() - started
  t.equal(a, b, 'one round for both')
  t.equal(sent.length, 2, 'each worker asked once')
  t.equal(a.missing.length, 2)
  t.match(a.missing[0]?.reason, 'no answer within 100 ms')
  t.ok(elapsed >= 95 && elapsed < 5000, `bounded: ${elapsed} ms`)
  const late = sent[0]?.message.id ?? -1
  c.receive(1, answer(late, []), noRender)
  const next = c.collect()
  t.equal(sent.length, 4, 'a new round asks again')
  t.not(sent[2]?.message.id, late, 'with a new id, so a late answer cannot count')
  c.close()
  t.equal((await next).missing.length, 2, 'close ends the round now')
  t.same(await c.collect(), { metrics: [], carried: [], missing: [], asked: 0, durationMs: (await c.collect()).durationMs }, 'after close nobody is asked')
})

t.test('a malformed answer: the worker is missing with the reason; an unsolicited one is never even checked', async (t) => {
  const { c, sent } = collector([1], 10_000)
  const pending = c.collect()
  const round = sent[0]?.message.id ?? -1
  let touched = false
  const trap = new Proxy([], { get (target, key) { touched = true; return Reflect.get(target, key) } })
  c.receive(2, answer(round, trap), noRender)
  c.receive(1, answer(round + 1, trap), noRender)
  t.notOk(touched, 'answers from a stranger or for another round are dropped unread')
  t.ok(parseMetrics({ unchecked: trap }).ok && touched, '(the trap does spring when parsed)')
  touched = false
  c.receive(1, answer(round, [{ name: 'bad name', help: '', type: 'counter', values: [] }]), noRender)
  const result = await pending
  t.match(result.missing, [{ id: 1, reason: /^its metrics are malformed: metrics\[0\]\.name is not a metric name$/ }])
})

t.test('no ready worker: an empty collection at once', async (t) => {
  const { c, sent } = collector([])
  const result = await c.collect()
  t.same([result.metrics, result.missing, result.asked, sent.length], [[], [], 0, 0])
  t.same((await c.collect()).asked, 0, 'and again (no stale round)')
})

t.test('a worker asking for the aggregate gets it rendered, bounded per worker', async (t) => {
  const { c, sent } = collector([1], 50)
  c.receive(1, { type: 'cluster-metrics-request', id: 41 }, async (collection) => `missing ${collection.missing.length}\n`)
  await t.resolves(new Promise<void>((resolve) => { const i = setInterval(() => { if (sent.some((s) => s.message.type === 'cluster-metrics')) { clearInterval(i); resolve() } }, 5) }))
  t.same(sent.find((s) => s.message.type === 'cluster-metrics'), { id: 1, message: { ns: 'fastify-cluster', v: 1, type: 'cluster-metrics', id: 41, body: 'missing 1\n' } })
  const failing = collector([], 50)
  failing.c.receive(2, { type: 'cluster-metrics-request', id: 1 }, async () => { throw new Error('render failed') })
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.match(failing.sent[0]?.message, { type: 'cluster-metrics', id: 1, error: 'render failed' })
  // A flood from one worker: at most 8 answers are prepared at once; the rest are not served.
  const flood = collector([], 50)
  let renders = 0
  const slow = async (): Promise<string> => { renders++; await new Promise((resolve) => setTimeout(resolve, 30)); return '' }
  for (let i = 0; i < 100; i++) flood.c.receive(3, { type: 'cluster-metrics-request', id: i }, slow)
  // The 92 beyond the cap were dropped at once; wait for the 8 accepted ones, then make sure nothing else follows.
  const deadline = Date.now() + 10_000
  while (flood.sent.length < 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(flood.sent.length, 8, '8 answers, not 100')
  t.equal(renders, 8)
})

t.test('render: prom-client aggregation, no duplicate names, missing workers reported', async (t) => {
  const worker = async (slot: number, hits: number): Promise<MetricJSON[]> => await registryJSON((registers) => {
    new Counter({ name: 'hits_total', help: 'hits', labelNames: ['code'], registers }).inc({ code: '200' }, hits)
    const h = new Histogram({ name: 'lat_seconds', help: 'lat', buckets: [0.1, 1], registers })
    for (let i = 0; i < hits; i++) h.observe(0.05)
    new Gauge({ name: 'up', help: 'up', registers }).set(1)
    new Gauge({ name: 'slot_max', help: 'max', aggregator: 'max', registers }).set(slot)
    new Gauge({ name: 'per_slot', help: 'labelled per worker', labelNames: ['slot'], registers }).set({ slot: String(slot) }, slot * 10)
    new Gauge({ name: 'fastify_cluster_workers', help: 'clash', registers }).set(99)
  })
  const warned: unknown[] = []
  const metrics = new ClusterMetrics({ workers: () => [], log: { warn: (obj: unknown) => { warned.push(obj) } } as never })
  const collection: Collection = {
    metrics: [await worker(0, 2), await worker(1, 5)],
    carried: [],
    missing: [{ id: 3, pid: 333, slot: 2, reason: 'no answer within 1000 ms' }],
    asked: 3,
    durationMs: 1002
  }
  const body = await metrics.render(collection, true)
  t.match(body, /^hits_total\{code="200"\} 7$/m, 'counter summed')
  t.match(body, /^lat_seconds_bucket\{le="0.1"\} 7$/m, 'histogram buckets summed')
  t.match(body, /^lat_seconds_count 7$/m)
  t.match(body, /^up 2$/m, 'gauge: sum (the default)')
  t.match(body, /^slot_max 1$/m, 'gauge: max (its aggregator)')
  t.match(body, /^per_slot\{slot="0"\} 0$/m, 'a per-worker label keeps each worker apart')
  t.match(body, /^per_slot\{slot="1"\} 10$/m)
  t.match(body, /^fastify_cluster_metrics_missing_workers 1$/m)
  t.match(body, /^fastify_cluster_metrics_collect_seconds 1.002$/m)
  t.match(body, /^# fastify-cluster: worker 3 \(pid 333, slot 2\) is missing: no answer within 1000 ms$/m)
  t.match(body, /^fastify_cluster_workers\{state="ready"\} 0$/m, "the cluster's own metric wins the name")
  t.notMatch(body, /^fastify_cluster_workers 99$/m, "the app's is left out")
  const types = body.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2])
  t.equal(new Set(types).size, types.length, 'no duplicate metric names')
  await metrics.render(collection, true)
  t.equal(warned.length, 1, 'the clash is logged once per name, not per scrape')

  const appOnly = await metrics.render(collection, false)
  t.notMatch(appOnly, /^fastify_cluster_workers\{|^fastify_cluster_worker_/m, 'without the cluster metrics (app port)')
  t.match(appOnly, /^hits_total\{code="200"\} 7$/m)

  // Old and new code disagree on a metric's type during a reload: that metric is left out, the rest served.
  const clash: Collection = {
    metrics: [
      [{ name: 'x', help: 'x', type: 'counter', aggregator: 'sum', values: [{ value: 1, labels: {} }] }],
      [{ name: 'x', help: 'x', type: 'gauge', aggregator: 'sum', values: [{ value: 1, labels: {} }] }, { name: 'y', help: 'y', type: 'gauge', aggregator: 'sum', values: [{ value: 4, labels: {} }] }]
    ],
    carried: [],
    missing: [],
    asked: 2,
    durationMs: 3
  }
  const mixed = await metrics.render(clash, false)
  t.notMatch(mixed, /^x /m)
  t.match(mixed, /# fastify-cluster: left out the app's metric x: its type differs between workers \(counter, gauge\)/)
  t.match(mixed, /^y 4$/m)
})

const counter = (value: number, labels: Record<string, string> = {}): MetricJSON =>
  ({ name: 'n_total', help: 'n', type: 'counter', aggregator: 'sum', values: [{ value, labels }] })

t.test('the ledger keeps counters monotonic: silent workers as last seen, gone workers folded in', async (t) => {
  const ledger = new CounterLedger()
  const gauge: MetricJSON = { name: 'g', help: 'g', type: 'gauge', aggregator: 'sum', values: [{ value: 5, labels: {} }] }
  const maxCounter: MetricJSON = { ...counter(9), name: 'm_total', aggregator: 'max' }
  ledger.record(1, [counter(10, { a: 'x' }), gauge, maxCounter])
  ledger.record(2, [counter(4, { a: 'x' })])
  t.same(ledger.silent(new Set([2])), [[counter(10, { a: 'x' })]], 'a silent worker: its counters as last seen, no gauges, nothing another aggregator governs')
  ledger.retire(new Set([2]))
  t.same(ledger.silent(new Set()), [[counter(4, { a: 'x' })]], 'a gone worker is no longer silent')
  t.same(ledger.gone(), [counter(10, { a: 'x' })], 'its counts are carried')
  ledger.record(3, [counter(1, { a: 'x' }), { ...counter(2), name: 'other_total' }])
  ledger.retire(new Set())
  t.same(ledger.gone().map((m) => [m.name, m.values]), [['n_total', [{ value: 15, labels: { a: 'x' } }]], ['other_total', [{ value: 2, labels: {} }]]],
    'later departures add up series by series: 10 + 4 + 1')
  ledger.record(4, [{ ...counter(100), type: 'histogram' }])
  ledger.retire(new Set())
  t.equal(ledger.gone().length, 2, 'a type change does not mix old counts into new ones')
})

t.test('collector: a counter never goes down when a worker stops answering or goes away', async (t) => {
  let alive = [1, 2]
  let targets = [1, 2]
  const sent: Sent[] = []
  const c = new AppMetricsCollector({
    targets: () => targets.map((id) => ({ id, pid: id, slot: id })),
    alive: () => new Set(alive),
    send: (id, message) => { sent.push({ id, message: message as Sent['message'] }) },
    timeout: 50
  })
  const metrics = new ClusterMetrics({ workers: () => [] })
  const total = async (answers: Record<number, number>): Promise<number> => {
    const pending = c.collect()
    const round = sent[sent.length - 1]?.message.id ?? -1
    for (const [id, value] of Object.entries(answers)) c.receive(Number(id), answer(round, [counter(value)]), noRender)
    const body = await metrics.render(await pending, false)
    return Number(/^n_total (\S+)$/m.exec(body)?.[1] ?? NaN)
  }
  t.equal(await total({ 1: 10, 2: 5 }), 15)
  t.equal(await total({ 1: 12 }), 17, 'worker 2 missing: its last count (5) is carried')
  targets = [1]
  t.equal(await total({ 1: 13 }), 18, 'worker 2 draining (not asked): still carried')
  alive = [1]
  t.equal(await total({ 1: 14 }), 19, 'worker 2 gone: folded into the carried sum')
  alive = [1, 3]
  targets = [1, 3]
  t.equal(await total({ 1: 15, 3: 1 }), 21, 'its replacement counts from 0 on top')
})
