import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'

t.test('an app that throws at boot trips the breaker: bounded forks, exit 1, the cause named once', async (t) => {
  const started = Date.now()
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '--crash-loop-limit', '4', '-p', '0', '-a', '127.0.0.1',
    `${FIXTURES}/crash-on-boot.js`])
  const exit = await cluster.exit(90_000)
  t.equal(exit.code, 1, 'exit code 1')
  const forks = cluster.forkedPids().length
  t.ok(forks >= 4 && forks <= 4 + 2, `forks bounded by the limit plus one wave (${forks})`)
  t.match(cluster.stderr, /FST_CLUSTER_CRASH_LOOP/, 'the CLI names the breaker')
  t.match(cluster.stderr, /the database is unreachable at boot/, 'and the last worker error')
  t.equal(cluster.events('cluster:give-up').length, 1, 'gave up once')
  // The backoff steps of 4 exits sum to well under a second; the rest is boot time on a possibly loaded machine.
  t.ok(Date.now() - started < 60_000, `within the backoff budget (${Date.now() - started} ms)`)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('a taken port is fatal at once: no more than N forks, EADDRINUSE named', async (t) => {
  const blocker = net.createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as net.AddressInfo).port
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', String(port), '-a', '127.0.0.1', `${FIXTURES}/healthy.js`])
  const exit = await cluster.exit(60_000)
  t.equal(exit.code, 1)
  t.ok(cluster.forkedPids().length <= 2, `at most N forks (${cluster.forkedPids().length})`)
  t.match(cluster.stderr, /FST_CLUSTER_FATAL_BOOT.*EADDRINUSE/)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('an app file that does not export a plugin is fatal: no retries, the error names the file', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', `${FIXTURES}/not-a-plugin.js`])
  const exit = await cluster.exit(60_000)
  t.equal(exit.code, 1)
  t.ok(cluster.forkedPids().length <= 2, 'at most N forks')
  t.match(cluster.stderr, /FST_CLUSTER_APP_NOT_PLUGIN.*not-a-plugin\.js.*received an object/)
})
