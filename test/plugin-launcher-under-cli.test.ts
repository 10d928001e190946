import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

t.test('an app registering with cluster options, run by the CLI: the CLI\'s options apply, one warning per worker', async (t) => {
  const app = join(FIXTURES, 'plugin-launcher', 'cli-app.cjs')
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1', '-l', 'info', app])
  const port = await cluster.ready(30_000)
  const res = await request(port, '/')
  t.match(JSON.parse(res.body), { isPrimary: false, isWorker: true })
  const warning = await cluster.waitFor((l) => /cluster options given to register\(\) are ignored/.test(String(l.msg)), 10_000, 'the warning')
  t.same(warning.options, ['workers'])
  t.equal(cluster.forkedPids().length, 1, 'the CLI\'s --workers 1 applies')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)

  // Invalid cluster options are still the same coded error, as a worker boot error.
  const bad = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1', app], { env: { APP_CLUSTER_OPTIONS: '{ "workers": 0 }' } })
  const bootError = await bad.waitForEvent('worker:boot-error', 60_000)
  t.equal(bootError.code, 'FST_CLUSTER_OPTION_OUT_OF_RANGE', 'the resolver\'s code, reported by the worker')
  t.equal(bootError.message, 'workers must be a positive integer up to 1024 or "max", received 0', 'start()\'s message')
})
