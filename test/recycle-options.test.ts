import t, { type Test } from 'tap'
import { parseStartArgs } from '../dist/lib/cli/start-args.js'
import { DEFAULTS, resolveOptions, type ClusterOptions, type OptionNames } from '../dist/lib/shared/options.js'

const INVALID = 'FST_CLUSTER_INVALID_OPTION'
const RANGE = 'FST_CLUSTER_OPTION_OUT_OF_RANGE'
const FLAG_VALUE = 'FST_CLUSTER_FLAG_VALUE'
const CORES = 4
const BASE: ClusterOptions = { appFile: 'app.js' }
const MB = 1024 ** 2

/** Resolves with an empty env and 4 cores, so nothing depends on the machine running the test. */
function resolve (input: Record<string, unknown>, names: OptionNames = {}) {
  return resolveOptions({ ...BASE, ...input } as ClusterOptions, names, {}, CORES)
}

function rejects (t: Test, input: Record<string, unknown>, code: string, message: RegExp | string): void {
  const Base = code === RANGE ? RangeError : TypeError
  const shown = Object.entries(input).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
  const err = t.throws(() => resolve(input), { code, message }, `{ ${shown.join(', ')} } → ${code}`)
  t.ok(err instanceof Base, `${code} is a ${Base.name}`)
}

t.test('defaults of the recycling options', async (t) => {
  const r = resolve({})
  t.equal(r.heartbeatTimeout, 5000)
  t.equal(r.maxHeapUsedBytes, 0, 'off')
  t.equal(r.maxRssBytes, 0, 'off')
  t.equal(r.maxEventLoopDelay, 0, 'off')
  t.equal(r.maxEventLoopUtilization, 0, 'off')
  t.equal(r.unhealthyChecks, 3)
  t.equal(r.recycleGracePeriod, 10_000)
  t.equal(r.maxConcurrentRecycles, 1)
  t.equal(r.recycleBudget, 3)
  t.equal(r.recycleBudgetWindow, 600_000)
  t.equal(r.recycleOnHealthCheck, false)
  t.equal(r.onWorkerUnhealthy, undefined)
  t.equal(DEFAULTS.heartbeatTimeout, 5000, 'DEFAULTS agrees')
})

t.test('heartbeatTimeout', async (t) => {
  t.equal(resolve({ heartbeatTimeout: '30s' }).heartbeatTimeout, 30_000)
  t.equal(resolve({ heartbeatTimeout: 2000 }).heartbeatTimeout, 2000, 'exactly 2 x the default sampleInterval')
  t.equal(resolve({ sampleInterval: '5s' }).heartbeatTimeout, 10_000, 'unset, it grows to 2 x a long sampleInterval')
  t.equal(resolve({ sampleInterval: '2s' }).heartbeatTimeout, 5000, 'unset, and 2 x sampleInterval is below the default: the default')
  t.equal(resolve({ sampleInterval: '5s', heartbeatTimeout: '10s' }).heartbeatTimeout, 10_000, 'given, exactly 2 x')

  rejects(t, { heartbeatTimeout: 1999 }, RANGE,
    /^heartbeatTimeout must be at least twice sampleInterval \(2000 ms\), .*received 1999$/)
  rejects(t, { sampleInterval: '5s', heartbeatTimeout: '8s' }, RANGE,
    /^heartbeatTimeout must be at least twice sampleInterval \(10000 ms\), .*received "8s"$/)
  t.throws(() => resolve({ sampleInterval: '2s', heartbeatTimeout: '3s' },
    { sampleInterval: '--sample-interval', heartbeatTimeout: '--heartbeat-timeout' }),
  { code: RANGE, message: /^--heartbeat-timeout must be at least twice --sample-interval \(4000 ms\)/ }, 'names as spelled')
  rejects(t, { heartbeatTimeout: 10 }, RANGE, /^heartbeatTimeout must be a duration from 20 .*, received 10$/)
  rejects(t, { heartbeatTimeout: 'soon' }, INVALID, /^heartbeatTimeout must be a duration .*, received "soon"$/)
})

