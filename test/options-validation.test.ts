import t, { type Test } from 'tap'
import { DEFAULTS, MAX_WORKERS, resolveOptions, type ClusterOptions } from '../dist/lib/shared/options.js'

const INVALID = 'FST_CLUSTER_INVALID_OPTION'
const RANGE = 'FST_CLUSTER_OPTION_OUT_OF_RANGE'
const CORES = 6
const BASE: ClusterOptions = { appFile: 'app.js' }

/** Resolves with a fixed env and core count, so nothing depends on the machine running the test. */
const INLINE_BASE = { app: async () => {} }
const INLINE_ONLY = ['port', 'host', 'appOptions', 'serverOptions']

/** Inline-only options (port, host, ...) are tested on an inline app: with appFile they are a conflict. */
function resolve (input: Record<string, unknown>, names = {}, env: NodeJS.ProcessEnv = {}) {
  const base = INLINE_ONLY.some((k) => k in input) ? INLINE_BASE : BASE
  return resolveOptions({ ...base, ...input } as ClusterOptions, names, env, CORES)
}

function rejects (t: Test, input: Record<string, unknown>, code: string, message: RegExp, env: NodeJS.ProcessEnv = {}): void {
  const Base = code === RANGE ? RangeError : TypeError
  const shown = Object.entries(input).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
  const err = t.throws(() => resolve(input, {}, env), { code, message }, `{ ${shown.join(', ')} } → ${code}`)
  t.ok(err instanceof Base, `${code} is a ${Base.name}`)
}

t.test('workers', async (t) => {
  t.equal(resolve({}).workers, CORES, 'defaults to the number of cores')
  t.equal(resolve({ workers: undefined }).workers, CORES, 'undefined is the default')
  t.equal(resolve({ workers: 'max' }).workers, CORES, '"max" is the number of cores')
  t.equal(resolveOptions({ ...BASE, workers: 'max' }, {}, {}, 3).workers, 3, '"max" follows the cores argument')
  t.equal(resolve({ workers: 4 }).workers, 4)
  t.equal(resolve({ workers: '4' }).workers, 4, 'a numeric string, as from the CLI')
  t.equal(resolve({ workers: 1 }).workers, 1)
  t.equal(resolve({ workers: MAX_WORKERS }).workers, MAX_WORKERS)

  const allowed = /^workers must be a positive integer up to 1024 or "max", received /
  const range = (value: unknown, shown: string): void =>
    rejects(t, { workers: value }, RANGE, new RegExp(allowed.source + escape(shown) + '$'))
  const invalid = (value: unknown, shown: string): void =>
    rejects(t, { workers: value }, INVALID, new RegExp(allowed.source + escape(shown) + '$'))
  range(0, '0')
  range(-1, '-1')
  range(1.5, '1.5')
  range(Number.NaN, 'NaN')
  range(Infinity, 'Infinity')
  range(100_000, '100000')
  range(MAX_WORKERS + 1, '1025')
  range('4.5', '"4.5"')
  range('-2', '"-2"')
  range('0', '"0"')
  invalid('abc', '"abc"')
  invalid('', '""')
  invalid(' 4 ', '" 4 "')
  invalid('MAX', '"MAX"')
  invalid('1e2', '"1e2"')
  invalid(true, 'true')
  invalid({}, 'an object')
  invalid([4], 'an array')
  t.throws(() => resolve({ workers: null }), { code: INVALID, message: /^workers must be .*, received null$/ },
    'workers: null is rejected like any other non-number')
})

t.test('unknown keys are rejected with a suggestion', async (t) => {
  const err = t.throws(() => resolve({ worker: 2 }),
    { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: 'unknown option "worker" (did you mean "workers"?)' })
  t.ok(err instanceof TypeError, 'a TypeError')
  t.throws(() => resolve({ drainDelya: 1 }), { message: /did you mean "drainDelay"\?/ })
  t.throws(() => resolve({ onWorkerExt: () => {} }), { message: /did you mean "onWorkerExit"\?/ })
  t.throws(() => resolve({ zzzzzzzzzzzz: 1 }), { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: /^unknown option "zzzzzzzzzzzz"$/ },
    'no suggestion when nothing is close')
  t.throws(() => resolveOptions(JSON.parse('{"appFile":"a.js","__proto__":{"workers":1}}'), {}, {}, CORES),
    { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: /"__proto__"/ }, 'a JSON __proto__ key is an unknown option')
  t.equal(({} as Record<string, unknown>).workers, undefined, 'and Object.prototype is untouched')
})

