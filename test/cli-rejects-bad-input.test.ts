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
  { name: 'unknown command', args: [], error: /FST_CLUSTER_UNKNOWN_COMMAND: unknown command "strat" \(did you mean "start"\?\)/ }
]

for (const c of cases) {
  t.test(`${c.name}: exit 1 with a coded error, nothing forked`, async (t) => {
    const argv = c.name === 'unknown command' ? ['strat', app] : ['start', ...c.args]
    const cli = ClusterProcess.cli(t, argv, { env: { FASTIFY_WORKERS: undefined, ...c.env } })
    const exit = await cli.exit(10_000)
    t.equal(exit.code, 1)
    t.match(cli.stderr, c.error)
    t.equal(cli.forkedPids().length, 0, 'no worker forked')
  })
}

t.test('--help lists every flag with its env var and default', async (t) => {
  const cli = ClusterProcess.cli(t, ['start', '--help'])
  t.equal((await cli.exit(10_000)).code, 0)
  for (const flag of ['--workers', '--startup-timeout', '--stop-timeout', '--drain-delay', '--port', '--address', '--log-level', '--options', '--require', '--prefix']) {
    t.match(cli.stdout, flag)
  }
  t.match(cli.stdout, /env: FASTIFY_WORKERS; default: os.availableParallelism\(\)/)
})
