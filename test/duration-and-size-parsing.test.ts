import t, { type Test } from 'tap'
import { MAX_TIMER_MS, parseDuration, parseInteger, parseSize } from '../dist/lib/shared/units.js'

const INVALID = 'FST_CLUSTER_INVALID_OPTION'
const RANGE = 'FST_CLUSTER_OPTION_OUT_OF_RANGE'

/** Asserts a coded error whose message names the input and quotes the value, with the right base class. */
function rejects (t: Test, fn: () => unknown, code: string, received: string, name = 'drainDelay'): void {
  const Base = code === RANGE ? RangeError : TypeError
  const err = t.throws(fn, { code, message: new RegExp(`^${escape(name)} must be .*, received ${escape(received)}$`) },
    `${code}: ${name}, received ${received}`)
  t.ok(err instanceof Base, `${code} is a ${Base.name}`)
}

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

t.test('parseDuration', async (t) => {
  t.test('accepts units and bare numbers, returns whole ms', async (t) => {
    t.equal(parseDuration('d', '500ms'), 500)
    t.equal(parseDuration('d', '10s'), 10_000)
    t.equal(parseDuration('d', '2m'), 120_000)
    t.equal(parseDuration('d', '1h'), 3_600_000)
    t.equal(parseDuration('d', '1.5s'), 1500, 'decimals')
    t.equal(parseDuration('d', '10S'), 10_000, 'units are case-insensitive')
    t.equal(parseDuration('d', ' 10s '), 10_000, 'surrounding blanks are ignored')
    t.equal(parseDuration('d', '250'), 250, 'a bare numeric string is ms')
    t.equal(parseDuration('d', 250), 250, 'a number is ms')
    t.equal(parseDuration('d', 10.6), 11, 'rounds to whole ms')
    t.equal(parseDuration('d', '0.4'), 0, 'rounds down below half a ms')
  })

  t.test('0 is allowed by default and rejected by min', async (t) => {
    t.equal(parseDuration('drainDelay', 0), 0)
    t.equal(parseDuration('drainDelay', '0s'), 0)
    rejects(t, () => parseDuration('startupTimeout', 0, { min: 1 }), RANGE, '0', 'startupTimeout')
    rejects(t, () => parseDuration('startupTimeout', '0ms', { min: 1 }), RANGE, '"0ms"', 'startupTimeout')
  })

  t.test('the max bound and the timer limit', async (t) => {
    t.equal(parseDuration('d', MAX_TIMER_MS), 2 ** 31 - 1, '2^31-1 ms is the largest timer')
    rejects(t, () => parseDuration('drainDelay', MAX_TIMER_MS + 1), RANGE, '2147483648')
    rejects(t, () => parseDuration('drainDelay', '2147483648'), RANGE, '"2147483648"')
    rejects(t, () => parseDuration('drainDelay', '600h'), RANGE, '"600h"')
    rejects(t, () => parseDuration('drainDelay', 2 ** 40, { max: 2 ** 50 }), RANGE, String(2 ** 40))
    t.match(t.throws(() => parseDuration('d', 2 ** 31, { max: 2 ** 50 })), { message: /to 2147483647 ms/ },
      'a max above the timer limit is clamped to it, and the message says so')
    rejects(t, () => parseDuration('drainDelay', '1s', { max: 100 }), RANGE, '"1s"')
    t.equal(parseDuration('d', '100ms', { max: 100 }), 100, 'the max itself is allowed')
  })

  t.test('negative, NaN and Infinity are out of range', async (t) => {
    rejects(t, () => parseDuration('drainDelay', -1), RANGE, '-1')
    rejects(t, () => parseDuration('drainDelay', Number.NaN), RANGE, 'NaN')
    rejects(t, () => parseDuration('drainDelay', Infinity), RANGE, 'Infinity')
    rejects(t, () => parseDuration('drainDelay', -Infinity), RANGE, '-Infinity')
    // The string grammar has no sign, so a negative string is malformed rather than out of range.
    rejects(t, () => parseDuration('drainDelay', '-1s'), INVALID, '"-1s"')
  })

  t.test('malformed strings are invalid', async (t) => {
    rejects(t, () => parseDuration('drainDelay', ''), INVALID, '""')
    rejects(t, () => parseDuration('drainDelay', 'abc'), INVALID, '"abc"')
    rejects(t, () => parseDuration('drainDelay', '10 parsecs'), INVALID, '"10 parsecs"')
    rejects(t, () => parseDuration('drainDelay', '1d'), INVALID, '"1d"')
    rejects(t, () => parseDuration('drainDelay', 'ms'), INVALID, '"ms"')
    rejects(t, () => parseDuration('drainDelay', '1e3'), INVALID, '"1e3"')
    rejects(t, () => parseDuration('drainDelay', '.5s'), INVALID, '".5s"')
    rejects(t, () => parseDuration('drainDelay', '10MB'), INVALID, '"10MB"', 'drainDelay')
  })

  t.test('non-string, non-number values are invalid', async (t) => {
    rejects(t, () => parseDuration('drainDelay', null), INVALID, 'null')
    rejects(t, () => parseDuration('drainDelay', undefined), INVALID, 'undefined')
    rejects(t, () => parseDuration('drainDelay', {}), INVALID, 'an object')
    rejects(t, () => parseDuration('drainDelay', []), INVALID, 'an array')
    rejects(t, () => parseDuration('drainDelay', true), INVALID, 'true')
    rejects(t, () => parseDuration('drainDelay', () => 1), INVALID, 'a function')
  })

  t.test('the message names the input as the user spelled it and says what is allowed', async (t) => {
    t.throws(() => parseDuration('--drain-delay', 'soon'),
      { message: /^--drain-delay must be a duration from 0 to 2147483647 ms \(.*"10s".*\), received "soon"$/ })
    t.throws(() => parseDuration('FASTIFY_DRAIN_DELAY', 'soon'), { message: /^FASTIFY_DRAIN_DELAY must be/ })
  })
})

