import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'

t.test('start() with an app file: ready, workers(), hooks, events, close() twice, no listeners left', async (t) => {
  const run = ClusterProcess.node(t, [join(FIXTURES, 'programmatic.js')])
  const exit = await run.exit(20_000)
  t.equal(exit.code, 0, run.stderr)
  const step = (name: string): Record<string, any> => run.lines.find((l) => l.fixture === 'programmatic' && l.step === name) as Record<string, any>
  const ready = step('ready')
  t.equal(ready.workers.length, 2)
  for (const w of ready.workers) {
    t.match(w, { state: 'ready', restarts: 0, address: { address: '127.0.0.1' }, lastHealth: { rss: Number } })
  }
  t.equal(step('close-idempotent').same, true, 'close() twice resolves the same way')
  const closed = step('closed')
  t.match(closed.exit, { code: 0, reason: 'shutdown', forced: false })
  t.same(closed.hooks.map((h: unknown[]) => h[0]).sort(), ['exit', 'exit', 'fork', 'fork', 'ready', 'ready', 'shutdown'].sort())
  t.match(closed.seen, { 'worker:fork': 2, 'worker:ready': 2, 'worker:exit': 2, 'cluster:ready': 1, 'cluster:shutdown': 1, 'cluster:close': 1 })
  t.same(closed.listeners, closed.before, 'signals: false installs nothing')
  t.same(step('signals'), { fixture: 'programmatic', step: 'signals', during: 1, after: 0 }, 'signal handlers are removed after close')
  t.match(step('invalid'), { code: 'FST_CLUSTER_OPTION_OUT_OF_RANGE', message: /workers must be/ })
  await assertGone(ready.workers.map((w: { pid: number }) => w.pid), 2000)
})
