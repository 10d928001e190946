import t from 'tap'
import autocannon from 'autocannon'
import http from 'node:http'
import { ClusterProcess, FIXTURES, assertGone, request, waitUntil } from './helpers/cluster-process'

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']

t.test('SIGTERM under keep-alive load: in-flight requests finish, onClose runs, exit 0, nothing left', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const workers = cluster.forkedPids()
  const load = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 20, duration: 2 })
  await waitUntil(() => cluster.child.exitCode === null, 1000, 'load to start')
  // The slow request goes on a connection a worker already owns: a connection still queued in the primary when
  // every worker leaves the round-robin is reset by node:cluster (that is drainDelay's job, not this test's).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  await request(port, '/', { agent })
  const slow = request(port, '/slow?ms=1500', { agent })
  await new Promise((resolve) => setTimeout(resolve, 300).unref())
  const signalledAt = Date.now()
  cluster.child.kill('SIGTERM')

  const slowRes = await slow
  t.equal(slowRes.status, 200, 'the slow request in flight at SIGTERM completed with 200')
  const result = await load
  t.equal(result.non2xx, 0, 'no non-2xx responses')
  const exit = await cluster.exit(15_000)
  t.equal(exit.code, 0, 'exit 0')
  t.ok(Date.now() - signalledAt < 10_000, 'within workerStopTimeout (nobody was killed at the deadline)')
  t.equal(cluster.lines.filter((l) => l.fixture === 'onClose').length, 2, "both workers ran the app's onClose")
  t.same(cluster.events('worker:exit').map((l) => l.reason), ['stopped', 'stopped'])
  t.equal(cluster.events('worker:fork').length, 2, 'no respawn during shutdown')
  await assertGone(workers, 2000)
})

t.test('drainDelay: the workers keep serving, marked draining, for the delay, then close', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--drain-delay', '1s', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  await request(port, '/', { agent })
  cluster.child.kill('SIGTERM')
  await cluster.waitForEvent('cluster:shutdown', 2000)
  // The drain command reaches the worker a moment after the primary logs the shutdown: poll, with a deadline.
  let during = await request(port, '/cluster', { agent })
  const deadline = Date.now() + 800
  while (!(JSON.parse(during.body) as { draining: boolean }).draining && Date.now() < deadline) {
    during = await request(port, '/cluster', { agent })
  }
  t.equal(during.status, 200, 'a request during the drain delay succeeds')
  t.equal((JSON.parse(during.body) as { draining: boolean }).draining, true, 'fastify.cluster.draining is true')
  t.equal(during.headers.connection, 'close', 'and tells keep-alive clients to go elsewhere')
  const fresh = await request(port, '/')
  t.equal(fresh.status, 200, 'new connections are still served during the delay')
  const exit = await cluster.exit(15_000)
  t.equal(exit.code, 0)
})

t.test('a worker that ignores shutdown is killed at workerStopTimeout and the exit code says so', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--stop-timeout', '800ms', '--force-kill-delay', '300ms',
    `${FIXTURES}/ignores-shutdown.js`])
  await cluster.ready()
  const signalledAt = Date.now()
  cluster.child.kill('SIGTERM')
  const exit = await cluster.exit(30_000)
  const took = Date.now() - signalledAt
  t.equal(exit.code, 1, 'exit 1: workers had to be killed')
  t.ok(took >= 800 && took < 20_000, `stopped at the deadline, not before (${took} ms)`)
  t.same(cluster.events('worker:exit').map((l) => l.reason), ['killed-at-deadline', 'killed-at-deadline'])
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('a second signal forces an immediate exit 1', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--stop-timeout', '30s', `${FIXTURES}/ignores-shutdown.js`])
  await cluster.ready()
  cluster.child.kill('SIGTERM')
  await cluster.waitFor((l) => l.fixture === 'onClose-hangs', 30_000, 'the workers to start closing')
  const secondAt = Date.now()
  cluster.child.kill('SIGINT')
  const exit = await cluster.exit(30_000)
  t.equal(exit.code, 1)
  t.ok(Date.now() - secondAt < 10_000, `promptly, far before the 30 s stop timeout (${Date.now() - secondAt} ms)`)
  await assertGone(cluster.forkedPids(), 2000)
})

t.test("Ctrl+C to the whole process group: workers leave shutdown to the primary and drain in order", async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`], { detached: true })
  const port = await cluster.ready()
  // On a connection a worker already owns (see the first test).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  await request(port, '/', { agent })
  const slow = request(port, '/slow?ms=800', { agent })
  await new Promise((resolve) => setTimeout(resolve, 200).unref())
  process.kill(-cluster.pid, 'SIGINT')
  t.equal((await slow).status, 200, 'the request in flight completes')
  const exit = await cluster.exit(15_000)
  t.equal(exit.code, 0)
  t.same(cluster.events('worker:exit').map((l) => l.reason), ['stopped', 'stopped'], 'both stopped by the primary')
  t.same(cluster.events('worker:exit').map((l) => l.code), [0, 0])
  await assertGone(cluster.forkedPids(), 2000)
})

t.test('SIGHUP is a rolling reload, not a shutdown', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  cluster.child.kill('SIGHUP')
  await cluster.waitForEvent('cluster:reload:done', 60_000)
  t.equal((await request(port, '/')).status, 200, 'still serving')
  t.equal(cluster.events('cluster:shutdown').length, 0, 'no shutdown')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('SIGKILL of the primary leaves no worker behind', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`])
  await cluster.ready()
  const workers = cluster.forkedPids()
  cluster.child.kill('SIGKILL')
  await cluster.exit(30_000)
  await assertGone(workers, 5000)
  t.pass('every worker exited within 5 s')
})
