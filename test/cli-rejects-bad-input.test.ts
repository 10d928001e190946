import t from 'tap'
import { ClusterProcess, FIXTURES } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`
const cases: Array<{ name: string, args: string[], env?: NodeJS.ProcessEnv, error: RegExp }> = [
  { name: '--workers abc', args: ['--workers', 'abc', app], error: /FST_CLUSTER_INVALID_OPTION: --workers must be a positive integer up to 1024 or "max", received "abc"/ },
  { name: '--workers 0', args: ['--workers', '0', app], error: /FST_CLUSTER_OPTION_OUT_OF_RANGE: --workers .* received "0"/ },
  { name: '--workers 1.5', args: ['--workers', '1.5', app], error: /--workers .* received "1.5"/ },
  { name: 'FASTIFY_WORKERS=-2', args: [app], env: { FASTIFY_WORKERS: '-2' }, error: /FASTIFY_WORKERS must be .* received "-2"/ },
  { name: 'FASTIFY_WORKERS=" 4 "', args: [app], env: { FASTIFY_WORKERS: ' 4 ' }, error: /FASTIFY_WORKERS must be .* received " 4 "/ },
  { name: 'unknown flag', args: ['--wrkers', '2', app], error: /FST_CLUSTER_UNKNOWN_FLAG: unknown flag "--wrkers" \(did you mean "--workers"\?\)/ },
  { name: 'missing value', args: [app, '--workers'], error: /FST_CLUSTER_FLAG_VALUE: --workers needs a value/ },
  { name: 'repeated flag', args: ['--workers', '2', '--workers', '3', app], error: /FST_CLUSTER_FLAG_REPEATED/ },
  { name: 'bad duration', args: ['--drain-delay', '5 parsecs', app], error: /--drain-delay must be a duration .* received "5 parsecs"/ },
  { name: 'bad port', args: ['-p', '80abc', app], error: /--port must be an integer from 0 to 65535, received "80abc"/ },
  { name: 'port out of range', args: ['-p', '65536', app], error: /--port .* received "65536"/ },
  { name: 'no app file', args: ['--workers', '2'], error: /FST_CLUSTER_APP_NOT_FOUND: missing the app file/ },
  { name: 'missing app file', args: ['does-not-exist.js'], error: /FST_CLUSTER_APP_NOT_FOUND: <app-file> "does-not-exist.js" does not exist/ },
  { name: 'NODE_UNIQUE_ID in the environment', args: [app], env: { NODE_UNIQUE_ID: '7' }, error: /FST_CLUSTER_UNEXPECTED_WORKER_ENV/ },
  { name: 'unknown command', args: [], error: /FST_CLUSTER_UNKNOWN_COMMAND: unknown command "strat" \(did you mean "start"\?\)/ },
  // fastify-cli's values, which only the workers' fastify-cli would read: checked in the primary before any fork.
  { name: '-T abc', args: ['-T', 'abc', app], error: /FST_CLUSTER_INVALID_OPTION: --plugin-timeout must be an integer from 0 to 2147483647 \(milliseconds\), received "abc"/ },
  { name: 'FASTIFY_PLUGIN_TIMEOUT=-5', args: [app], env: { FASTIFY_PLUGIN_TIMEOUT: '-5' }, error: /FST_CLUSTER_OPTION_OUT_OF_RANGE: FASTIFY_PLUGIN_TIMEOUT must be an integer from 0 .* received "-5"/ },
  { name: '--body-limit abc', args: ['--body-limit', 'abc', app], error: /FST_CLUSTER_INVALID_OPTION: --body-limit must be an integer from 1 to \d+ \(bytes\), received "abc"/ },
  { name: '-l bogus', args: ['-l', 'bogus', app], error: /FST_CLUSTER_INVALID_OPTION: --log-level must be one of fatal, error, warn, info, debug, trace, silent, received "bogus"/ },
  { name: 'FASTIFY_LOG_LEVEL=bogus', args: [app], env: { FASTIFY_LOG_LEVEL: 'bogus' }, error: /FST_CLUSTER_INVALID_OPTION: FASTIFY_LOG_LEVEL must be one of .* received "bogus"/ },
  { name: '-a notahost', args: ['-a', 'notahost', app], error: /FST_CLUSTER_INVALID_OPTION: --address must be an IP address or a host name this machine resolves \(lookup failed: \w+\), received "notahost"/ },
  { name: '--health-address garbage', args: ['--health-port', '0', '--health-address', 'garbage', '-p', '0', app], error: /FST_CLUSTER_INVALID_OPTION: --health-address must be an IP address or a host name this machine resolves \(lookup failed: \w+\), received "garbage"/ },
  { name: '--health-port 042056 with -p 42056', args: ['--health-port', '042056', '-p', '42056', app], error: /FST_CLUSTER_CONFLICTING_OPTIONS: --health-port and --port are both 42056: the health server needs its own port/ },
  { name: 'FASTIFY_HEALTH_PORT equal to PORT', args: [app], env: { FASTIFY_HEALTH_PORT: '4100', PORT: '4100.0' }, error: /FST_CLUSTER_CONFLICTING_OPTIONS: FASTIFY_HEALTH_PORT and PORT are both 4100/ },
  { name: '--cluster-log-level bogus', args: ['--cluster-log-level', 'bogus', app], error: /^fastify-cluster: FST_CLUSTER_INVALID_OPTION: --cluster-log-level must be one of fatal, error, warn, info, debug, trace, silent, received "bogus"\n$/ },
  { name: 'an app path that is a directory', args: [FIXTURES], error: /FST_CLUSTER_APP_NOT_FOUND: <app-file> must be a file, received ".*fixtures", a directory/ },
  { name: 'NODE_CLUSTER_SCHED_POLICY=bogus', args: [app], env: { NODE_CLUSTER_SCHED_POLICY: 'bogus' }, error: /FST_CLUSTER_INVALID_OPTION: NODE_CLUSTER_SCHED_POLICY must be "rr" \(round-robin by the primary\) or "none" \(the OS decides\), received "bogus"/ },
  { name: '--stuck-diagnostics-dir that does not exist', args: ['--stuck-diagnostics-dir', '/nonexistent/reports', app], error: /FST_CLUSTER_INVALID_OPTION: --stuck-diagnostics-dir must be the path of an existing directory, received "\/nonexistent\/reports"/ }
]

// Each case is a process that starts Node and exits: run four at a time, so that thirty of them fit the file's
// time limit on a loaded machine. Teardown (on the root test) kills by pid whatever is left.
const CONCURRENCY = 4
let active = 0
const waiting: Array<() => void> = []
async function inTurn<T> (run: () => Promise<T>): Promise<T> {
  while (active >= CONCURRENCY) await new Promise<void>((resolve) => { waiting.push(resolve) })
  active++
  try {
    return await run()
  } finally {
    active--
    waiting.shift()?.()
  }
}

const runs = cases.map((c) => {
  const argv = c.name === 'unknown command' ? ['strat', app] : ['start', ...c.args]
  const run = inTurn(async () => {
    const cli = ClusterProcess.cli(t, argv, { env: { FASTIFY_WORKERS: undefined, ...c.env } })
    return { cli, exit: await cli.exit(30_000) }
  })
  run.catch(() => {}) // awaited by its subtest; this only keeps an early failure from being "unhandled"
  return run
})

cases.forEach((c, i) => {
  t.test(`${c.name}: exit 1 with a coded error, nothing forked`, async (t) => {
    const { cli, exit } = await (runs[i] as (typeof runs)[number])
    t.equal(exit.code, 1)
    t.match(cli.stderr, c.error)
    t.equal(cli.forkedPids().length, 0, 'no worker forked')
    t.notMatch(cli.stderr, /\n\s+at /, 'one coded line, no stack')
  })
})

t.test('--help lists every flag with its env var and default', async (t) => {
  const cli = ClusterProcess.cli(t, ['start', '--help'])
  t.equal((await cli.exit(10_000)).code, 0)
  for (const flag of ['--workers', '--startup-timeout', '--stop-timeout', '--drain-delay', '--port', '--address', '--log-level', '--options', '--require', '--prefix']) {
    t.match(cli.stdout, flag)
  }
  t.match(cli.stdout, /env: FASTIFY_WORKERS; default: os.availableParallelism\(\)/)
})
