import t, { type Test } from 'tap'
import { parseStartArgs } from '../dist/lib/cli/start-args.js'
import { CLUSTER_FLAGS, FASTIFY_FLAGS, startHelp } from '../dist/lib/cli/flags.js'
import { describeValue, didYouMean } from '../dist/lib/shared/messages.js'
import { OPTIONS, OPTION_KEYS, resolveOptions } from '../dist/lib/shared/options.js'

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseStartArgs(argv, env)
/** What `fastify-cluster start` does before forking: parse, then the same resolveOptions as start(). */
const resolveCli = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const { options, names } = parseStartArgs(argv, env)
  return resolveOptions(options, names, env, 4)
}

function rejects (t: Test, argv: string[], code: string, message: RegExp | string, env: NodeJS.ProcessEnv = {}): void {
  const err = t.throws(() => resolveCli(argv, env), { code, message }, `${argv.join(' ')}${Object.keys(env).length > 0 ? ` with ${JSON.stringify(env)}` : ''} → ${code}`)
  const Base = code === 'FST_CLUSTER_OPTION_OUT_OF_RANGE' ? RangeError : TypeError
  t.ok(err instanceof Base, `a ${Base.name}`)
}

t.test('a cluster flag becomes an option and records how it was spelled', async (t) => {
  const { help, options, names } = parse(['--workers', '4', 'app.js'])
  t.equal(help, false)
  t.equal(options.appFile, 'app.js')
  t.equal(options.workers, '4', 'the raw string: resolveOptions validates it')
  t.equal(names.workers, '--workers')
  t.equal(names.appFile, '<app-file>')
  t.same(options.fastifyArgs, [], 'nothing left for fastify-cli')
  t.equal(parse(['--workers=4', 'app.js']).options.workers, '4', '--flag=value')
  t.equal(parse(['app.js', '--workers', '2']).options.workers, '2', 'flags may follow the app file')
})

t.test('every cluster flag maps to its option', async (t) => {
  // Boolean flags take no value; the others get one each (the health port differs from the app port's 3000).
  const value = (f: (typeof CLUSTER_FLAGS)[number]): string[] => f.type === 'boolean' ? [] : [f.name === 'cluster-log-level' ? 'warn' : '7']
  const expected = (f: (typeof CLUSTER_FLAGS)[number]): unknown =>
    f.type === 'boolean' ? f.negate !== true : f.name === 'cluster-log-level' ? { level: 'warn' } : '7'
  const argv = CLUSTER_FLAGS.flatMap((f) => [`--${f.name}`, ...value(f)])
  const { options, names } = parse([...argv, 'app.js'])
  for (const flag of CLUSTER_FLAGS) {
    const key = flag.option as keyof typeof options
    t.same(options[key], expected(flag), `--${flag.name} sets ${key}`)
    t.equal(names[key], `--${flag.name}`, `and names it --${flag.name}`)
  }
  t.same(options.fastifyArgs, [])
})

t.test('env vars fill cluster options whose flags are absent', async (t) => {
  const fromEnv = parse(['app.js'], { FASTIFY_WORKERS: '3' })
  t.equal(fromEnv.options.workers, '3')
  t.equal(fromEnv.names.workers, 'FASTIFY_WORKERS')

  const flagWins = parse(['--workers', '2', 'app.js'], { FASTIFY_WORKERS: '3' })
  t.equal(flagWins.options.workers, '2', 'the flag beats the env var')
  t.equal(flagWins.names.workers, '--workers')

  const more = parse(['app.js'], { FASTIFY_DRAIN_DELAY: '5s', FASTIFY_CLUSTER_LOG_LEVEL: 'warn', UNRELATED: 'x' })
  t.equal(more.options.drainDelay, '5s')
  t.equal(more.names.drainDelay, 'FASTIFY_DRAIN_DELAY')
  t.same(more.options.logger, { level: 'warn' })
  t.equal(more.options.workers, undefined, 'no env var, no option: resolveOptions applies the default')
  t.notOk('workers' in more.names)
})

t.test('unknown flags', async (t) => {
  rejects(t, ['--wrkers', '2', 'app.js'], 'FST_CLUSTER_UNKNOWN_FLAG',
    'unknown flag "--wrkers" (did you mean "--workers"?); run with --help to list every flag')
  rejects(t, ['--drain-dealy', '1s', 'app.js'], 'FST_CLUSTER_UNKNOWN_FLAG', /did you mean "--drain-delay"\?/)
  rejects(t, ['--Workers', '2', 'app.js'], 'FST_CLUSTER_UNKNOWN_FLAG', /^unknown flag "--Workers" \(did you mean "--workers"\?\)/)
  rejects(t, ['-z', 'app.js'], 'FST_CLUSTER_UNKNOWN_FLAG', /^unknown flag "-z"; run with --help/)
  t.ok(parse(['app.js', '--', '--wrkers', '2']), 'an unknown flag after -- is the plugin\'s business')
})

