import t from 'tap'
import Fastify from 'fastify'
import { DEFER_UNDER_PRESSURE, fastifyCluster, finishClusterSetup, isUnderPressure, type ClusterPluginOptions } from '../dist/plugin/index.js'
import { addReadinessRoute } from '../dist/plugin/readiness-route.js'

// Supervision must cost nothing per request (issue 11): the worker's plugin stack, as the worker runtime builds
// it, adds no request hook to the app's routes. Under-pressure adds one only when the app sets its thresholds.
const REQUEST_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort']

t.test('the worker stack (plugin, deferred under-pressure, readiness route) adds no request hook', async (t) => {
  const app = Fastify({ logger: { level: 'fatal' }, exposeHeadRoutes: false }) // HEAD routes carry Fastify's own onSend
  t.teardown(async () => { await app.close() })
  await app.register(fastifyCluster, { [DEFER_UNDER_PRESSURE]: true } as ClusterPluginOptions)
  await app.register(async (fastify) => { fastify.get('/', async () => ({ hello: 'world' })) })
  await app.register(finishClusterSetup)
  addReadinessRoute(app, '/health', isUnderPressure)
  await app.ready()
  const routes = app.printRoutes({ includeHooks: true, commonPrefix: false })
  t.ok(routes.includes('/ (GET)') && routes.includes('health (GET)'), 'the app route and the readiness route are there')
  for (const hook of REQUEST_HOOKS) t.notOk(routes.includes(hook), `no ${hook} hook on any route`)
})

t.test('counter-check: under-pressure with a threshold set by the app does add its onRequest hook', async (t) => {
  const app = Fastify({ logger: { level: 'fatal' }, exposeHeadRoutes: false }) // HEAD routes carry Fastify's own onSend
  t.teardown(async () => { await app.close() })
  await app.register(fastifyCluster, { underPressure: { maxEventLoopDelay: 1000 } })
  app.get('/', async () => ({ hello: 'world' }))
  await app.ready()
  t.ok(app.printRoutes({ includeHooks: true, commonPrefix: false }).includes('onRequest'), 'the test can see a hook')
})
