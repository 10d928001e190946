import t from 'tap'
import {
  MessageTypes, PROTOCOL_NAMESPACE, PROTOCOL_VERSION, WORKER_ENV, buildBootError, buildDrain, buildHealth,
  buildReady, buildUnlisten, buildUnlistenAck, decodeLaunch, encodeLaunch, parsePrimaryMessage, parseWorkerMessage,
  type HealthSample, type WorkerLaunch
} from '../dist/lib/shared/protocol.js'

const sample: HealthSample = {
  eventLoopDelay: 1.5, eventLoopUtilization: 0.25, heapUsed: 1_000_000, rss: 50_000_000, underPressure: false, checkHealthy: null
}
const address = { address: '127.0.0.1', port: 3000, family: 'IPv4' }

/** What crosses the IPC channel (serialization 'json'). */
const wire = (message: unknown): unknown => JSON.parse(JSON.stringify(message))
const health = (overrides: Record<string, unknown>) => ({ ...buildHealth(sample), sample: { ...sample, ...overrides } })

t.test('build then parse round-trips every message', async (t) => {
  t.same(parseWorkerMessage(wire(buildHealth(sample))), { kind: 'ok', message: { type: MessageTypes.HEALTH, sample } })
  t.same(parseWorkerMessage(wire(buildReady(address, sample))),
    { kind: 'ok', message: { type: MessageTypes.READY, address, sample } })
  t.same(parseWorkerMessage(wire(buildBootError('EADDRINUSE', 'listen EADDRINUSE :::3000', 'listen', 'detail'))),
    { kind: 'ok', message: { type: MessageTypes.BOOT_ERROR, code: 'EADDRINUSE', message: 'listen EADDRINUSE :::3000', stage: 'listen', detail: 'detail' } })
  t.same(parsePrimaryMessage(wire(buildDrain(500))), { kind: 'ok', message: { type: MessageTypes.DRAIN, delay: 500 } })
  t.same(parsePrimaryMessage(buildDrain(0)), { kind: 'ok', message: { type: 'drain', delay: 0 } }, 'drain 0')
  for (const checkHealthy of [true, false]) {
    t.same(parseWorkerMessage(health({ checkHealthy })),
      { kind: 'ok', message: { type: 'health', sample: { ...sample, checkHealthy } } }, `checkHealthy ${checkHealthy}`)
  }
  t.same(parseWorkerMessage(health({ eventLoopUtilization: 1, eventLoopDelay: 0, underPressure: true })).kind, 'ok',
    'the bounds themselves are valid')
})

t.test('every message carries the namespace, the version and a type', async (t) => {
  for (const message of [buildHealth(sample), buildReady(address, sample), buildBootError('E', 'm', 'boot', ''), buildDrain(1)]) {
    t.match(message, { ns: PROTOCOL_NAMESPACE, v: PROTOCOL_VERSION, type: String })
  }
  t.equal(PROTOCOL_NAMESPACE, 'fastify-cluster')
  t.equal(PROTOCOL_VERSION, 1)
})

t.test('the parsed message is a fresh object holding only known fields', async (t) => {
  const raw = { ...buildHealth(sample), extra: 'x', sample: { ...sample, extra: 'y' } }
  const parsed = parseWorkerMessage(raw)
  t.same(parsed, { kind: 'ok', message: { type: 'health', sample } }, 'extra fields are dropped')
  if (parsed.kind !== 'ok' || parsed.message.type !== 'health') throw new Error('unreachable')
  t.not(parsed.message.sample, raw.sample, 'the sample is copied')
  t.notOk('ns' in parsed.message, 'the envelope is not copied')
})

t.test('messages that are not ours are foreign', async (t) => {
  const foreign = [null, undefined, '', 'fastify-cluster', 42, Number.NaN, true, [], [buildHealth(sample)], {},
    { ns: 'other', v: 1, type: 'health' }, { NS: PROTOCOL_NAMESPACE }, { cmd: 'NODE_CLUSTER' },
    Object.create({ ns: PROTOCOL_NAMESPACE, v: 1, type: 'health' })]
  for (const raw of foreign) {
    t.same(parseWorkerMessage(raw), { kind: 'foreign' }, `worker: ${describe(raw)}`)
    t.same(parsePrimaryMessage(raw), { kind: 'foreign' }, `primary: ${describe(raw)}`)
  }
})