t.test('options must be an object', async (t) => {
  for (const [value, shown] of [[null, 'null'], [[], 'an array'], ['app.js', '"app.js"'], [undefined, 'undefined']] as const) {
    t.throws(() => resolveOptions(value as unknown as ClusterOptions, {}, {}, CORES),
      { code: INVALID, message: `options must be an object, received ${shown}` })
  }
})

t.test('appFile and app', async (t) => {
  const app = async (): Promise<void> => {}
  const conflict = 'FST_CLUSTER_CONFLICTING_OPTIONS'
  t.throws(() => resolveOptions({ appFile: 'app.js', app }, {}, {}, CORES),
    { code: conflict, message: /appFile and app cannot be used together/ }, 'both')
  t.throws(() => resolveOptions({}, {}, {}, CORES), { code: conflict, message: /one of appFile .* or app .* is required/ }, 'neither')
  t.equal(resolveOptions({ app }, {}, {}, CORES).app, app, 'an inline app alone')
  t.equal(resolveOptions({ app }, {}, {}, CORES).appFile, undefined)
  t.throws(() => resolveOptions({ appFile: '' }, {}, {}, CORES),
    { code: INVALID, message: 'appFile must be a non-empty path, received ""' })
  t.throws(() => resolveOptions({ appFile: 42 as unknown as string }, {}, {}, CORES),
    { code: INVALID, message: 'appFile must be a non-empty path, received 42' })
  t.throws(() => resolveOptions({ app: 'app.js' as unknown as typeof app }, {}, {}, CORES),
    { code: INVALID, message: 'app must be a Fastify plugin function, received "app.js"' })
})

t.test('durations', async (t) => {
  const r = resolve({ drainDelay: '5s', workerStopTimeout: '2m', restartDelay: 250, maxRestartDelay: '1m' })
  t.equal(r.drainDelay, 5000)
  t.equal(r.workerStopTimeout, 120_000)
  t.equal(r.restartDelay, 250)
  t.equal(r.maxRestartDelay, 60_000)
  t.equal(resolve({ drainDelay: 0 }).drainDelay, 0, 'drainDelay may be 0')
  t.equal(resolve({ restartDelay: 0 }).restartDelay, 0, 'restartDelay may be 0')

  rejects(t, { drainDelay: 'abc' }, INVALID, /^drainDelay must be a duration .*, received "abc"$/)
  rejects(t, { drainDelay: -1 }, RANGE, /^drainDelay must be a duration from 0 .*, received -1$/)
  rejects(t, { startupTimeout: 0 }, RANGE, /^startupTimeout must be a duration from 1 .*, received 0$/)
  rejects(t, { workerStopTimeout: '0s' }, RANGE, /^workerStopTimeout must be a duration from 1 .*, received "0s"$/)
  rejects(t, { forceKillDelay: 0 }, RANGE, /^forceKillDelay must be a duration from 1 /)
  rejects(t, { sampleInterval: 5 }, RANGE, /^sampleInterval must be a duration from 10 .*, received 5$/)
  rejects(t, { stableUptime: Number.NaN }, RANGE, /^stableUptime must be .*, received NaN$/)
  rejects(t, { crashLoopWindow: '1d' }, INVALID, /^crashLoopWindow must be .*, received "1d"$/)
  rejects(t, { startupTimeout: 2 ** 31 }, RANGE, /^startupTimeout must be .*, received 2147483648$/)
  rejects(t, { restartDelay: {} }, INVALID, /^restartDelay must be .*, received an object$/)

  t.equal(resolve({ crashLoopLimit: '3' }).crashLoopLimit, 3)
  rejects(t, { crashLoopLimit: 0 }, RANGE, /^crashLoopLimit must be an integer from 1 to 10000, received 0$/)
  rejects(t, { crashLoopLimit: 'five' }, INVALID, /^crashLoopLimit must be an integer .*, received "five"$/)
})

t.test('maxRestartDelay must not be below restartDelay', async (t) => {
  rejects(t, { restartDelay: 1000, maxRestartDelay: 500 }, RANGE,
    /^maxRestartDelay must be at least restartDelay \(1000 ms\), received 500$/)
  t.equal(resolve({ restartDelay: 1000, maxRestartDelay: '1s' }).maxRestartDelay, 1000, 'equal is fine')
  t.throws(() => resolve({ restartDelay: '20s' }),
    { code: RANGE, message: /^maxRestartDelay must be at least restartDelay \(20000 ms\), received 15000/ },
    'when only restartDelay is given, the message quotes the maxRestartDelay in effect')
})