t.test('maxHeapUsedBytes and maxRssBytes: sizes, 0 is off', async (t) => {
  for (const key of ['maxHeapUsedBytes', 'maxRssBytes'] as const) {
    t.equal(resolve({ [key]: '512MB' })[key], 536_870_912, `${key} "512MB"`)
    t.equal(resolve({ [key]: '1GB' })[key], 1024 * MB, `${key} "1GB"`)
    t.equal(resolve({ [key]: 1_000_000 })[key], 1_000_000, `${key} as bytes`)
    t.equal(resolve({ [key]: 0 })[key], 0, `${key} 0 (off)`)
    t.equal(resolve({ [key]: '0' })[key], 0, `${key} "0" (off)`)
    rejects(t, { [key]: -1 }, RANGE, new RegExp(`^${key} must be a size of at least 0 bytes .*, received -1$`))
    rejects(t, { [key]: 'lots' }, INVALID, new RegExp(`^${key} must be a size .*, received "lots"$`))
    rejects(t, { [key]: '512 parsecs' }, INVALID, new RegExp(`^${key} must be a size .*, received "512 parsecs"$`))
    rejects(t, { [key]: Number.NaN }, RANGE, new RegExp(`^${key} must be a size .*, received NaN$`))
    rejects(t, { [key]: true }, INVALID, new RegExp(`^${key} must be a size .*, received true$`))
  }
})

t.test('maxEventLoopDelay: a duration, 0 is off', async (t) => {
  t.equal(resolve({ maxEventLoopDelay: '200ms' }).maxEventLoopDelay, 200)
  t.equal(resolve({ maxEventLoopDelay: '1s' }).maxEventLoopDelay, 1000)
  t.equal(resolve({ maxEventLoopDelay: 150 }).maxEventLoopDelay, 150)
  t.equal(resolve({ maxEventLoopDelay: 0 }).maxEventLoopDelay, 0)
  rejects(t, { maxEventLoopDelay: -5 }, RANGE, /^maxEventLoopDelay must be a duration from 0 .*, received -5$/)
  rejects(t, { maxEventLoopDelay: 'slow' }, INVALID, /^maxEventLoopDelay must be a duration .*, received "slow"$/)
})

t.test('maxEventLoopUtilization: a ratio from 0 to 1', async (t) => {
  t.equal(resolve({ maxEventLoopUtilization: 0.9 }).maxEventLoopUtilization, 0.9)
  t.equal(resolve({ maxEventLoopUtilization: '0.9' }).maxEventLoopUtilization, 0.9, 'a decimal string, as from the CLI')
  t.equal(resolve({ maxEventLoopUtilization: 0 }).maxEventLoopUtilization, 0, '0 (off)')
  t.equal(resolve({ maxEventLoopUtilization: 1 }).maxEventLoopUtilization, 1, '1 is allowed')
  t.equal(resolve({ maxEventLoopUtilization: '1' }).maxEventLoopUtilization, 1)
  const allowed = /^maxEventLoopUtilization must be a number from 0 to 1 \(0 = off\), received /
  const range = (value: unknown, shown: string): void =>
    rejects(t, { maxEventLoopUtilization: value }, RANGE, new RegExp(allowed.source + escape(shown) + '$'))
  const invalid = (value: unknown, shown: string): void =>
    rejects(t, { maxEventLoopUtilization: value }, INVALID, new RegExp(allowed.source + escape(shown) + '$'))
  range(1.5, '1.5')
  range('1.5', '"1.5"')
  range(-0.1, '-0.1')
  range(Number.NaN, 'NaN')
  range(Infinity, 'Infinity')
  invalid('high', '"high"')
  invalid('90%', '"90%"')
  invalid('', '""')
  invalid(true, 'true')
  invalid(null, 'null')
})

