import t from 'tap'
import autocannon from 'autocannon'
import { ClusterProcess, FIXTURES } from './helpers/cluster-process'

for (const mode of ['keep-alive', 'connection-close'] as const) {
  t.test(`--sticky ip: rolling reload under ${mode} load loses no request`, async (t) => {
    const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sticky', 'ip', `${FIXTURES}/healthy.js`])
    const port = await cluster.ready(30_000)
    const before = cluster.forkedPids()
    const load = autocannon({
      url: `http://127.0.0.1:${port}/`,
      connections: 30,
      duration: mode === 'keep-alive' ? 12 : 8,
      ...(mode === 'connection-close' ? { headers: { connection: 'close' } } : {})
    })
    await new Promise((resolve) => setTimeout(resolve, 1000).unref())
    cluster.child.kill('SIGHUP')
    const done = await cluster.waitForEvent('cluster:reload:done', 30_000)
    t.equal(done.replaced, 2, 'two workers replaced')
    const stats = await load
    t.comment(`${mode}: ${stats['2xx']} ok, ${stats.errors} errors, ${stats.timeouts} timeouts, ${stats.non2xx} non-2xx`)
    t.equal(stats.errors, 0, 'no failed requests')
    t.equal(stats.non2xx, 0, 'no non-2xx')
    t.ok(stats['2xx'] > 200, `served throughout (${stats['2xx']})`)
    t.notOk(cluster.liveWorkerPids().some((pid) => before.includes(pid)), 'every pid replaced')
    cluster.child.kill('SIGTERM')
    t.equal((await cluster.exit(20_000)).code, 0)
  })
}
