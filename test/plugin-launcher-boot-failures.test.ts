import t from 'tap'
import { join } from 'node:path'
import net from 'node:net'
import { once } from 'node:events'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'
import { SCRIPTS } from './helpers/plugin-launcher'

t.test('a port already taken: listen() rejects with the cluster\'s coded error once no worker is left', async (t) => {
  const blocker = net.createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as net.AddressInfo).port
  const cluster = ClusterProcess.node(t, [SCRIPTS.ESM], { env: { WORKERS: '2', PORT: String(port) } })
  const failed = await cluster.waitFor((l) => l.step === 'error' && l.pid === cluster.pid, 30_000, 'listen() to reject in the primary')
  t.equal(failed.code, 'FST_CLUSTER_FATAL_BOOT')
  t.match(failed.message, /EADDRINUSE/)
  t.ok(cluster.forkedPids().length <= 2, `no retry loop (${cluster.forkedPids().length} forks)`)
  t.equal((await cluster.exit(20_000)).code, 1)
  await assertGone(cluster.forkedPids(), 5000)
})

t.test('the app defining the readiness route fails in the primary, before any fork, saying what to change', async (t) => {
  const cluster = ClusterProcess.node(t, [join(FIXTURES, 'plugin-launcher', 'own-health-route.cjs')])
  const line = await cluster.waitFor((l) => l.code !== undefined, 20_000, 'the error line')
  t.equal(line.code, 'FST_CLUSTER_CONFLICTING_OPTIONS')
  t.match(line.message, /GET \/health.*readinessPath/)
  t.equal((await cluster.exit(10_000)).code, 1)
  t.same(cluster.forkedPids(), [], 'nothing forked')
})

t.test('workers that die at boot: listen() rejects with FST_CLUSTER_CRASH_LOOP, nothing left running', async (t) => {
  const cluster = ClusterProcess.node(t, [SCRIPTS.ESM], {
    env: { WORKERS: '2', PORT: '0', CRASH_IN_WORKER: '1', CLUSTER_OPTIONS: JSON.stringify({ crashLoopLimit: 3, restartDelay: 50 }) }
  })
  const failed = await cluster.waitFor((l) => l.step === 'error' && l.pid === cluster.pid, 60_000, 'listen() to reject in the primary')
  t.equal(failed.code, 'FST_CLUSTER_CRASH_LOOP')
  t.match(cluster.stderr, /boom in a worker at boot/, 'the workers\' error is on stderr')
  t.equal((await cluster.exit(20_000)).code, 1)
  await assertGone(cluster.forkedPids(), 5000)
})

t.test('node -e has no script for workers to run: a coded error at register time, nothing forked', async (t) => {
  const cluster = ClusterProcess.node(t, ['-e', `
    const Fastify = require('fastify')
    const clusterPlugin = require('./dist/lib/index.js')
    Fastify().register(clusterPlugin, { workers: 2 }).ready().catch((err) => { console.log(JSON.stringify({ code: err.code })); process.exitCode = 1 })
  `])
  t.equal((await cluster.waitFor((l) => l.code !== undefined, 20_000, 'the error line')).code, 'FST_CLUSTER_NO_ENTRY_SCRIPT')
  t.equal((await cluster.exit(10_000)).code, 1)
  t.same(cluster.forkedPids(), [])
})