t.test('unhealthyChecks, recycleGracePeriod, maxConcurrentRecycles, recycleBudget, recycleBudgetWindow', async (t) => {
  t.equal(resolve({ unhealthyChecks: 3 }).unhealthyChecks, 3)
  t.equal(resolve({ unhealthyChecks: '5' }).unhealthyChecks, 5)
  t.equal(resolve({ unhealthyChecks: 1 }).unhealthyChecks, 1, '1: the first bad sample')
  rejects(t, { unhealthyChecks: 0 }, RANGE, /^unhealthyChecks must be an integer from 1 to \d+, received 0$/)
  rejects(t, { unhealthyChecks: 2.5 }, RANGE, /^unhealthyChecks must be an integer .*, received 2\.5$/)
  rejects(t, { unhealthyChecks: 'three' }, INVALID, /^unhealthyChecks must be an integer .*, received "three"$/)

  t.equal(resolve({ recycleGracePeriod: 0 }).recycleGracePeriod, 0, 'no grace period')
  t.equal(resolve({ recycleGracePeriod: '1m' }).recycleGracePeriod, 60_000)
  rejects(t, { recycleGracePeriod: -1 }, RANGE, /^recycleGracePeriod must be a duration from 0 .*, received -1$/)

  t.equal(resolve({ maxConcurrentRecycles: '2' }).maxConcurrentRecycles, 2)
  rejects(t, { maxConcurrentRecycles: 0 }, RANGE, /^maxConcurrentRecycles must be an integer from 1 to \d+, received 0$/)
  rejects(t, { maxConcurrentRecycles: 'all' }, INVALID, /^maxConcurrentRecycles must be an integer .*, received "all"$/)

  t.equal(resolve({ recycleBudget: 0 }).recycleBudget, 0, '0: threshold recycles off, the watchdog still on')
  t.equal(resolve({ recycleBudget: '10' }).recycleBudget, 10)
  rejects(t, { recycleBudget: -1 }, RANGE, /^recycleBudget must be an integer from 0 to \d+, received -1$/)

  t.equal(resolve({ recycleBudgetWindow: '1h' }).recycleBudgetWindow, 3_600_000)
  t.equal(resolve({ recycleBudgetWindow: 1 }).recycleBudgetWindow, 1)
  rejects(t, { recycleBudgetWindow: 0 }, RANGE, /^recycleBudgetWindow must be a duration from 1 .*, received 0$/)
  rejects(t, { recycleBudgetWindow: '1d' }, INVALID, /^recycleBudgetWindow must be a duration .*, received "1d"$/)
})

t.test('recycleOnHealthCheck must be a boolean, onWorkerUnhealthy a function', async (t) => {
  t.equal(resolve({ recycleOnHealthCheck: true }).recycleOnHealthCheck, true)
  t.equal(resolve({ recycleOnHealthCheck: false }).recycleOnHealthCheck, false)
  rejects(t, { recycleOnHealthCheck: 'true' }, INVALID, /^recycleOnHealthCheck must be true or false, received "true"$/)
  rejects(t, { recycleOnHealthCheck: 1 }, INVALID, /^recycleOnHealthCheck must be true or false, received 1$/)
  rejects(t, { recycleOnHealthCheck: null }, INVALID, /^recycleOnHealthCheck must be true or false, received null$/)

  const hook = (): boolean => false
  t.equal(resolve({ onWorkerUnhealthy: hook }).onWorkerUnhealthy, hook, 'the function is kept as is')
  rejects(t, { onWorkerUnhealthy: 'veto' }, INVALID, /^onWorkerUnhealthy must be a function, received "veto"$/)
  rejects(t, { onWorkerUnhealthy: {} }, INVALID, /^onWorkerUnhealthy must be a function, received an object$/)
  rejects(t, { onWorkerUnhealthy: false }, INVALID, /^onWorkerUnhealthy must be a function, received false$/)
  t.throws(() => resolve({ onWorkerUnhelthy: hook }), { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: /did you mean "onWorkerUnhealthy"\?/ })
  t.throws(() => resolve({ maxRss: '1GB' }), { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: /^unknown option "maxRss"/ })
})

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseStartArgs(argv, env)

