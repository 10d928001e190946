import t from 'tap'
import { ClusterProcess, assertGone } from './helpers/cluster-process'
import { listenersByPid } from './helpers/listening-sockets'
import { SCRIPTS, pidsAnswering } from './helpers/plugin-launcher'

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