t.test('flag values', async (t) => {
  rejects(t, ['app.js', '--workers'], 'FST_CLUSTER_FLAG_VALUE', '--workers needs a value')
  rejects(t, ['--workers', '--drain-delay', '1', 'app.js'], 'FST_CLUSTER_FLAG_VALUE', '--workers needs a value')
  rejects(t, ['-x', '-p', '0', 'app.js'], 'FST_CLUSTER_FLAG_VALUE', '-x needs a value')
  rejects(t, ['--options=yes', 'app.js'], 'FST_CLUSTER_FLAG_VALUE', '--options takes no value or true/false/1/0, received "yes"')
  t.equal(parse(['--drain-delay', '-5', 'app.js']).options.drainDelay, '-5',
    'a negative number is a value, left for resolveOptions to reject')
  t.same(parse(['--options=true', 'app.js']).options.fastifyArgs, ['--options=true'])
  t.doesNotThrow(() => parse(['--options', 'false', 'app.js']), 'fastify-cli 8 accepts "--options false"')
})

t.test('repeated flags', async (t) => {
  rejects(t, ['--workers', '2', '--workers', '3', 'app.js'], 'FST_CLUSTER_FLAG_REPEATED',
    'flag --workers may be given once, received it 2 times')
  rejects(t, ['--port', '3000', '-p', '4000', 'app.js'], 'FST_CLUSTER_FLAG_REPEATED', /^flag -p may be given once/)
  rejects(t, ['-p', '1', 'app.js', '-p', '2', '-p', '3'], 'FST_CLUSTER_FLAG_REPEATED', /received it 2 times/)
  const { options } = parse(['-r', 'a', '-r', 'b', '-i', 'c', '-i', 'd', 'app.js'])
  t.same(options.fastifyArgs, ['-r', 'a', '-r', 'b', '-i', 'c', '-i', 'd'], '-r and -i are repeatable, and kept')
})

t.test('the app file', async (t) => {
  rejects(t, [], 'FST_CLUSTER_APP_NOT_FOUND', /^missing the app file/)
  rejects(t, ['--workers', '2'], 'FST_CLUSTER_APP_NOT_FOUND', /^missing the app file/)
  // After -- everything is plugin options, even a file name.
  rejects(t, ['--workers', '2', '--', 'app.js'], 'FST_CLUSTER_APP_NOT_FOUND', /^missing the app file/)
  rejects(t, ['a.js', 'b.js'], 'FST_CLUSTER_FLAG_VALUE', 'expected one app file, received 2: a.js, b.js')
})

t.test('unsupported flags', async (t) => {
  rejects(t, ['--debug', 'app.js'], 'FST_CLUSTER_FLAG_VALUE', /^--debug is not supported with workers/)
})

t.test('the watch flags pass through to fastify-cli, which the primary asks what to watch', async (t) => {
  t.same(parse(['-w', '--ignore-watch', 'tmp logs', '-V', 'app.js']).options.fastifyArgs, ['-w', '--ignore-watch', 'tmp logs', '-V'])
  t.same(parse(['--watch', '--follow-watch', 'src', 'app.js']).options.fastifyArgs, ['--watch', '--follow-watch', 'src'])
})

t.test('the port is checked before anything is forked', async (t) => {
  rejects(t, ['-p', '80abc', 'app.js'], 'FST_CLUSTER_INVALID_OPTION',
    '--port must be an integer from 0 to 65535, received "80abc"')
  rejects(t, ['--port', '65536', 'app.js'], 'FST_CLUSTER_OPTION_OUT_OF_RANGE', /^--port must be/)
  rejects(t, ['app.js'], 'FST_CLUSTER_OPTION_OUT_OF_RANGE',
    'FASTIFY_PORT must be an integer from 0 to 65535, received "-1"', { FASTIFY_PORT: '-1' })
  rejects(t, ['app.js'], 'FST_CLUSTER_INVALID_OPTION', /^PORT must be/, { PORT: 'http' })
  t.ok(parse(['-p', '8080', 'app.js'], { FASTIFY_PORT: 'abc' }), 'the flag beats a bad env var')
  t.same(parse(['app.js'], { FASTIFY_PORT: '0' }).options.fastifyArgs, [], 'a valid env port stays in the env')
})

t.test('cluster flags are removed from fastifyArgs, fastify-cli flags and -- are kept in order', async (t) => {
  const { options } = parse(['--workers', '2', '-p', '0', '-a', '127.0.0.1', '-o', 'app.js', '--drain-delay', '1s',
    '--', '--workers', '9', 'x'])
  t.same(options.fastifyArgs, ['-p', '0', '-a', '127.0.0.1', '-o', '--', '--workers', '9', 'x'])
  t.equal(options.workers, '2', 'the --workers after -- is not ours')
  t.equal(options.drainDelay, '1s')
  t.same(parse(['--workers=2', '-l', 'info', 'app.js']).options.fastifyArgs, ['-l', 'info'], '--flag=value is removed whole')
  t.same(parse(['-op', '80', 'app.js']).options.fastifyArgs, ['-op', '80'], 'a short group is kept whole')
  t.same(parse(['-p0', '--prefix', '/api', 'app.js']).options.fastifyArgs, ['-p0', '--prefix', '/api'])
})

