import t from 'tap'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'

const args = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/misbehaves.js`]

// Regression: any exit after a worker's own `leaving` message was restarted at 0 ms and never counted, so an app
// that SIGTERMs itself forked forever (32 forks in 40 s). Only the primary's own requests are free.
t.test('an app that SIGTERMs itself 2 s after listening trips the breaker: bounded forks, exit 1', async (t) => {
  const cluster = ClusterProcess.cli(t, args, { env: { FIXTURE_SELF_SIGTERM_MS: '2000' } })
  const exit = await cluster.exit(90_000)
  t.equal(exit.code, 1, 'exit 1')
  const forks = cluster.forkedPids().length
  t.comment(`forks before the breaker tripped: ${forks}`)
  // crashLoopLimit (5) unstable exits: the 2 first workers and the replacements of all but the last exit.
  t.ok(forks >= 5 && forks <= 5 + 2, `forks bounded by the limit (${forks})`)
  const exits = cluster.events('worker:exit').filter((e) => e.reason === 'left')
  t.ok(exits.length >= 4, `the self-terminated workers exit as 'left' (${exits.length})`)
  for (const e of exits) t.match(e, { expected: false }, `worker ${String(e.pid)} counted`)
  t.match(cluster.stderr, /FST_CLUSTER_CRASH_LOOP/, 'the CLI names the breaker')
  t.equal(cluster.events('cluster:give-up').length, 1, 'gave up once')
  await assertGone(cluster.forkedPids(), 3000)
})

t.test('a forged leaving message followed by process.exit(1) still counts: the breaker trips', async (t) => {
  const cluster = ClusterProcess.cli(t, args, { env: { FIXTURE_FORGE_LEAVING_MS: '500' } })
  const exit = await cluster.exit(90_000)
  t.equal(exit.code, 1, 'exit 1')
  const forks = cluster.forkedPids().length
  t.comment(`forks before the breaker tripped: ${forks}`)
  t.ok(forks >= 5 && forks <= 5 + 2, `forks bounded by the limit (${forks})`)
  for (const e of cluster.events('worker:exit').slice(0, 4)) t.match(e, { reason: 'crashed', expected: false, code: 1 })
  t.match(cluster.stderr, /FST_CLUSTER_CRASH_LOOP/)
  await assertGone(cluster.forkedPids(), 3000)
})