t.test('ours but malformed is invalid, with a reason, and never throws', async (t) => {
  const invalid = (raw: unknown, reason: RegExp, label: string): void => {
    let parsed
    t.doesNotThrow(() => { parsed = parseWorkerMessage(raw) }, `${label}: does not throw`)
    t.match(parsed, { kind: 'invalid', reason }, label)
  }
  invalid({ ...buildHealth(sample), v: 2 }, /version 2/, 'a newer version')
  invalid({ ...buildHealth(sample), v: '1' }, /version 1/, 'the version as a string')
  invalid({ ...buildHealth(sample), v: undefined }, /version undefined/, 'no version')
  invalid({ ns: PROTOCOL_NAMESPACE, v: 1, type: 'explode' }, /unknown type "explode"/, 'an unknown type')
  invalid({ ns: PROTOCOL_NAMESPACE, v: 1, type: 7 }, /type is not a string/, 'a numeric type')
  invalid({ ns: PROTOCOL_NAMESPACE, v: 1 }, /type is not a string/, 'no type')
  invalid(buildDrain(1), /unknown type "drain"/, 'a primary message sent by a worker')
  invalid({ ns: PROTOCOL_NAMESPACE, v: 1, type: 'health' }, /^health: sample is not a small object$/, 'a missing sample')
  invalid({ ...buildHealth(sample), sample: null }, /sample is not a small object/, 'a null sample')
  invalid({ ...buildHealth(sample), sample: [1, 2] }, /sample is not a small object/, 'an array sample')
  invalid(health({ eventLoopDelay: Number.NaN }), /eventLoopDelay is not a number/, 'NaN')
  invalid(health({ eventLoopDelay: Infinity }), /eventLoopDelay is not a number/, 'Infinity')
  invalid(health({ heapUsed: -1 }), /heapUsed is not a number from 0/, 'negative heapUsed')
  invalid(health({ rss: -0.5 }), /rss is not a number from 0/, 'negative rss')
  invalid(health({ eventLoopUtilization: 1.01 }), /eventLoopUtilization is not a number from 0 to 1/, 'ELU > 1')
  invalid(health({ eventLoopUtilization: -0.1 }), /eventLoopUtilization/, 'ELU < 0')
  invalid(health({ rss: '50000000' }), /rss is not a number/, 'a string metric')
  invalid(health({ heapUsed: undefined }), /heapUsed is not a number/, 'a missing metric')
  invalid(health({ underPressure: 'false' }), /underPressure is not a boolean/, 'underPressure as a string')
  invalid(health({ underPressure: 0 }), /underPressure is not a boolean/, 'underPressure as a number')
  invalid(health({ checkHealthy: 'true' }), /checkHealthy is not a boolean or null/, 'checkHealthy as a string')
  invalid(health({ checkHealthy: undefined }), /checkHealthy is not a boolean or null/, 'checkHealthy missing')
  invalid(health({ checkHealthy: 1 }), /checkHealthy is not a boolean or null/, 'checkHealthy as a number')
  invalid({ ...buildHealth(sample), sample: Object.create(sample) }, /^health: /, 'a sample whose fields are inherited')
  invalid({ ...buildReady(address, sample), address: { ...address, port: 65_536 } }, /^ready: port is not a number/, 'a bad port')
  invalid({ ...buildReady(address, sample), address: { ...address, port: '3000' } }, /^ready: port/, 'a string port')
  invalid({ ...buildReady(address, sample), address: 'localhost:3000' }, /^ready: address is not a small object/, 'a string address')
  invalid({ ...buildReady(address, sample), sample: undefined }, /^ready: sample/, 'ready without a sample')
  invalid({ ...buildBootError('E', 'm', 'boot', ''), code: 42 }, /^boot-error: code is not a short string/, 'a numeric code')
  invalid({ ...buildBootError('E', 'm', 'boot', ''), message: undefined }, /^boot-error: message/, 'no message')
})

