import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, ROOT, assertGone, request, waitUntil } from './helpers/cluster-process'

t.test('examples/single-file: one script is primary and workers; SIGTERM ends it with 0', async (t) => {
  const cluster = ClusterProcess.node(t, [join(ROOT, 'examples', 'single-file', 'server.js')], {
    env: { PORT: '0', WORKERS: '2', NODE_PATH: join(ROOT, '..') }
  })
  const port = await cluster.ready()
  const pids = new Set<number>()
  for (let i = 0; i < 10; i++) pids.add((JSON.parse((await request(port, '/')).body) as { pid: number }).pid)
  t.same([...pids].sort(), cluster.forkedPids().sort(), 'both workers answer')
  await waitUntil(() => cluster.stderr.includes('with 2 workers'), 5000, 'the ready line of the example')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})
