import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, ROOT, assertGone, request } from './helpers/cluster-process'

t.test('examples/cli: fastify-cluster start --workers 2 examples/cli/app.js serves and stops with 0', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', join(ROOT, 'examples', 'cli', 'app.js')])
  const port = await cluster.ready()
  const res = await request(port, '/')
  t.equal(res.status, 200)
  t.match(JSON.parse(res.body), { hello: 'world' })
  const sample = await request(port, '/health-sample')
  t.match(JSON.parse(sample.body), { rss: Number, heapUsed: Number })
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})