t.test('parseSize', async (t) => {
  t.test('accepts units and bare numbers, KB = KiB = 1024', async (t) => {
    t.equal(parseSize('s', '512MB'), 512 * 1024 ** 2)
    t.equal(parseSize('s', '1GB'), 1024 ** 3)
    t.equal(parseSize('s', '64KiB'), 64 * 1024)
    t.equal(parseSize('s', '64KB'), 64 * 1024)
    t.equal(parseSize('s', '2MiB'), 2 * 1024 ** 2)
    t.equal(parseSize('s', '1gib'), 1024 ** 3, 'case-insensitive')
    t.equal(parseSize('s', '1.5KB'), 1536, 'decimals')
    t.equal(parseSize('s', '10B'), 10)
    t.equal(parseSize('s', '10'), 10, 'a bare numeric string is bytes')
    t.equal(parseSize('s', 4096), 4096, 'a number is bytes')
  })

  t.test('0 is rejected by default, allowed with min 0', async (t) => {
    rejects(t, () => parseSize('maxHeap', 0), RANGE, '0', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', '0MB'), RANGE, '"0MB"', 'maxHeap')
    t.equal(parseSize('maxHeap', 0, { min: 0 }), 0)
    t.equal(parseSize('maxHeap', '0MB', { min: 0 }), 0)
  })

  t.test('bounds, negative, NaN and Infinity', async (t) => {
    rejects(t, () => parseSize('maxHeap', -1), RANGE, '-1', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', Number.NaN), RANGE, 'NaN', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', Infinity), RANGE, 'Infinity', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', 2 ** 53), RANGE, String(2 ** 53), 'maxHeap')
    rejects(t, () => parseSize('maxHeap', '9999999999999GB'), RANGE, '"9999999999999GB"', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', '2KB', { max: 1024 }), RANGE, '"2KB"', 'maxHeap')
    t.equal(parseSize('maxHeap', '1KB', { max: 1024 }), 1024, 'the max itself is allowed')
  })

  t.test('malformed and wrong-typed values are invalid', async (t) => {
    rejects(t, () => parseSize('maxHeap', ''), INVALID, '""', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', 'abc'), INVALID, '"abc"', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', '10 parsecs'), INVALID, '"10 parsecs"', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', '1TB'), INVALID, '"1TB"', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', '10s'), INVALID, '"10s"', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', null), INVALID, 'null', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', {}), INVALID, 'an object', 'maxHeap')
    rejects(t, () => parseSize('maxHeap', []), INVALID, 'an array', 'maxHeap')
  })
})

t.test('parseInteger', async (t) => {
  t.equal(parseInteger('n', 4, 0, 10), 4)
  t.equal(parseInteger('n', '4', 0, 10), 4, 'a decimal string')
  t.equal(parseInteger('n', 0, 0, 10), 0, 'min is inclusive')
  t.equal(parseInteger('n', '10', 0, 10), 10, 'max is inclusive')
  rejects(t, () => parseInteger('n', 0, 1, 10), RANGE, '0', 'n')
  rejects(t, () => parseInteger('n', 11, 0, 10), RANGE, '11', 'n')
  rejects(t, () => parseInteger('n', -1, 0, 10), RANGE, '-1', 'n')
  rejects(t, () => parseInteger('n', '-2', 0, 10), RANGE, '"-2"', 'n')
  rejects(t, () => parseInteger('n', 4.5, 0, 10), RANGE, '4.5', 'n')
  rejects(t, () => parseInteger('n', '4.5', 0, 10), RANGE, '"4.5"', 'n')
  rejects(t, () => parseInteger('n', Number.NaN, 0, 10), RANGE, 'NaN', 'n')
  rejects(t, () => parseInteger('n', Infinity, 0, 10), RANGE, 'Infinity', 'n')
  rejects(t, () => parseInteger('n', '', 0, 10), INVALID, '""', 'n')
  rejects(t, () => parseInteger('n', ' 4 ', 0, 10), INVALID, '" 4 "', 'n')
  rejects(t, () => parseInteger('n', 'abc', 0, 10), INVALID, '"abc"', 'n')
  rejects(t, () => parseInteger('n', '80abc', 0, 10), INVALID, '"80abc"', 'n')
  rejects(t, () => parseInteger('n', '0x10', 0, 100), INVALID, '"0x10"', 'n')
  rejects(t, () => parseInteger('n', '1e3', 0, 10_000), INVALID, '"1e3"', 'n')
  rejects(t, () => parseInteger('n', null, 0, 10), INVALID, 'null', 'n')
  rejects(t, () => parseInteger('n', {}, 0, 10), INVALID, 'an object', 'n')
  rejects(t, () => parseInteger('n', [], 0, 10), INVALID, 'an array', 'n')
  t.throws(() => parseInteger('--port', '80abc', 0, 65535),
    { message: '--port must be an integer from 0 to 65535, received "80abc"' }, 'the whole message')
})
