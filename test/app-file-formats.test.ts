import t from 'tap'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

const base = ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1']

t.test('an app file with ESM syntax in a CommonJS package boots (Node loads it as an ES module)', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/esm-syntax.js`])
  const port = await cluster.ready()
  t.same(JSON.parse((await request(port, '/')).body).format, 'esm-syntax')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})

t.test('the same without (fastify, opts): a fatal, coded error, not a crash loop', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/esm-syntax-no-opts.js`])
  t.equal((await cluster.exit(15_000)).code, 1)
  t.match(cluster.stderr, /FST_CLUSTER_FATAL_BOOT.*FST_CLUSTER_APP_NOT_PLUGIN.*without the \(fastify, opts\) parameters/)
  t.equal(cluster.forkedPids().length, 1, 'one fork, no retries')
})