t.test('drainDelay + workerStopTimeout + forceKillDelay must fit one timer', async (t) => {
  const total = 2 ** 31 - 1 - DEFAULTS.workerStopTimeout - DEFAULTS.forceKillDelay
  t.equal(resolve({ drainDelay: total }).drainDelay, total, 'exactly 2^31-1 in total is allowed')
  rejects(t, { drainDelay: total + 1 }, RANGE,
    /^drainDelay \+ workerStopTimeout \+ forceKillDelay must be at most 2147483647 ms in total, received 2147483648$/)
  t.throws(() => resolve({ drainDelay: '500h', workerStopTimeout: '100h' }, { drainDelay: '--drain-delay' }),
    { code: RANGE, message: /^--drain-delay \+ workerStopTimeout \+ forceKillDelay must be/ }, 'names as spelled')
})

t.test('port', async (t) => {
  t.equal(resolve({}).port, 3000, 'defaults to 3000 without PORT')
  t.equal(resolve({}, {}, { PORT: '8080' }).port, 8080, 'env PORT when port is not given')
  t.equal(resolve({}, {}, { PORT: '' }).port, 3000, 'an empty PORT is ignored')
  t.equal(resolve({ port: 0 }, {}, { PORT: '8080' }).port, 0, 'port beats PORT, and 0 is allowed')
  t.equal(resolve({ port: '65535' }).port, 65535)
  rejects(t, { port: -1 }, RANGE, /^port must be an integer from 0 to 65535, received -1$/)
  rejects(t, { port: 65536 }, RANGE, /^port must be an integer from 0 to 65535, received 65536$/)
  rejects(t, { port: '80abc' }, INVALID, /^port must be an integer from 0 to 65535, received "80abc"$/)
  rejects(t, { port: 80.5 }, RANGE, /received 80\.5$/)
  rejects(t, {}, INVALID, /must be an integer from 0 to 65535, received "abc"$/, { PORT: 'abc' })
  t.throws(() => resolve({}, {}, { PORT: 'abc' }), { message: /^PORT must be/ },
    'a bad env PORT is named PORT, the input the user wrote')
})

t.test('names map changes the name in the message', async (t) => {
  t.throws(() => resolve({ workers: 'abc' }, { workers: 'FASTIFY_WORKERS' }),
    { code: INVALID, message: 'FASTIFY_WORKERS must be a positive integer up to 1024 or "max", received "abc"' })
  t.throws(() => resolve({ workers: '0' }, { workers: '--workers' }), { code: RANGE, message: /^--workers must be/ })
  t.throws(() => resolve({ drainDelay: 'x' }, { drainDelay: '--drain-delay' }), { message: /^--drain-delay must be/ })
  t.throws(() => resolve({ port: 'x' }, { port: '--port' }), { message: /^--port must be/ })
  t.throws(() => resolve({ maxRestartDelay: 1, restartDelay: 2 }, { maxRestartDelay: '--max-restart-delay', restartDelay: '--restart-delay' }),
    { message: /^--max-restart-delay must be at least --restart-delay \(2 ms\)/ })
  t.throws(() => resolve({ workers: 'abc' }, { drainDelay: '--drain-delay' }), { message: /^workers must be/ },
    'an unrelated name changes nothing')
})

t.test('defaults, types and freezing', async (t) => {
  const r = resolve({})
  t.ok(Object.isFrozen(r), 'the result is frozen')
  t.ok(Object.isFrozen(r.fastifyArgs), 'fastifyArgs is frozen')
  t.ok(Object.isFrozen(r.appOptions), 'appOptions is frozen')
  t.ok(Object.isFrozen(DEFAULTS), 'DEFAULTS is frozen')
  for (const [key, value] of Object.entries(DEFAULTS)) {
    t.same(r[key as keyof typeof r], value, `default ${key}`)
  }
  t.equal(r.host, 'localhost')
  t.equal(r.serverOptions, undefined)
  t.equal(r.onWorkerExit, undefined)

  const args = ['-p', '0']
  const appOptions = { a: 1 }
  const copiedArgs = resolve({ fastifyArgs: args })
  const copiedOptions = resolve({ appOptions })
  args.push('mutated')
  appOptions.a = 2
  t.same(copiedArgs.fastifyArgs, ['-p', '0'], 'fastifyArgs is copied, not aliased')
  t.same(copiedOptions.appOptions, { a: 1 }, 'appOptions is copied, not aliased')

  rejects(t, { fastifyArgs: ['-p', 0] }, INVALID, /^fastifyArgs must be an array of strings, received an array$/)
  rejects(t, { fastifyArgs: '-p 0' }, INVALID, /^fastifyArgs must be an array of strings, received "-p 0"$/)
  t.throws(() => resolveOptions({ appFile: 'app.js', port: 3000 }, {}, {}, CORES),
    { code: 'FST_CLUSTER_CONFLICTING_OPTIONS', message: /^port applies to an inline app only/ })
  t.throws(() => resolveOptions({ app: async () => {}, fastifyArgs: ['-p', '1'] }, {}, {}, CORES),
    { code: 'FST_CLUSTER_CONFLICTING_OPTIONS', message: /^fastifyArgs applies to appFile only/ })
  rejects(t, { appOptions: [] }, INVALID, /^appOptions must be an object, received an array$/)
  rejects(t, { serverOptions: 'x' }, INVALID, /^serverOptions must be an object, received "x"$/)
  rejects(t, { host: ' ' }, INVALID, /^host must be a non-empty host name or IP address, received " "$/)
  rejects(t, { signals: 'yes' }, INVALID, /^signals must be true or false, received "yes"$/)
  rejects(t, { logger: 'info' }, INVALID, /^logger must be a boolean, pino options or a pino logger, received "info"$/)
  t.same(resolve({ logger: { level: 'debug' } }).logger, { level: 'debug' })
  t.equal(resolve({ signals: false }).signals, false)
})

