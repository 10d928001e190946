import t from 'tap'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

t.test('two workers answer on one port, each from its own pid, and stop cleanly', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const forked = cluster.forkedPids()
  t.equal(forked.length, 2, 'forked exactly two workers')
  t.equal(new Set(forked).size, 2, 'with distinct pids')

  const pids = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const res = await request(port, '/')
    t.equal(res.status, 200)
    pids.add((JSON.parse(res.body) as { pid: number }).pid)
  }
  t.same([...pids].sort(), [...forked].sort(), 'fresh connections reach both workers')

  const info = JSON.parse((await request(port, '/cluster')).body) as { isWorker: boolean, workerId: number, draining: boolean }
  t.equal(info.isWorker, true, 'fastify.cluster.isWorker')
  t.equal(info.draining, false)
  t.type(info.workerId, 'number')

  cluster.child.kill('SIGTERM')
  const exit = await cluster.exit(15_000)
  t.equal(exit.code, 0, 'exit 0 after a clean shutdown')
  t.equal(cluster.lines.filter((l) => l.fixture === 'onClose').length, 2, "every worker ran the app's onClose")
  await assertGone(forked, 2000)
})

t.test('plugin options after -- reach the app; fastify-cli flags pass through', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1', '-x', '/api',
    `${FIXTURES}/healthy.js`, '--', '--greeting', 'hello'])
  const port = await cluster.ready()
  const res = await request(port, '/api/options')
  t.equal(res.status, 200, 'the --prefix flag applies')
  t.match(JSON.parse(res.body), { greeting: 'hello' }, 'plugin options after -- reach the app')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
