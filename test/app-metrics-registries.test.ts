import t, { type Test } from 'tap'
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { Counter, Registry } from 'prom-client'
import { clusterPlugin, resolveOptions } from '../dist/lib/index.js'
import { ClusterProcess, ROOT, request } from './helpers/cluster-process'

/*
 * Which registry a worker reports: by default the global registry of every prom-client copy the app loaded
 * (here a copy of its own, not ours), or the registry the app names with `metricsRegistry`.
 */

/** An app directory with its own copy of prom-client (a real copy, so Node loads a second module instance). */
function appWithOwnPromClient (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-prom-copy-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const modules = join(dir, 'node_modules')
  mkdirSync(join(modules, '@opentelemetry'), { recursive: true })
  cpSync(join(ROOT, 'node_modules', 'prom-client'), join(modules, 'prom-client'), { recursive: true })
  for (const dep of ['tdigest', 'bintrees', '@opentelemetry/api']) symlinkSync(join(ROOT, 'node_modules', dep), join(modules, dep))
  writeFileSync(join(dir, 'app.js'), `'use strict'
const client = require('prom-client')
const { clusterPlugin } = require(${JSON.stringify(join(ROOT, 'dist', 'lib', 'index.js'))})
const custom = new client.Registry()
const hits = new client.Counter({ name: 'copy_hits_total', help: 'hits, in the global registry of the app\\'s copy' })
const named = new client.Counter({ name: 'named_hits_total', help: 'hits, in a registry the app names', registers: [custom] })
module.exports = async function (fastify, opts) {
  if (process.env.USE_NAMED_REGISTRY === '1') await fastify.register(clusterPlugin, { metricsRegistry: custom })
  fastify.get('/hit', async () => {
    hits.inc()
    named.inc()
    return { pid: process.pid, promClient: require.resolve('prom-client') }
  })
}
`)
  return dir
}

async function scrapeAfterHits (t: Test, dir: string, env: NodeJS.ProcessEnv): Promise<{ body: string, hits: number, pids: Set<number> }> {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--health-port', '0', join(dir, 'app.js')], { env })
  const port = await cluster.ready(60_000)
  const health = await cluster.healthPort()
  const pids = new Set<number>()
  let hits = 0
  for (; hits < 10 || (pids.size < 2 && hits < 200); hits++) {
    const res = JSON.parse((await request(port, '/hit')).body) as { pid: number, promClient: string }
    t.equal(res.promClient, join(dir, 'node_modules', 'prom-client', 'index.js'), 'the app uses its own copy') // eslint-disable-line
    pids.add(res.pid)
  }
  const body = (await request(health, '/metrics')).body
  return { body, hits, pids }
}

t.test("the default: the global registry of the app's own prom-client copy", async (t) => {
  const dir = appWithOwnPromClient(t)
  const { body, hits, pids } = await scrapeAfterHits(t, dir, {})
  t.equal(pids.size, 2, 'both workers served')
  t.match(body, new RegExp(`^copy_hits_total ${hits}$`, 'm'), `the sum over both workers (${hits}), from the app's copy`)
  t.notMatch(body, /named_hits_total/, 'a registry the app did not name is not read')
})

t.test('metricsRegistry: the registry the app names, only', async (t) => {
  const dir = appWithOwnPromClient(t)
  const { body, hits } = await scrapeAfterHits(t, dir, { USE_NAMED_REGISTRY: '1' })
  t.match(body, new RegExp(`^named_hits_total ${hits}$`, 'm'), `the named registry, summed (${hits})`)
  t.notMatch(body, /copy_hits_total/, 'the global registry is not read then')
})