t.test('size limits', async (t) => {
  const extra = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))
  t.equal(parseWorkerMessage({ ...buildHealth(sample), ...extra(12) }).kind, 'ok', '16 keys are fine')
  t.same(parseWorkerMessage({ ...buildHealth(sample), ...extra(13) }), { kind: 'invalid', reason: 'too many keys' }, '17 are not')
  t.equal(parseWorkerMessage(health(extra(10))).kind, 'ok', 'a sample with 16 keys is fine')
  t.match(parseWorkerMessage(health(extra(11))), { kind: 'invalid', reason: /^health: sample is not a small object$/ },
    'a sample with 17 keys is not')

  const at = 'x'.repeat(2048)
  const over = 'x'.repeat(2049)
  t.equal(parseWorkerMessage({ ...buildBootError('E', 'm', 'boot', ''), message: at }).kind, 'ok', 'a 2048-char message')
  t.match(parseWorkerMessage({ ...buildBootError('E', 'm', 'boot', ''), message: over }),
    { kind: 'invalid', reason: /message is not a short string/ }, 'a 2049-char message')
  t.match(parseWorkerMessage({ ...buildBootError('E', 'm', 'boot', ''), code: 'C'.repeat(100_000) }),
    { kind: 'invalid', reason: /code is not a short string/ }, 'a huge code')
  t.match(parseWorkerMessage({ ...buildReady(address, sample), address: { ...address, address: over } }),
    { kind: 'invalid', reason: /address is not a short string/ }, 'a huge address')

  const built = buildBootError('C'.repeat(500), 'm'.repeat(100_000), 'boot', 'd'.repeat(100_000))
  t.equal((built.code as string).length, 128, 'buildBootError truncates the code')
  t.equal((built.message as string).length, 2048, 'buildBootError truncates the message')
  t.equal((built.detail as string).length, 4096, 'buildBootError truncates the detail')
  t.equal(parseWorkerMessage(wire(built)).kind, 'ok', 'so what it builds always parses')

  const unknown = parseWorkerMessage({ ns: PROTOCOL_NAMESPACE, v: 1, type: 'y'.repeat(100_000) })
  t.ok(unknown.kind === 'invalid' && unknown.reason.length < 200, 'a huge unknown type gives a short reason')
  const version = parseWorkerMessage({ ...buildHealth(sample), v: 'y'.repeat(100_000) })
  t.ok(version.kind === 'invalid' && version.reason.length < 200, 'a huge version gives a short reason')
})

t.test('a __proto__ key does not pollute Object.prototype', async (t) => {
  const json = JSON.stringify(buildHealth(sample))
    .replace('{', '{"__proto__":{"polluted":true,"ns":"x"},')
    .replace('"sample":{', '"sample":{"__proto__":{"polluted":true},')
  const raw = JSON.parse(json) as Record<string, unknown>
  t.ok(Object.hasOwn(raw, '__proto__'), 'JSON.parse made an own __proto__ key')
  const parsed = parseWorkerMessage(raw)
  t.same(parsed, { kind: 'ok', message: { type: 'health', sample } }, 'parsed, without the key')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched')
  if (parsed.kind === 'ok' && parsed.message.type === 'health') {
    t.equal(Object.getPrototypeOf(parsed.message), Object.prototype)
    t.equal(Object.getPrototypeOf(parsed.message.sample), Object.prototype)
    t.notOk(Object.hasOwn(parsed.message.sample, '__proto__'), 'the sample has no own __proto__')
  }
  const launch = JSON.stringify({ v: 1, slot: 0, sampleInterval: 1000, drainDelay: 0, readinessPath: '/health' }).replace('{', '{"__proto__":{"polluted":true},')
  t.same(decodeLaunch({ [WORKER_ENV]: launch }), { v: 1, slot: 0, sampleInterval: 1000, drainDelay: 0, readinessPath: '/health' })
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'decodeLaunch leaves Object.prototype untouched')
})

