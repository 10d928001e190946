import t from 'tap'
import autocannon from 'autocannon'
import { writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`
const recycling = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sample-interval', '200ms',
  '--max-rss', '250MB', '--unhealthy-checks', '2', '--recycle-grace-period', '0']

t.test('a leaking worker under keep-alive load is replaced before it is retired: zero failed requests', async (t) => {
  const cluster = ClusterProcess.cli(t, recycling.concat(app))
  const port = await cluster.ready()
  const leak = JSON.parse((await request(port, '/leak?mb=16&every=100')).body) as { pid: number }
  const load = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 50, duration: 6 })

  const recycle = await cluster.waitForEvent('worker:recycle', 10_000)
  t.equal(recycle.pid, leak.pid, 'the leaking worker is the one recycled')
  t.equal(recycle.reason, 'rss')
  t.match(recycle.breaches, [{ metric: 'rss', limit: 250 * 1024 * 1024 }], 'the decision names the measured value and the limit')
  const unhealthy = cluster.events('worker:unhealthy').find((l) => l.pid === leak.pid)
  t.ok(unhealthy !== undefined, 'worker:unhealthy came first')
  const successor = await cluster.waitForEvent('worker:ready', 60_000, (l) => l.id === recycle.replacementId)
  const exit = await cluster.waitForEvent('worker:exit', 10_000, (l) => l.pid === leak.pid)
  t.ok(cluster.lines.indexOf(successor) < cluster.lines.indexOf(exit), 'the replacement was ready before the old worker left')
  t.match(exit, { reason: 'recycled', expected: true, code: 0 }, 'the old worker drained and exited cleanly')
  t.equal(cluster.events('worker:recycle').length, 1, 'one recycle')

  const result = await load
  t.equal(result.errors, 0, `no failed requests (${result['2xx']} ok)`)
  t.equal(result.non2xx, 0, 'no non-2xx')
  t.ok(result['2xx'] > 1000, `served throughout (${result['2xx']})`)
  t.equal(cluster.liveWorkerPids().length, 2, 'two workers')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('two leaking workers are recycled one at a time', async (t) => {
  const cluster = ClusterProcess.cli(t, recycling.concat(app))
  const port = await cluster.ready()
  const leaking = new Set<number>()
  while (leaking.size < 2) leaking.add((JSON.parse((await request(port, '/leak?mb=16&every=100')).body) as { pid: number }).pid)
  const recycles = await cluster.waitForCount('worker:recycle', 2, 20_000)
  const firstExit = cluster.events('worker:exit').find((l) => l.pid === recycles[0]?.pid)
  t.ok(firstExit !== undefined && cluster.lines.indexOf(firstExit) < cluster.lines.indexOf(recycles[1]!),
    'the second recycle started only after the first old worker was gone')
  t.same(new Set(recycles.map((r) => r.pid)), leaking, 'both leaking workers were recycled')
  await cluster.waitForCount('worker:exit', 2, 10_000)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('a replacement that fails to boot during a recycle: the old worker keeps serving', async (t) => {
  const flag = join(tmpdir(), `fastify-cluster-fail-${process.pid}-${Date.now()}`)
  t.teardown(() => { rmSync(flag, { force: true }) })
  const cluster = ClusterProcess.cli(t, recycling.concat(app), { env: { FIXTURE_FAIL_BOOT_IF: flag } })
  const port = await cluster.ready()
  writeFileSync(flag, 'broken deploy')
  const leak = JSON.parse((await request(port, '/leak?mb=16&every=100')).body) as { pid: number }
  const failed = await cluster.waitForEvent('worker:recycle-failed', 15_000)
  t.equal(failed.pid, leak.pid, 'the failure names the worker that stays')
  t.ok(cluster.liveWorkerPids().includes(leak.pid), 'the old worker is still alive')
  let ok = 0
  for (let i = 0; i < 10; i++) if ((await request(port, '/')).status === 200) ok++
  t.equal(ok, 10, 'the cluster keeps serving')
  t.equal(cluster.events('cluster:give-up').length, 0, 'a failed recycle does not trip the breaker')
  cluster.child.kill('SIGTERM')
  await cluster.exit(15_000)
})
