import t from 'tap'
import autocannon from 'autocannon'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, assertGone, request, type LogLine } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`
const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--health-port', '0']

/** Polls /status while `until` is pending; returns the fewest ready workers seen. */
async function minReadyDuring (healthPort: number, until: Promise<unknown>): Promise<number> {
  let done = false
  void until.finally(() => { done = true })
  let min = Infinity
  while (!done) {
    const status = JSON.parse((await request(healthPort, '/status')).body) as { ready: number }
    min = Math.min(min, status.ready)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return min
}

for (const mode of ['keep-alive', 'connection-close'] as const) {
  t.test(`SIGHUP rolling reload under ${mode} load: zero failed requests, every pid replaced, capacity never below 2`, async (t) => {
    const cluster = ClusterProcess.cli(t, [...base, app])
    const port = await cluster.ready()
    const healthPort = await cluster.healthPort()
    const before = cluster.forkedPids()
    const load = autocannon({
      url: `http://127.0.0.1:${port}/`,
      connections: 50,
      duration: mode === 'keep-alive' ? 15 : 8,
      ...(mode === 'connection-close' ? { headers: { connection: 'close' } } : {})
    })
    await new Promise((resolve) => setTimeout(resolve, 1000).unref())
    cluster.child.kill('SIGHUP')
    const done = cluster.waitForEvent('cluster:reload:done', 20_000)
    const minReady = await minReadyDuring(healthPort, done)
    const result = await done
    t.equal(result.replaced, 2, 'two workers replaced')
    t.ok(minReady >= 2, `capacity never below 2 ready workers (min ${minReady})`)
    const stats = await load
    t.equal(stats.errors, 0, `no failed requests (${stats['2xx']} ok, ${stats.timeouts} timeouts)`)
    t.equal(stats.non2xx, 0, 'no non-2xx')
    // A floor, not a speed: the load ran through the whole reload (the machine may be busy).
    t.ok(stats['2xx'] > 300, `served throughout (${stats['2xx']})`)
    const now = cluster.liveWorkerPids()
    t.equal(now.length, 2)
    t.notOk(now.some((pid) => before.includes(pid)), 'every pid replaced')
    t.ok(cluster.maxConcurrentWorkers() <= 3, `never more than N + 1 processes (${cluster.maxConcurrentWorkers()})`)
    t.same(cluster.events('worker:exit').map((l) => l.reason), ['recycled', 'recycled'], 'old workers drained cleanly')
    cluster.child.kill('SIGTERM')
    t.equal((await cluster.exit(15_000)).code, 0)
    await assertGone(cluster.forkedPids(), 2000)
  })
}

t.test('reload into code that fails to boot: aborted, the old workers keep serving with zero errors', async (t) => {
  const flag = join(tmpdir(), `fastify-cluster-reload-fail-${process.pid}-${Date.now()}`)
  t.teardown(() => { rmSync(flag, { force: true }) })
  const cluster = ClusterProcess.cli(t, [...base, app], { env: { FIXTURE_FAIL_BOOT_IF: flag } })
  const port = await cluster.ready()
  const before = cluster.forkedPids()
  writeFileSync(flag, 'broken deploy')
  const load = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 20, duration: 4 })
  cluster.child.kill('SIGHUP')
  const failed = await cluster.waitForEvent('cluster:reload:failed', 60_000)
  t.equal(failed.aborted, 'failure')
  t.equal(failed.replaced, 0, 'nothing was replaced')
  const stats = await load
  t.equal(stats.errors, 0, 'no failed requests')
  t.equal(stats.non2xx, 0)
  t.same(cluster.liveWorkerPids().sort(), before.sort(), 'the old workers are the ones serving')
  t.equal(cluster.events('cluster:give-up').length, 0, 'no crash-loop exit because of a failed reload')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('a storm of 5 SIGHUPs within 100 ms: one reload plus at most one coalesced pass', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, app])
  await cluster.ready()
  for (let i = 0; i < 5; i++) {
    cluster.child.kill('SIGHUP')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await cluster.waitForEvent('cluster:reload:done', 20_000)
  const starts = (): LogLine[] => cluster.events('cluster:reload:start')
  if (starts().length === 2) await cluster.waitForCount('cluster:reload:done', 2, 20_000)
  t.ok(starts().length >= 1 && starts().length <= 2, `${starts().length} passes`)
  t.ok(cluster.maxConcurrentWorkers() <= 3, `never more than N + 1 processes (${cluster.maxConcurrentWorkers()})`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('SIGTERM during a reload cancels it cleanly', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, app])
  await cluster.ready()
  cluster.child.kill('SIGHUP')
  await cluster.waitForEvent('cluster:reload:start', 30_000)
  await cluster.waitForCount('worker:fork', 3, 30_000)
  cluster.child.kill('SIGTERM')
  const exit = await cluster.exit(15_000)
  t.equal(exit.code, 0, `clean exit: ${JSON.stringify(cluster.lines.filter((l) => l.event !== undefined).map((l) => [l.event, l.id, l.code, l.signal, l.reason]))}`)
  const failed = cluster.events('cluster:reload:failed')
  t.ok(failed.length <= 1 && (failed.length === 0 || failed[0]?.aborted === 'shutdown'), 'the pass ends as a shutdown, not a failure')
  await assertGone(cluster.forkedPids(), 2000)
})
