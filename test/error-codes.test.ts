import t from 'tap'
import * as errors from '../dist/lib/shared/errors.js'
import { errorCodes } from '../dist/lib/index.js'

type ErrorClass = new (...args: unknown[]) => Error & { code: string, statusCode?: number }

const entries = Object.entries(errors) as Array<[string, ErrorClass]>

t.test('every export is an error whose code is its key', async (t) => {
  t.ok(entries.length >= 10, `errors.js exports ${entries.length} errors`)
  for (const [key, E] of entries) {
    t.type(E, 'function', `${key} is a constructor`)
    const err = new E('a', 'b', 'c')
    t.ok(err instanceof Error, `${key} builds an Error`)
    t.equal(err.code, key, `${key}: the key equals the code`)
    t.match(err.code, /^FST_CLUSTER_[A-Z_]+$/, `${key}: the code has our prefix`)
    t.notMatch(err.message, /%[sd]/, `${key}: the message template takes the arguments it is given`)
  }
})

t.test('option errors have TypeError or RangeError as their base class', async (t) => {
  t.ok(new errors.FST_CLUSTER_INVALID_OPTION('workers', 'a number', '"x"') instanceof TypeError)
  t.ok(new errors.FST_CLUSTER_OPTION_OUT_OF_RANGE('workers', 'a number', '0') instanceof RangeError)
  t.ok(new errors.FST_CLUSTER_UNKNOWN_OPTION('worker', '') instanceof TypeError)
  t.equal(new errors.FST_CLUSTER_INVALID_OPTION('workers', 'a positive integer', '"abc"').message,
    'workers must be a positive integer, received "abc"', 'the message template')
})

t.test('wrapping errors keep the original as cause', async (t) => {
  const cause = new Error('boom')
  t.equal(new errors.FST_CLUSTER_WORKER_BOOT('boom', { cause }).cause, cause)
  t.equal(new errors.FST_CLUSTER_APP_NOT_FOUND('missing', { cause }).cause, cause)
})

t.test('errorCodes in the public entry holds exactly these errors', async (t) => {
  t.same(Object.keys(errorCodes).sort(), Object.keys(errors).sort(), 'the same codes')
  for (const [key, E] of entries) {
    t.equal((errorCodes as Record<string, unknown>)[key], E, `${key} is the same class`)
  }
})
