import t from 'tap'
import autocannon from 'autocannon'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`
const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']

t.test('an event loop blocked forever under keep-alive load: detected, killed by pid, replaced, count back to 2', async (t) => {
  const heartbeat = 1000
  const interval = 250
  const cluster = ClusterProcess.cli(t, [...base, '--sample-interval', `${interval}ms`, '--heartbeat-timeout', `${heartbeat}ms`,
    '--force-kill-delay', '300ms', app])
  const port = await cluster.ready()
  const load = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 20, duration: 4, timeout: 2 })
  // The /block request itself never answers; its worker's pid comes from the stuck event.
  const blockedAt = Date.now()
  request(port, '/block', { timeout: 8000 }).catch(() => {})
  const stuck = await cluster.waitForEvent('worker:stuck', 5000)
  const detection = Date.now() - blockedAt
  t.ok(detection <= heartbeat + interval + 500, `detected ${detection} ms after the block (limit ${heartbeat} + ${interval} ms + slack)`)
  t.ok((stuck.silentFor as number) > heartbeat, 'silent for more than heartbeatTimeout')
  const exit = await cluster.waitForEvent('worker:exit', 3000, (l) => l.pid === stuck.pid)
  t.match(exit, { reason: 'stuck', expected: true, signal: 'SIGKILL' }, 'a busy loop only dies of SIGKILL')
  const forks = await cluster.waitForCount('worker:fork', 3, 3000)
  await cluster.waitForEvent('worker:ready', 60_000, (l) => l.pid === forks[2]?.pid)
  t.equal(cluster.liveWorkerPids().length, 2, 'count back to 2')

  const result = await load
  t.ok(result['2xx'] > 500, `the healthy worker kept serving: ${result['2xx']} ok, ${result.errors} errors, ${result.timeouts} timeouts`)
  for (let i = 0; i < 10; i++) t.equal((await request(port, '/')).status, 200, 'every request after the replacement succeeds')
  t.equal(cluster.events('cluster:give-up').length, 0)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('a 2 s stall with the default heartbeatTimeout (5 s) recycles nothing', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--cluster-log-level', 'trace', app])
  const port = await cluster.ready()
  const stalled = await request(port, '/stall?ms=2000')
  t.equal(stalled.status, 200)
  // Wait for two more health reports from the stalled worker: the watchdog ticked with the stall behind it.
  const pid = (JSON.parse(stalled.body) as { pid: number }).pid
  const before = cluster.events('worker:health').filter((l) => l.pid === pid).length
  await cluster.waitForCount('worker:health', before + 2, 5000, (l) => l.pid === pid)
  t.equal(cluster.events('worker:stuck').length, 0, 'no stuck worker')
  t.equal(cluster.events('worker:exit').length, 0, 'no exit')
  t.ok(cluster.liveWorkerPids().includes(pid), 'the stalled worker is still serving')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
