import t from 'tap'
import { ClusterProcess, assertGone } from './helpers/cluster-process'
import { SCRIPTS, fixtureLines, pidsAnswering } from './helpers/plugin-launcher'

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
