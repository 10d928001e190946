import t from 'tap'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

t.test('a worker not ready within startupTimeout is killed and counts as a failed start', async (t) => {
  const started = Date.now()
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '--startup-timeout', '700ms', '--crash-loop-limit', '2',
    '--force-kill-delay', '3s', '-T', '0', '-p', '0', `${FIXTURES}/hangs-at-boot.js`])
  const exit = await cluster.exit(60_000)
  t.equal(exit.code, 1, 'the breaker ends the cluster')
  const exits = cluster.events('worker:exit')
  t.ok(exits.length >= 2, `${exits.length} exits`)
  for (const e of exits.slice(0, 2)) t.match(e, { reason: 'startup-timeout', expected: false, signal: 'SIGTERM' })
  t.ok(Date.now() - started >= 1400, 'each start got its full timeout')
  t.match(cluster.stderr, /FST_CLUSTER_CRASH_LOOP/)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('backoff grows for a slot that keeps crashing soon after ready, and resets after stable uptime', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '--stable-uptime', '1500ms', '--crash-loop-limit', '50',
    '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/healthy.js`])
  let port = await cluster.ready()
  const delays: number[] = []
  for (let i = 0; i < 3; i++) {
    await request(port, '/crash/exit')
    const exits = await cluster.waitForCount('worker:exit', i + 1, 30_000)
    delays.push(exits[i]?.restartIn as number)
    // With one worker the shared port 0 is released when it dies: the replacement may get a new one.
    const readies = await cluster.waitForCount('worker:ready', i + 2, 60_000)
    port = (readies[i + 1]?.address as { port: number }).port
  }
  t.ok(delays[0]! <= 120 && delays[1]! >= 160 && delays[2]! >= 320, `unstable crashes back off: ${delays.join(', ')} ms`)
  // Stay up past stableUptime, then crash: the slot's backoff starts over.
  await new Promise((resolve) => setTimeout(resolve, 1700).unref())
  await request(port, '/crash/exit')
  const exits = await cluster.waitForCount('worker:exit', 4, 30_000)
  t.ok((exits[3]?.restartIn as number) <= 120, `after stable uptime the delay is back to the first step (${String(exits[3]?.restartIn)} ms)`)
  await cluster.waitForCount('worker:ready', 5, 60_000)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('fastify-cli flags -o (options export), -r (preload) and --body-limit work as in fastify start', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '-o', '-r', `${FIXTURES}/preload.js`, '-p', '0', '-a', '127.0.0.1',
    `${FIXTURES}/with-options.js`, '--', '--extra', 'yes'])
  const port = await cluster.ready()
  const body = JSON.parse((await request(port, '/')).body) as { opts: Record<string, unknown>, preloaded: boolean, bodyLimit: number }
  t.equal(body.preloaded, true, '-r preloads the module in the worker')
  t.equal(body.bodyLimit, 4242, '-o applies the exported options to the server')
  t.match(body.opts, { fromOptionsExport: true, extra: 'yes' }, '-o options and -- options reach the plugin')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
