import t from 'tap'
import { join } from 'node:path'
import net from 'node:net'
import { once } from 'node:events'
import http from 'node:http'
import { ClusterProcess, FIXTURES, assertGone, request, waitUntil, type LogLine } from './helpers/cluster-process'
import { listenersByPid } from './helpers/listening-sockets'

const SCRIPTS = {
  CommonJS: join(FIXTURES, 'plugin-launcher', 'server.cjs'),
  ESM: join(FIXTURES, 'plugin-launcher', 'server.mjs')
}

function fixtureLines (cluster: ClusterProcess, step: string): LogLine[] {
  return cluster.lines.filter((l) => l.fixture === 'plugin-launcher' && l.step === step)
}

async function pidsAnswering (port: number, want: number, host = '127.0.0.1'): Promise<Set<number>> {
  const pids = new Set<number>()
  const deadline = Date.now() + 15_000
  while (pids.size < want && Date.now() < deadline) {
    pids.add((JSON.parse((await get(host, port, '/')).body) as { pid: number }).pid)
  }
  return pids
}

async function get (host: string, port: number, path: string): Promise<{ status: number, body: string }> {
  if (host === '127.0.0.1') return await request(port, path)
  return await new Promise((resolve, reject) => {
    http.get({ host, port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject)
  })
}

for (const [format, script] of Object.entries(SCRIPTS)) {
  t.test(`${format} server.js with register(clusterPlugin, { workers: 3 }): run with node, it is a cluster`, async (t) => {
    const cluster = ClusterProcess.node(t, [script], { env: { WORKERS: '3', PORT: '0' } })
    const listening = await cluster.waitFor((l) => l.step === 'listening', 30_000, 'listen() to resolve in the primary')
    const port = await cluster.ready()
    t.equal(listening.pid, cluster.pid, 'listen() resolved in the primary')
    t.equal(listening.address, `http://127.0.0.1:${port}`, 'listen() resolved with the address the workers serve')

    const pids = await pidsAnswering(port, 3)
    t.equal(pids.size, 3, 'three distinct worker pids answer')
    t.notOk(pids.has(cluster.pid), 'the primary serves no request')
    t.same([...pids].sort(), cluster.liveWorkerPids().sort(), 'the answering pids are the forked workers')
    t.same(fixtureLines(cluster, 'once').map((l) => l.pid), [cluster.pid],
      'code guarded by !app.cluster.isWorker ran once, in the primary, before any fork')
    t.equal(fixtureLines(cluster, 'once')[0]?.isPrimary, true, 'app.cluster.isPrimary in the primary')

    // A SIGKILLed worker is replaced.
    const victim = [...pids][0] as number
    process.kill(victim, 'SIGKILL')
    const replacement = await cluster.waitForEvent('worker:ready', 20_000, (l) => !pids.has(l.pid as number))
    await waitUntil(() => cluster.events('worker:exit').some((l) => l.pid === victim), 10_000, 'the killed worker\'s exit')
    const after = await pidsAnswering(port, 3)
    t.ok(after.has(replacement.pid as number), 'the replacement answers')
    t.notOk(after.has(victim), 'the killed worker is gone')

    // SIGTERM drains through every worker's onClose, then the primary's, and exits 0.
    const live = cluster.liveWorkerPids()
    cluster.child.kill('SIGTERM')
    const exit = await cluster.exit(30_000)
    t.same(exit, { code: 0, signal: null }, 'the primary exits 0')
    const closes = fixtureLines(cluster, 'onClose')
    t.same(closes.filter((l) => l.isPrimary !== true).map((l) => l.pid).sort(), live.sort(), 'every live worker ran its onClose')
    t.same(closes.filter((l) => l.isPrimary === true).map((l) => l.pid), [cluster.pid], 'the primary\'s app closed too')
    await assertGone(cluster.forkedPids(), 5000)
  })
}

t.test('listening on localhost: both addresses are served by workers, never by the primary', async (t) => {
  const cluster = ClusterProcess.node(t, [SCRIPTS.CommonJS], { env: { WORKERS: '2', PORT: '0', HOST: 'localhost' } })
  const listening = await cluster.waitFor((l) => l.step === 'listening', 30_000, 'listen() to resolve')
  const port = Number(new URL(listening.address as string).port)
  t.ok(port > 0, 'a concrete port')
  for (const host of ['127.0.0.1', '::1']) {
    let pids: Set<number>
    try {
      pids = await pidsAnswering(port, 2, host)
    } catch (err) {
      if (host === '::1' && ['EADDRNOTAVAIL', 'ECONNREFUSED', 'EAFNOSUPPORT'].includes((err as { code?: string }).code ?? '')) continue
      throw err
    }
    t.notOk(pids.has(cluster.pid), `the primary answers nothing on ${host}`)
    t.ok([...pids].every((pid) => cluster.forkedPids().includes(pid)), `workers answer on ${host}`)
  }
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})

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

t.test('app.cluster.reload() in the primary replaces every worker with a fresh run of the script', async (t) => {
  const cluster = ClusterProcess.node(t, [SCRIPTS.CommonJS], { env: { WORKERS: '2', PORT: '0', RELOAD_AFTER_LISTEN: '1' } })
  const listening = await cluster.waitFor((l) => l.step === 'listening', 30_000, 'listen() to resolve')
  const reloaded = await cluster.waitFor((l) => l.step === 'reloaded', 60_000, 'the reload to finish')
  t.equal(reloaded.replaced, 2)
  t.equal(reloaded.aborted, null)
  const before = listening.workers as number[]
  const after = reloaded.workers as number[]
  t.equal(after.length, 2)
  t.ok(after.every((pid) => !before.includes(pid)), 'two new worker pids')
  const port = Number(new URL(listening.address as string).port)
  const pids = await pidsAnswering(port, 2)
  t.same([...pids].sort(), [...after].sort(), 'the new workers answer on the same address')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})

t.test('Ctrl+C (SIGINT to the whole process group): one orderly drain, every worker\'s onClose, exit 0', async (t) => {
  const cluster = ClusterProcess.node(t, [SCRIPTS.ESM], { env: { WORKERS: '2', PORT: '0' }, detached: true })
  await cluster.waitFor((l) => l.step === 'listening', 30_000, 'listen() to resolve')
  const workers = cluster.liveWorkerPids()
  process.kill(-cluster.pid, 'SIGINT')
  t.same(await cluster.exit(30_000), { code: 0, signal: null })
  const closes = fixtureLines(cluster, 'onClose').filter((l) => l.isPrimary !== true).map((l) => l.pid)
  t.same(closes.sort(), workers.sort(), 'each worker drained through its onClose')
  t.equal(cluster.events('worker:exit').filter((l) => l.expected !== true).length, 0, 'no unexpected exit')
  await assertGone(cluster.forkedPids(), 5000)
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

t.test('an app registering with cluster options, run by the CLI: the CLI\'s options apply, one warning per worker', async (t) => {
  const app = join(FIXTURES, 'plugin-launcher', 'cli-app.cjs')
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1', '-l', 'info', app])
  const port = await cluster.ready(30_000)
  const res = await request(port, '/')
  t.match(JSON.parse(res.body), { isPrimary: false, isWorker: true })
  const warning = await cluster.waitFor((l) => /cluster options given to register\(\) are ignored/.test(String(l.msg)), 10_000, 'the warning')
  t.same(warning.options, ['workers'])
  t.equal(cluster.forkedPids().length, 1, 'the CLI\'s --workers 1 applies')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)

  // Invalid cluster options are still the same coded error, as a worker boot error.
  const bad = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1', app], { env: { APP_CLUSTER_OPTIONS: '{ "workers": 0 }' } })
  await bad.waitFor(() => /workers must be a positive integer/.test(bad.stderr + bad.stdout), 30_000, 'the resolver\'s error for workers: 0')
  t.match(bad.stderr + bad.stdout, /workers must be a positive integer up to 1024 or "max", received 0/, 'start()\'s message, from the worker')
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

t.test('reusePort through the plugin: one socket per worker where Node supports it, else the warning and the shared socket', async (t) => {
  const cluster = ClusterProcess.node(t, [SCRIPTS.CommonJS], { env: { WORKERS: '2', PORT: '0', CLUSTER_OPTIONS: JSON.stringify({ reusePort: true }) } })
  const listening = await cluster.waitFor((l) => l.step === 'listening', 30_000, 'listen() to resolve')
  const port = Number(new URL(listening.address as string).port)
  t.ok(port > 0, 'a concrete port, the same for every worker')
  const workers = cluster.liveWorkerPids()
  const held = listenersByPid(port, [cluster.pid, ...workers])
  if (cluster.events('cluster:reuse-port-unavailable').length > 0) {
    t.equal(held.get(cluster.pid)?.length, 1, `no reusePort in Node ${process.versions.node}: the primary holds the one shared socket`)
  } else {
    t.same(held.get(cluster.pid), [], 'the primary holds no listening socket')
    for (const pid of workers) t.equal(held.get(pid)?.length, 1, `worker ${pid} holds its own socket`)
  }
  const pids = await pidsAnswering(port, 2)
  t.same([...pids].sort(), [...workers].sort(), 'both workers answer')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})
