import t from 'tap'
import Fastify from 'fastify'
import clusterPlugin from '../dist/lib/index.js'
import { waitUntil } from './helpers/cluster-process'

t.test('in a plain process the plugin runs degraded: decorator, under-pressure, samples, no IPC', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await app.register(clusterPlugin, { sampleInterval: 20 })
  app.get('/', async () => app.cluster)
  await app.ready()
  t.match(app.cluster, { isWorker: false, workerId: null, slot: null, draining: false })
  t.type(app.memoryUsage, 'function', '@fastify/under-pressure is registered')
  const sample = await waitUntil(() => app.cluster.lastSample, 2000, 'a first health sample')
  t.ok(sample.rss > 0 && sample.heapUsed > 0, 'memory measured')
  t.ok(sample.eventLoopUtilization >= 0 && sample.eventLoopUtilization <= 1, 'ELU over the interval, 0..1')
  t.equal(sample.checkHealthy, null, 'no user check configured')
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.match(res.json(), { isWorker: false, draining: false })
})

t.test('registering it twice does not double anything; the second registration may add a health check', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  let checks = 0
  await app.register(clusterPlugin, { sampleInterval: 20 })
  await app.register(async (child) => {
    await child.register(clusterPlugin, { healthCheck: async () => { checks++; return false } })
  })
  await app.ready()
  await waitUntil(() => app.cluster.lastSample?.checkHealthy === false, 2000, 'the added check to report unhealthy')
  t.ok(checks > 0, 'the health check ran')
})

t.test('an app that registered under-pressure itself keeps its own', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await app.register((await import('@fastify/under-pressure')).default, { maxEventLoopDelay: 1000 })
  await app.register(clusterPlugin)
  await app.ready()
  t.type(app.cluster, 'object')
})

t.test('bad plugin options are coded errors', async (t) => {
  const app = Fastify()
  await t.rejects(async () => { await app.register(clusterPlugin, { sampleIntervall: 10 } as never).ready() }, { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: /did you mean "sampleInterval"/ })
  const app2 = Fastify()
  await t.rejects(async () => { await app2.register(clusterPlugin, { sampleInterval: "soon" }).ready() }, { code: 'FST_CLUSTER_INVALID_OPTION', message: /sampleInterval must be a duration/ })
  const app3 = Fastify()
  await t.rejects(async () => { await app3.register(clusterPlugin, { healthCheck: "yes" } as never).ready() }, { code: 'FST_CLUSTER_INVALID_OPTION' })
})