t.test('hooks must be functions', async (t) => {
  for (const key of ['onWorkerFork', 'onWorkerReady', 'onWorkerExit', 'onShutdown']) {
    rejects(t, { [key]: 'x' }, INVALID, new RegExp(`^${key} must be a function, received "x"$`))
    rejects(t, { [key]: {} }, INVALID, new RegExp(`^${key} must be a function, received an object$`))
    const fn = (): void => {}
    t.equal(resolve({ [key]: fn })[key as 'onShutdown'], fn, `${key} keeps the function`)
  }
})

t.test('connection distribution: reusePort and schedulingPolicy', async (t) => {
  t.equal(resolve({}).reusePort, false, 'reusePort is off by default')
  t.equal(resolve({}).schedulingPolicy, undefined, "schedulingPolicy defaults to Node's")
  t.equal(resolve({ reusePort: true }).reusePort, true)
  t.equal(resolve({ schedulingPolicy: 'none' }).schedulingPolicy, 'none')
  t.equal(resolve({ schedulingPolicy: 'rr' }).schedulingPolicy, 'rr')
  rejects(t, { reusePort: 'yes' }, INVALID, /^reusePort must be true or false, received "yes"$/)
  t.equal(resolve({}).stuckDiagnostics, false, 'stuck diagnostics are off by default')
  rejects(t, { stuckDiagnostics: 1 }, INVALID, /^stuckDiagnostics must be true or false, received 1$/)
  rejects(t, { schedulingPolicy: 'os' }, INVALID,
    /^schedulingPolicy must be "rr" \(round-robin by the primary\) or "none" \(the OS decides\), received "os"$/)
  rejects(t, { schedulingPolicy: null }, INVALID, /^schedulingPolicy must be .*received null$/)
})

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

t.test('fastify-cli values in fastifyArgs (and its env vars) are checked for start() too', async (t) => {
  const file = (args: string[], env: NodeJS.ProcessEnv = {}) => resolveOptions({ appFile: 'app.js', fastifyArgs: args }, {}, env, CORES)
  t.doesNotThrow(() => file(['-p', '0', '-T', '5000', '--body-limit', '1048576', '-l', 'info', '-a', '127.0.0.1']), 'good values pass')
  t.doesNotThrow(() => file(['-T', '1e4']), 'what fastify-cli\'s Number() accepts')
  t.throws(() => file(['-T', 'abc']), { code: INVALID, message: /^--plugin-timeout must be an integer from 0 to 2147483647 \(milliseconds\), received "abc"$/ })
  t.throws(() => file(['--plugin-timeout=1.5']), { code: RANGE, message: /^--plugin-timeout .* received "1.5"$/ })
  t.throws(() => file(['--body-limit', '0']), { code: RANGE, message: /^--body-limit must be an integer from 1 / })
  t.throws(() => file(['-l', 'verbose']), { code: INVALID, message: /^--log-level must be one of fatal, error, warn, info, debug, trace, silent, received "verbose"$/ })
  t.doesNotThrow(() => file(['-l', 'verbose', '-L', './logging.js']), 'a logging module brings its own levels')
  t.throws(() => file([], { FASTIFY_LOG_LEVEL: 'loud' }), { message: /^FASTIFY_LOG_LEVEL must be one of/ }, 'the env var fastify-cli would read')
  t.doesNotThrow(() => file(['-l', 'warn'], { FASTIFY_LOG_LEVEL: 'loud' }), 'the flag beats the env var, as in fastify-cli')
  t.throws(() => file(['-a', '']), { code: INVALID, message: /^--address must be an IP address or a host name, received ""$/ })
  t.throws(() => file(['-p', '99999']), { code: RANGE, message: /^--port must be an integer from 0 to 65535, received "99999"$/ })
  t.doesNotThrow(() => file(['--', '-T', 'abc']), 'after -- it is the plugin\'s option')
})

