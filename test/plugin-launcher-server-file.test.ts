import t from 'tap'
import { ClusterProcess, assertGone, request, waitUntil } from './helpers/cluster-process'
import { SCRIPTS, fixtureLines, pidsAnswering } from './helpers/plugin-launcher'

// The same server file in both module formats: the door must not depend on how the app is loaded.
for (const format of ['CommonJS', 'ESM'] as const) {
  const script = SCRIPTS[format]
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
    const replacement = await cluster.waitForEvent('worker:ready', 60_000, (l) => !pids.has(l.pid as number))
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
