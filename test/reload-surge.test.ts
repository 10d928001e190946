import t from 'tap'
import autocannon from 'autocannon'
import { parseStartArgs } from '../dist/lib/cli/start-args.js'
import { resolveOptions, type ClusterOptions } from '../dist/lib/shared/options.js'
import type { ReloadResult, SlotReplacement } from '../dist/lib/shared/events.js'
import { RollingReload, type ReloadTarget } from '../dist/lib/primary/rolling-reload.js'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

// The real-cluster reload below boots 16 workers in all on a shared machine.
t.setTimeout(300_000)

function resolve (input: Record<string, unknown>, workers = 32) {
  return resolveOptions({ appFile: 'app.js', workers, ...input } as ClusterOptions, {}, {}, 4)
}

t.test('reloadSurge: a count or a percentage of workers, 25% by default', async (t) => {
  t.equal(resolve({}).reloadSurge, 8, '25% of 32')
  t.equal(resolve({}, 2).reloadSurge, 1, 'rounded up, at least 1')
  t.equal(resolve({}, 8).reloadSurge, 2)
  t.equal(resolve({ reloadSurge: 3 }).reloadSurge, 3)
  t.equal(resolve({ reloadSurge: '50%' }).reloadSurge, 16)
  t.equal(resolve({ reloadSurge: '100%' }, 4).reloadSurge, 4)
  t.equal(resolve({ reloadSurge: 10 }, 4).reloadSurge, 4, 'capped at the worker count')
  for (const bad of [0, -1, 1.5, '0%', '101%', Number.NaN, Infinity]) {
    t.throws(() => resolve({ reloadSurge: bad }), { code: 'FST_CLUSTER_OPTION_OUT_OF_RANGE', message: /^reloadSurge must be/ }, String(bad))
  }
  for (const bad of ['abc', '', '%', 'ten%', null, true]) {
    t.throws(() => resolve({ reloadSurge: bad }), { code: 'FST_CLUSTER_INVALID_OPTION', message: /^reloadSurge must be a positive integer or a percentage of workers/ }, String(bad))
  }
  const fromCli = parseStartArgs(['--workers', '16', '--reload-surge', '4', 'app.js'], {})
  t.equal(resolveOptions(fromCli.options as ClusterOptions, fromCli.names, {}, 4).reloadSurge, 4, '--reload-surge')
  const fromEnv = parseStartArgs(['--workers', '16', 'app.js'], { FASTIFY_RELOAD_SURGE: '50%' })
  t.equal(resolveOptions(fromEnv.options as ClusterOptions, fromEnv.names, {}, 4).reloadSurge, 8, 'FASTIFY_RELOAD_SURGE')
  const named = parseStartArgs(['--reload-surge', 'x', 'app.js'], {})
  t.throws(() => resolveOptions(named.options as ClusterOptions, named.names, {}, 4), { message: /^--reload-surge must be/ })
})

/** A pool whose replacements finish when the test says so. */
function fakePool (slots: number, fail: Set<number> = new Set()) {
  const pending = new Map<number, () => void>()
  let inFlight = 0
  let maxInFlight = 0
  const started: number[] = []
  const target: ReloadTarget = {
    slotCount: slots,
    isRunning: () => true,
    pauseRecycles: () => {},
    replaceSlot: async (slot) => {
      started.push(slot)
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      await new Promise<void>((resolve) => { pending.set(slot, resolve) })
      inFlight--
      const r: SlotReplacement = { slot, ok: !fail.has(slot), oldPid: slot, newPid: 100 + slot }
      return r
    }
  }
  const finish = async (slot: number): Promise<void> => {
    for (let i = 0; i < 10 && !pending.has(slot); i++) await Promise.resolve()
    const done = pending.get(slot)
    if (done === undefined) throw new Error(`slot ${slot} was not started`)
    pending.delete(slot)
    done()
    for (let i = 0; i < 10; i++) await Promise.resolve()
  }
  return { target, finish, started, get maxInFlight () { return maxInFlight }, get pending () { return [...pending.keys()] } }
}

const observer = { start: () => {}, done: () => {} }

t.test('a pass keeps `surge` replacements in flight: the next slot starts as soon as one finishes', async (t) => {
  const pool = fakePool(5)
  const pass = new RollingReload(pool.target, 2, observer).request()
  await Promise.resolve()
  t.same(pool.pending.sort(), [0, 1], 'two at once')
  await pool.finish(1)
  t.same(pool.pending.sort(), [0, 2], 'slot 2 starts when slot 1 is done, without waiting for slot 0')
  await pool.finish(0)
  await pool.finish(2)
  await pool.finish(3)
  await pool.finish(4)
  const result: ReloadResult = await pass
  t.equal(pool.maxInFlight, 2)
  t.same(result.replaced.map((r) => r.slot), [0, 1, 2, 3, 4], 'every slot, in slot order')
  t.equal(result.aborted, null)
})

t.test('a failed replacement starts no more; those in flight finish', async (t) => {
  const pool = fakePool(6, new Set([0]))
  const pass = new RollingReload(pool.target, 3, observer).request()
  await Promise.resolve()
  await pool.finish(0)
  t.same(pool.pending.sort(), [1, 2], 'nothing new started after the failure')
  await pool.finish(1)
  await pool.finish(2)
  const result = await pass
  t.equal(result.aborted, 'failure')
  t.equal(result.failed?.slot, 0)
  t.same(result.replaced.map((r) => r.slot), [1, 2])
  t.same(pool.started, [0, 1, 2])
})

t.test('reload of 8 workers under keep-alive load with the default surge (2): zero failures, capacity never below 8', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '8', '-p', '0', '-a', '127.0.0.1', '--health-port', '0',
    `${FIXTURES}/healthy.js`])
  const port = await cluster.ready(60_000)
  const healthPort = await cluster.healthPort()
  const before = cluster.forkedPids()
  let finished: (r: autocannon.Result) => void = () => {}
  const result = new Promise<autocannon.Result>((resolve) => { finished = resolve })
  const load = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: 300 }, (err, r) => {
    if (err !== null) throw err
    finished(r)
  })
  let minReady = Infinity
  let polling = true
  const poll = (async () => {
    while (polling) {
      const status = JSON.parse((await request(healthPort, '/status')).body) as { ready: number }
      if (polling) minReady = Math.min(minReady, status.ready)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })()
  cluster.child.kill('SIGHUP')
  // Generous: 8 boots on a shared 2-core machine (measured 8 s when idle, much longer under a load average of 25).
  const done = await cluster.waitForEvent('cluster:reload:done', 180_000).finally(() => { polling = false })
  await poll
  load.stop()
  const stats = await result
  t.equal(done.replaced, 8, `8 replaced in ${String(done.durationMs)} ms`)
  t.ok(minReady >= 8, `capacity never below 8 ready workers (min ${minReady})`)
  t.equal(stats.errors, 0, `no failed requests (${stats['2xx']} ok)`)
  t.equal(stats.non2xx, 0)
  const max = cluster.maxConcurrentWorkers()
  t.ok(max > 9 && max <= 10, `two replacements overlapped, never more than N + 2 processes (${max})`)
  t.notOk(cluster.liveWorkerPids().some((pid) => before.includes(pid)), 'every pid replaced')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 3000)
})