t.test('CLI: the recycling flags become options', async (t) => {
  const rss = parse(['--max-rss', '512MB', 'app.js'])
  t.equal(rss.options.maxRssBytes, '512MB', 'the raw string: resolveOptions validates it')
  t.equal(rss.names.maxRssBytes, '--max-rss')
  t.same(rss.options.fastifyArgs, [])
  t.equal(resolveOptions(rss.options, rss.names, {}, CORES).maxRssBytes, 536_870_912, 'and it resolves to bytes')

  const hb = parse(['--heartbeat-timeout', '1s', '--sample-interval', '250ms', 'app.js'])
  t.equal(hb.options.heartbeatTimeout, '1s')
  t.equal(hb.names.heartbeatTimeout, '--heartbeat-timeout')
  t.equal(resolveOptions(hb.options, hb.names, {}, CORES).heartbeatTimeout, 1000)
  const tooShort = parse(['--heartbeat-timeout', '1s', 'app.js'])
  t.throws(() => resolveOptions(tooShort.options, tooShort.names, {}, CORES),
    { code: RANGE, message: /^--heartbeat-timeout must be at least twice sampleInterval \(2000 ms\), .*received "1s"$/ },
    'errors name the flag the user typed')
  const lots = parse(['--max-heap-used', 'lots', 'app.js'])
  t.throws(() => resolveOptions(lots.options, lots.names, {}, CORES), { code: INVALID, message: /^--max-heap-used must be a size/ })

  const all = parse(['--max-heap-used=256MB', '--max-event-loop-delay', '200ms', '--max-event-loop-utilization', '0.95',
    '--unhealthy-checks', '5', '--recycle-grace-period', '0', '--max-concurrent-recycles', '2', '--recycle-budget', '0',
    '--recycle-budget-window', '1h', 'app.js'])
  t.same(all.options, {
    appFile: 'app.js',
    maxHeapUsedBytes: '256MB',
    maxEventLoopDelay: '200ms',
    maxEventLoopUtilization: '0.95',
    unhealthyChecks: '5',
    recycleGracePeriod: '0',
    maxConcurrentRecycles: '2',
    recycleBudget: '0',
    recycleBudgetWindow: '1h',
    fastifyArgs: []
  }, 'every threshold and limit flag')
  const r = resolveOptions(all.options, all.names, {}, CORES)
  t.same([r.maxHeapUsedBytes, r.maxEventLoopDelay, r.maxEventLoopUtilization, r.unhealthyChecks, r.recycleGracePeriod,
    r.maxConcurrentRecycles, r.recycleBudget, r.recycleBudgetWindow], [256 * MB, 200, 0.95, 5, 0, 2, 0, 3_600_000], 'resolved')
})

t.test('CLI: --recycle-on-health-check is a boolean flag', async (t) => {
  const on = parse(['--recycle-on-health-check', 'app.js'])
  t.equal(on.options.recycleOnHealthCheck, true, 'bare: true')
  t.equal(on.options.appFile, 'app.js', 'the next argument is the app file, not the flag\'s value')
  t.equal(on.names.recycleOnHealthCheck, '--recycle-on-health-check')
  t.same(on.options.fastifyArgs, [])
  t.equal(resolveOptions(on.options, on.names, {}, CORES).recycleOnHealthCheck, true, 'and it resolves')
  t.equal(parse(['--recycle-on-health-check', 'false', 'app.js']).options.recycleOnHealthCheck, false, '"false" as the next argument')
  t.equal(parse(['--recycle-on-health-check=0', 'app.js']).options.recycleOnHealthCheck, false, '=0')
  t.equal(parse(['--recycle-on-health-check=1', 'app.js']).options.recycleOnHealthCheck, true, '=1')
  t.equal(parse(['app.js']).options.recycleOnHealthCheck, undefined, 'absent: left to the default')
  t.throws(() => parse(['--recycle-on-health-check=yes', 'app.js']),
    { code: FLAG_VALUE, message: '--recycle-on-health-check takes no value or true/false/1/0, received "yes"' })
})