t.test('an ES module app: prom-client imported with import is found too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-prom-esm-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'app.mjs'), `import client from ${JSON.stringify(join(ROOT, 'node_modules', 'prom-client', 'index.js'))}
const hits = new client.Counter({ name: 'esm_hits_total', help: 'hits from an ES module app' })
export default async function (fastify, opts) {
  fastify.get('/hit', async () => { hits.inc(); return { pid: process.pid } })
}
`)
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--health-port', '0', join(dir, 'app.mjs')])
  const port = await cluster.ready(60_000)
  const health = await cluster.healthPort()
  const pids = new Set<number>()
  let hits = 0
  for (; hits < 10 || (pids.size < 2 && hits < 200); hits++) pids.add((JSON.parse((await request(port, '/hit')).body) as { pid: number }).pid)
  t.equal(pids.size, 2, 'both workers served')
  t.match((await request(health, '/metrics')).body, new RegExp(`^esm_hits_total ${hits}$`, 'm'), `summed over both workers (${hits}) on Node ${process.versions.node}`)
})

t.test('outside a cluster the clusterMetrics route serves this process\'s registry', async (t) => {
  const registry = new Registry()
  new Counter({ name: 'solo_total', help: 'solo', registers: [registry] }).inc(3)
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await app.register(clusterPlugin, { metricsRegistry: registry, clusterMetrics: { path: '/m' } })
  const res = await app.inject('/m')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(res.body, /^solo_total 3$/m)
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('bad metrics options are coded errors naming the option and the value', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [{ metricsRegistry: {} }, /metricsRegistry must be a prom-client Registry \(or an array of them\), received/],
    [{ metricsRegistry: [] }, /metricsRegistry must be/],
    [{ metricsRegistry: 'register' }, /metricsRegistry must be .*received "register"/],
    [{ clusterMetrics: 'yes' }, /clusterMetrics must be a boolean or \{ path: "\/metrics" \}/],
    [{ clusterMetrics: { path: 'metrics' } }, /clusterMetrics must be/],
    [{ clusterMetrics: { paht: '/metrics' } }, /clusterMetrics must be/],
    [{ clusterMetrics: null }, /clusterMetrics must be/]
  ]
  for (const [opts, message] of bad) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(clusterPlugin, opts as never).ready() }, { code: 'FST_CLUSTER_INVALID_OPTION', message }, JSON.stringify(opts))
    await app.close()
  }
  t.equal(resolveOptions({ appFile: 'x.js' }).metricsTimeout, 1000, 'metricsTimeout defaults to 1 s')
  t.equal(resolveOptions({ appFile: 'x.js', metricsTimeout: '2s' }).metricsTimeout, 2000)
  for (const value of ['5ms', '2m', -1, 'soon', null]) {
    t.throws(() => resolveOptions({ appFile: 'x.js', metricsTimeout: value as never }), { code: /FST_CLUSTER_(INVALID_OPTION|OPTION_OUT_OF_RANGE)/, message: /metricsTimeout/ }, `metricsTimeout ${String(value)}`)
  }
})

t.test('the worker side answers every request, also when its registry fails', async (t) => {
  const { WorkerMetrics } = await import('../dist/plugin/app-metrics.js')
  // The worker's wait for the primary is unref'd (the HTTP request holds a real worker); hold this process.
  const hold = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(hold) })
  const sent: Array<Record<string, unknown>> = []
  const box: { handler: ((message: unknown) => void) | null } = { handler: null }
  const channel = {
    launch: { v: 1, slot: 0, sampleInterval: 1000, drainDelay: 0, readinessPath: false, metricsTimeout: 10 },
    workerId: 1,
    send: (message: Record<string, unknown>) => { sent.push(message) },
    onMessage: (fn: (message: unknown) => void) => { box.handler = fn; return () => { box.handler = null } }
  }
  const metrics = new WorkerMetrics(channel as never)
  metrics.start()
  const answered = async (n: number): Promise<Record<string, unknown>> => {
    for (let i = 0; i < 200 && sent.length < n; i++) await new Promise((resolve) => setImmediate(resolve))
    return sent[n - 1] ?? {}
  }
  const registry = new Registry()
  new Counter({ name: 'w_total', help: 'w', registers: [registry] }).inc(2)
  metrics.use(registry)
  box.handler?.({ type: 'app-metrics-request', id: 5 })
  t.match(await answered(1), { type: 'app-metrics', id: 5, metrics: [{ name: 'w_total', values: [{ value: 2 }] }] })
  metrics.use({ getMetricsAsJSON: async () => { throw new Error('collector failed') } })
  box.handler?.({ type: 'app-metrics-request', id: 6 })
  t.match(await answered(2), { type: 'app-metrics', id: 6, error: 'collector failed' }, 'a throwing registry: an error answer')
  metrics.use({ getMetricsAsJSON: () => [{ name: 'big', value: 1n }] })
  box.handler?.({ type: 'app-metrics-request', id: 7 })
  t.match(await answered(3), { type: 'app-metrics', id: 7, error: /BigInt/ }, 'unserializable metrics: an error answer, no unhandled rejection')

  const aggregate = metrics.aggregate()
  const request = await answered(4)
  t.match(request, { type: 'cluster-metrics-request' })
  box.handler?.({ type: 'cluster-metrics', id: request.id, body: 'agg 1\n' })
  t.equal(await aggregate, 'agg 1\n', 'the aggregate comes back by request id')
  const started = Date.now()
  await t.rejects(metrics.aggregate(), /the primary did not answer within 2010 ms/, 'a silent primary: bounded by metricsTimeout + 2 s')
  t.ok(Date.now() - started >= 2000)
  metrics.stop()
  t.equal(box.handler, null, 'stop() removes the listener')
})