t.test('parsePrimaryMessage', async (t) => {
  t.match(parsePrimaryMessage(buildDrain(-1)), { kind: 'invalid', reason: /^drain: delay is not a number from 0/ }, 'negative delay')
  t.match(parsePrimaryMessage(buildDrain(2 ** 31)), { kind: 'invalid', reason: /delay/ }, 'a delay over the timer limit')
  t.equal(parsePrimaryMessage(buildDrain(2 ** 31 - 1)).kind, 'ok', 'the timer limit itself')
  t.match(parsePrimaryMessage(buildDrain(Number.NaN)), { kind: 'invalid' }, 'NaN delay')
  t.match(parsePrimaryMessage({ ...buildDrain(1), delay: '1' }), { kind: 'invalid' }, 'a string delay')
  t.match(parsePrimaryMessage(buildHealth(sample)), { kind: 'invalid', reason: /unknown type "health"/ }, 'a worker message')
  t.match(parsePrimaryMessage({ ...buildDrain(1), v: 0 }), { kind: 'invalid', reason: /version 0/ })
})

t.test('decodeLaunch and encodeLaunch', async (t) => {
  const launch: WorkerLaunch = { v: PROTOCOL_VERSION, slot: 2, sampleInterval: 1000, drainDelay: 500, readinessPath: '/health', fastifyArgs: ['-p', '0', 'app.js', '--', '--x', 'y'] }
  t.same(decodeLaunch({ [WORKER_ENV]: encodeLaunch(launch) }), launch, 'round trip with fastifyArgs')
  const inline: WorkerLaunch = { v: PROTOCOL_VERSION, slot: 0, sampleInterval: 10, drainDelay: 0, readinessPath: false }
  const decoded = decodeLaunch({ [WORKER_ENV]: encodeLaunch(inline) })
  t.same(decoded, inline, 'round trip without fastifyArgs')
  t.notOk(decoded !== null && 'fastifyArgs' in decoded, 'no fastifyArgs key appears')
  t.same(decodeLaunch({ [WORKER_ENV]: JSON.stringify({ ...inline, extra: 1 }) }), inline, 'unknown fields are dropped')
  t.equal(WORKER_ENV, 'FASTIFY_CLUSTER_WORKER')

  const garbage: Array<[string | undefined, string]> = [
    [undefined, 'not set'], ['', 'empty'], ['{', 'bad JSON'], ['not json', 'bad JSON'], ['null', 'null'], ['[]', 'an array'],
    ['42', 'a number'], ['"x"', 'a string'],
    [JSON.stringify({ ...inline, v: 2 }), 'wrong version'],
    [JSON.stringify({ ...inline, v: '1' }), 'version as a string'],
    [JSON.stringify({ ...inline, fastifyArgs: ['-p', 0] }), 'non-string fastifyArgs'],
    [JSON.stringify({ ...inline, fastifyArgs: '-p 0' }), 'fastifyArgs as a string'],
    [JSON.stringify({ ...inline, fastifyArgs: null }), 'fastifyArgs null'],
    [JSON.stringify({ ...inline, slot: '0' }), 'slot as a string'],
    [JSON.stringify({ v: 1, slot: 0, drainDelay: 0 }), 'no sampleInterval'],
    [JSON.stringify({ ...inline, drainDelay: null }), 'drainDelay null'],
    [JSON.stringify({ ...inline, readinessPath: 1 }), 'readinessPath a number'],
    [JSON.stringify({ v: 1, slot: 0, sampleInterval: 10, drainDelay: 0 }), 'no readinessPath']
  ]
  for (const [raw, label] of garbage) {
    t.equal(decodeLaunch(raw === undefined ? {} : { [WORKER_ENV]: raw }), null, label)
  }
  t.equal(decodeLaunch({ OTHER: encodeLaunch(inline) }), null, 'only WORKER_ENV is read')
})

function describe (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN'
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) !== Object.prototype &&
    !Array.isArray(value)) return 'an object inheriting our envelope'
  return JSON.stringify(value)
}

t.test('unlisten round trip: the worker says it left the round-robin, the primary acknowledges', async (t) => {
  t.same(parseWorkerMessage(buildUnlisten()), { kind: 'ok', message: { type: 'unlisten' } })
  t.same(parsePrimaryMessage(buildUnlistenAck()), { kind: 'ok', message: { type: 'unlisten-ack' } })
  t.match(parsePrimaryMessage(buildUnlisten()), { kind: 'invalid', reason: /unknown type "unlisten"/ }, 'a worker message is not a primary one')
  t.match(parseWorkerMessage(buildUnlistenAck()), { kind: 'invalid', reason: /unknown type "unlisten-ack"/ })
})