t.test('CLI: FASTIFY_RECYCLE_ON_HEALTH_CHECK', async (t) => {
  const env = (value: string) => parse(['app.js'], { FASTIFY_RECYCLE_ON_HEALTH_CHECK: value })
  t.equal(env('1').options.recycleOnHealthCheck, true, '"1"')
  t.equal(env('1').names.recycleOnHealthCheck, 'FASTIFY_RECYCLE_ON_HEALTH_CHECK')
  t.equal(env('true').options.recycleOnHealthCheck, true, '"true"')
  t.equal(env('0').options.recycleOnHealthCheck, false, '"0"')
  t.equal(env('false').options.recycleOnHealthCheck, false, '"false"')
  t.equal(resolveOptions(env('1').options, env('1').names, {}, CORES).recycleOnHealthCheck, true, 'a boolean reaches resolveOptions')
  const err = t.throws(() => env('yes'),
    { code: FLAG_VALUE, message: 'FASTIFY_RECYCLE_ON_HEALTH_CHECK must be true, false, 1 or 0, received "yes"' })
  t.ok(err instanceof TypeError, 'a TypeError')
  t.throws(() => env('TRUE'), { code: FLAG_VALUE }, 'case matters: "TRUE"')
  const flagWins = parse(['--recycle-on-health-check=false', 'app.js'], { FASTIFY_RECYCLE_ON_HEALTH_CHECK: '1' })
  t.equal(flagWins.options.recycleOnHealthCheck, false, 'the flag beats the env var')
  t.equal(flagWins.names.recycleOnHealthCheck, '--recycle-on-health-check')
  const fromEnv = parse(['app.js'], { FASTIFY_MAX_RSS: '1GB', FASTIFY_HEARTBEAT_TIMEOUT: '10s' })
  t.same([fromEnv.options.maxRssBytes, fromEnv.options.heartbeatTimeout], ['1GB', '10s'], 'the other env vars too')
  t.same([fromEnv.names.maxRssBytes, fromEnv.names.heartbeatTimeout], ['FASTIFY_MAX_RSS', 'FASTIFY_HEARTBEAT_TIMEOUT'])
})

t.test('CLI: the recycling flags are not passed to fastify-cli', async (t) => {
  const { options } = parse(['--heartbeat-timeout', '1s', '-p', '0', '--max-rss=1GB', '--recycle-on-health-check', 'true',
    '-o', '--max-event-loop-utilization', '0.9', 'app.js', '--recycle-grace-period', '5s', '--', '--max-rss', 'mine'])
  t.same(options.fastifyArgs, ['-p', '0', '-o', '--', '--max-rss', 'mine'],
    'only fastify-cli flags and the plugin options after -- are left')
  t.equal(options.recycleOnHealthCheck, true)
  t.equal(options.recycleGracePeriod, '5s', 'a flag after the app file')
  t.equal(options.maxRssBytes, '1GB', 'a --max-rss after -- is the plugin\'s, not ours')
})

t.test('CLI: env vars of fastify-cli\'s own boolean flags are fastify-cli\'s business', async (t) => {
  // fastify-cli reads FASTIFY_OPTIONS and friends itself in each worker (any value but "true" is false); before the
  // boolean check for --recycle-on-health-check, parseStartArgs ignored them.
  t.doesNotThrow(() => parse(['app.js'], { FASTIFY_OPTIONS: '' }), 'an empty FASTIFY_OPTIONS (as from "FASTIFY_OPTIONS=" in .env)')
  t.doesNotThrow(() => parse(['app.js'], { FASTIFY_PRETTY_LOGS: 'yes' }), 'FASTIFY_PRETTY_LOGS=yes is for fastify-cli to read')
})

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
