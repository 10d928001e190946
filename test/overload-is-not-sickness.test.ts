import t from 'tap'
import autocannon from 'autocannon'
import { ClusterProcess, FIXTURES } from './helpers/cluster-process'

t.test('every worker busy under CPU load: an overload event, no recycle', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sample-interval', '200ms',
    '--max-event-loop-utilization', '0.5', '--unhealthy-checks', '2', '--recycle-grace-period', '0', '--cluster-log-level', 'trace', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const loadStarted = Date.now()
  const load = autocannon({ url: `http://127.0.0.1:${port}/cpu?ms=4`, connections: 20, duration: 3 })
  const overload = await cluster.waitForEvent('cluster:overload', 30_000, (l) => (l.time as number) >= loadStarted)
  t.equal((overload.workers as number[]).length, 2, 'both workers breach together',
    { log: cluster.lines.filter((l) => l.event !== undefined && l.event !== 'worker:health').slice(-20) })
  const result = await load
  t.equal(result.errors, 0, 'no errors')
  t.equal(result.non2xx, 0)
  // After the load: three more samples from each worker, so a recycle at the end of the overload would show.
  const seen = cluster.events('worker:health').length
  await cluster.waitForCount('worker:health', seen + 6, 30_000)
  t.equal(cluster.events('worker:recycle').length, 0, 'nobody recycled for being busy')
  t.equal(cluster.events('worker:exit').length, 0, 'no worker exited')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