t.test('the health port must differ from the app port: one rule, one code, compared as numbers', async (t) => {
  const conflict = 'FST_CLUSTER_CONFLICTING_OPTIONS'
  t.throws(() => resolveOptions({ app: async () => {}, port: 4000, healthPort: '04000' }, {}, {}, CORES),
    { code: conflict, message: 'healthPort and port are both 4000: the health server needs its own port' })
  t.throws(() => resolveOptions({ appFile: 'a.js', fastifyArgs: ['-p', '4000'], healthPort: 4000 }, {}, {}, CORES),
    { code: conflict, message: 'healthPort and --port are both 4000: the health server needs its own port' }, 'with appFile too')
  t.throws(() => resolveOptions({ appFile: 'a.js', healthPort: 3000 }, {}, {}, CORES),
    { code: conflict, message: /and the app port \(default 3000\) are both 3000/ }, 'fastify-cli\'s default port')
  t.throws(() => resolveOptions({ appFile: 'a.js', healthPort: 5000 }, { healthPort: 'FASTIFY_HEALTH_PORT' }, { FASTIFY_PORT: '5000' }, CORES),
    { code: conflict, message: /^FASTIFY_HEALTH_PORT and FASTIFY_PORT are both 5000/ })
  t.equal(resolveOptions({ appFile: 'a.js', fastifyArgs: ['-p', '0'], healthPort: 0 }, {}, {}, CORES).healthPort, 0, 'both 0 is fine')
  t.equal(resolveOptions({ appFile: 'a.js', fastifyArgs: ['-s', '/tmp/x.sock'], healthPort: 3000 }, {}, {}, CORES).healthPort, 3000,
    'no clash with a Unix socket')
})

t.test('NODE_CLUSTER_SCHED_POLICY is validated, and sets the default policy', async (t) => {
  t.equal(resolve({}, {}, { NODE_CLUSTER_SCHED_POLICY: 'none' }).schedulingPolicy, 'none')
  t.equal(resolve({}, {}, { NODE_CLUSTER_SCHED_POLICY: '' }).schedulingPolicy, undefined, 'empty is unset')
  t.equal(resolve({ schedulingPolicy: 'rr' }, {}, { NODE_CLUSTER_SCHED_POLICY: 'bogus' }).schedulingPolicy, 'rr',
    'the option wins (and is what the cluster applies)')
  rejects(t, {}, INVALID, /^NODE_CLUSTER_SCHED_POLICY must be "rr" .* received "bogus"$/, { NODE_CLUSTER_SCHED_POLICY: 'bogus' })
})

t.test('the primary logger\'s level is checked before pino throws an uncoded error', async (t) => {
  rejects(t, { logger: { level: 'bogus' } }, INVALID, /^logger\.level must be one of fatal, error, warn, info, debug, trace, silent, received "bogus"$/)
  t.throws(() => resolve({ logger: { level: 'bogus' } }, { logger: '--cluster-log-level' }), { message: /^--cluster-log-level must be one of/ })
  t.same(resolve({ logger: { level: 'audit', customLevels: { audit: 35 } } }).logger, { level: 'audit', customLevels: { audit: 35 } },
    'custom levels count')
  const logger = { child: () => logger, info: () => {}, level: 'whatever' }
  t.equal(resolve({ logger }).logger, logger, 'a logger instance is taken as is')
})

t.test('stuckDiagnosticsDir must be an existing directory', async (t) => {
  const dir = t.testdir({ 'file.txt': 'x' })
  t.equal(resolve({ stuckDiagnosticsDir: dir }).stuckDiagnosticsDir, dir)
  t.equal(resolve({}).stuckDiagnosticsDir, undefined, 'a private temp directory by default')
  rejects(t, { stuckDiagnosticsDir: `${dir}/file.txt` }, INVALID, /^stuckDiagnosticsDir must be the path of an existing directory, received ".*file\.txt"$/)
  rejects(t, { stuckDiagnosticsDir: `${dir}/missing` }, INVALID, /^stuckDiagnosticsDir must be the path of an existing directory/)
  rejects(t, { stuckDiagnosticsDir: 7 }, INVALID, /received 7$/)
})
