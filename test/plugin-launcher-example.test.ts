import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, ROOT, assertGone, request, waitUntil } from './helpers/cluster-process'

t.test('examples/plugin-launcher: node server.js with the one added line serves from 2 workers and stops with 0', async (t) => {
  const cluster = ClusterProcess.node(t, [join(ROOT, 'examples', 'plugin-launcher', 'server.js')], { env: { PORT: '0', WORKERS: '2' } })
  const port = await cluster.ready(30_000)
  const pids = new Set<number>()
  for (let i = 0; i < 10 && pids.size < 2; i++) {
    const res = await request(port, '/')
    t.equal(res.status, 200)
    pids.add((JSON.parse(res.body) as { pid: number }).pid)
  }
  t.same([...pids].sort(), cluster.forkedPids().sort(), 'both workers answer')
  await waitUntil(() => cluster.lines.find((l) => l.pid === cluster.pid && / workers serve http:\/\/127\.0\.0\.1:\d+$/.test(String(l.msg))), 10_000,
    'the primary\'s line with the address listen() returned')
  t.equal(cluster.lines.filter((l) => l.msg === 'migrations would run here, once').length, 1, 'the run-once code ran once')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})
