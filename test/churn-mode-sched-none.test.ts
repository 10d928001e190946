import t from 'tap'
import autocannon from 'autocannon'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'

// The churn mode without kernel tuning (issue 11): with SCHED_NONE one listening socket, held by the primary
// too, outlives every worker, so its accept queue survives reloads and crashes whatever tcp_migrate_req says.
const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--scheduling-policy', 'none']
const CONNECTIONS = 20
// Two clusters under load on a shared 2-core machine: each part takes 30-60 s there.
t.setTimeout(300_000)

function closeLoad (port: number): { stop: () => void, result: Promise<autocannon.Result> } {
  let finished: (r: autocannon.Result) => void = () => {}
  const result = new Promise<autocannon.Result>((resolve) => { finished = resolve })
  const instance = autocannon({
    url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: 600, headers: { connection: 'close' }
  }, (err, r) => {
    if (err !== null) throw err
    finished(r)
  })
  return { stop: () => { instance.stop() }, result }
}

t.test('SCHED_NONE: three rolling reloads under Connection: close load lose nothing', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`])
  const port = await cluster.ready(60_000)
  const load = closeLoad(port)
  try {
    for (let i = 1; i <= 3; i++) {
      cluster.child.kill('SIGHUP')
      const done = await cluster.waitForCount('cluster:reload:done', i, 120_000)
      t.equal(done[i - 1]?.replaced, 2, `reload ${i} replaced both workers`)
    }
  } finally {
    load.stop()
  }
  const stats = await load.result
  t.ok(stats['2xx'] > 100, `served throughout (${stats['2xx']})`)
  t.equal(stats.errors, 0, `no failed requests over 3 reloads (${stats['2xx']} ok, ${stats.timeouts} timeouts)`)
  t.equal(stats.non2xx, 0)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 3000)
})

t.test('SCHED_NONE: SIGKILL of a worker under Connection: close load loses at most its in-flight requests', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`])
  const port = await cluster.ready(60_000)
  const load = closeLoad(port)
  try {
    await cluster.waitFor(() => cluster.liveWorkerPids().length === 2, 5000, 'two workers')
    await new Promise((resolve) => setTimeout(resolve, 1000).unref())
    const victim = cluster.liveWorkerPids()[0] as number
    process.kill(victim, 'SIGKILL')
    await cluster.waitForCount('worker:ready', 3, 60_000)
    await new Promise((resolve) => setTimeout(resolve, 1000).unref())
  } finally {
    load.stop()
  }
  const stats = await load.result
  t.ok(stats['2xx'] > 100, `served throughout (${stats['2xx']})`)
  // Each connection carries one request at a time: the killed worker had at most CONNECTIONS in flight.
  t.ok(stats.errors <= CONNECTIONS, `at most the in-flight requests failed (${stats.errors} errors, ${stats['2xx']} ok)`)
  t.equal(stats.non2xx, 0)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 3000)
})