t.test('-g (close-grace-delay) sets workerStopTimeout only when --stop-timeout is absent', async (t) => {
  const g = parse(['-g', '2000', 'app.js'])
  t.equal(g.options.workerStopTimeout, '2000')
  t.equal(g.names.workerStopTimeout, '--close-grace-delay')
  t.same(g.options.fastifyArgs, ['-g', '2000'], 'and stays for fastify-cli')
  for (const argv of [['-g', '2000', '--stop-timeout', '5s', 'app.js'], ['--stop-timeout', '5s', '-g', '2000', 'app.js']]) {
    const both = parse(argv)
    t.equal(both.options.workerStopTimeout, '5s', `${argv.join(' ')}: --stop-timeout wins`)
    t.equal(both.names.workerStopTimeout, '--stop-timeout')
  }
  const env = parse(['-g', '2000', 'app.js'], { FASTIFY_STOP_TIMEOUT: '3s' })
  t.equal(env.options.workerStopTimeout, '3s', 'FASTIFY_STOP_TIMEOUT also wins over -g')
  t.equal(env.names.workerStopTimeout, 'FASTIFY_STOP_TIMEOUT')
  const graceEnv = parse(['app.js'], { FASTIFY_CLOSE_GRACE_DELAY: '700' })
  t.equal(graceEnv.options.workerStopTimeout, '700', 'FASTIFY_CLOSE_GRACE_DELAY when nothing else is set')
  t.equal(graceEnv.names.workerStopTimeout, 'FASTIFY_CLOSE_GRACE_DELAY')
})

t.test('--help', async (t) => {
  t.equal(parse(['--help']).help, true)
  t.equal(parse(['-h']).help, true)
  t.equal(parse(['--workers', '4', 'app.js', '--help']).help, true, 'wins over a complete command line')
  t.equal(parse(['app.js']).help, false)
})

t.test('--cluster-log-level sets the primary logger level', async (t) => {
  const { options, names } = parse(['--cluster-log-level', 'debug', 'app.js'])
  t.same(options.logger, { level: 'debug' })
  t.equal(names.logger, '--cluster-log-level')
  t.same(options.fastifyArgs, [])
  t.same(parse(['-l', 'debug', 'app.js']).options.logger, undefined, '-l is the app\'s level, not the primary\'s')
})

t.test('flag tables', async (t) => {
  const all = [...FASTIFY_FLAGS, ...CLUSTER_FLAGS]
  t.equal(new Set(all.map((f) => f.name)).size, all.length, 'long names are unique')
  const shorts = all.filter((f) => f.short !== undefined).map((f) => f.short)
  t.equal(new Set(shorts).size, shorts.length, 'short names are unique')
  t.ok(CLUSTER_FLAGS.every((f) => f.option !== undefined), 'every cluster flag sets an option')
  t.ok(FASTIFY_FLAGS.every((f) => f.option === undefined), 'no fastify-cli flag sets an option')
})

t.test('didYouMean', async (t) => {
  t.equal(didYouMean('worker', ['workers', 'host']), ' (did you mean "workers"?)')
  t.equal(didYouMean('WORKERS', ['workers']), ' (did you mean "workers"?)', 'case-insensitive, suggests the real spelling')
  t.equal(didYouMean('drainDelya', ['drainDelay', 'restartDelay']), ' (did you mean "drainDelay"?)', 'a transposition')
  t.equal(didYouMean('prot', ['port', 'host', 'prefix']), ' (did you mean "port"?)', 'the nearest wins')
  t.equal(didYouMean('zzzzzzzz', ['workers', 'port']), '', 'nothing close, no hint')
  t.equal(didYouMean('x', []), '', 'no candidates')
  t.equal(didYouMean('abcdefghijkl', ['abcdefghiXYZ']), ' (did you mean "abcdefghiXYZ"?)', 'longer inputs allow length/3 edits')
  t.equal(didYouMean('abcdefghijkl', ['abcdefgVWXYZ']), '', 'but not more')
  t.equal(didYouMean('port', new Set(['port'])), ' (did you mean "port"?)', 'any iterable')
})

t.test('describeValue', async (t) => {
  t.equal(describeValue('abc'), '"abc"', 'strings are quoted')
  t.equal(describeValue(''), '""')
  t.equal(describeValue('say "hi"'), '"say \\"hi\\""', 'quotes inside are escaped')
  t.equal(describeValue(4), '4')
  t.equal(describeValue(-1.5), '-1.5')
  t.equal(describeValue(Number.NaN), 'NaN')
  t.equal(describeValue(Infinity), 'Infinity')
  t.equal(describeValue(false), 'false')
  t.equal(describeValue(null), 'null')
  t.equal(describeValue(undefined), 'undefined')
  t.equal(describeValue([1]), 'an array')
  t.equal(describeValue(() => 1), 'a function')
  t.equal(describeValue({ a: 1 }), 'an object')
  t.equal(describeValue(Object.create(null)), 'an object')
  t.not(describeValue(10n), describeValue(10), 'a bigint is told apart from a number')
  t.not(describeValue(Symbol('s')), 'an object', 'a symbol is not called an object')
})
