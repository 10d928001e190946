import t from 'tap'
import cluster from 'node:cluster'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import clusterPlugin, { start } from '../dist/lib/index.js'

// Nothing in this file may fork: every case fails (or stops) before listen() would launch workers.
let forks = 0
cluster.on('fork', () => { forks++ })

const app = async (): Promise<void> => {}

const BAD: Array<Record<string, unknown>> = [
  { workers: 0 },
  { workers: -1 },
  { workers: 1.5 },
  { workers: 'abc' },
  { workers: '' },
  { workers: null },
  { workers: 100_000 },
  { wrokers: 2 },
  { workers: 2, sampleInterval: 1000, heartbeatTimeout: 100 },
  { workers: 2, drainDelay: -1 },
  { workers: 2, drainDelay: '3 weeks' },
  { workers: 2, maxRssBytes: '1XB' },
  { workers: 2, healthPort: 70_000 },
  { workers: 2, schedulingPolicy: 'random' },
  { workers: 2, restartDelay: 500, maxRestartDelay: 100 },
  { workers: 2, onWorkerExit: 'log it' },
  { workers: 2, drainDelay: 2 ** 31, workerStopTimeout: 1 }
]

t.test('bad cluster options: the same coded error as start(), at register time, before any fork', async (t) => {
  for (const input of BAD) {
    let fromStart: { code?: string, message?: string } = {}
    try {
      start({ ...input, app } as never)
      t.fail(`start() accepted ${JSON.stringify(input)}`)
    } catch (err) {
      fromStart = err as Error & { code: string }
    }
    const instance = Fastify()
    await t.rejects(async () => { await instance.register(clusterPlugin, input as never).ready() },
      { code: fromStart.code, message: fromStart.message }, `${JSON.stringify(input)}: ${fromStart.code ?? 'no error'}`)
  }
})

t.test('options describing the app are refused, naming where they go', async (t) => {
  for (const [key, where] of [['port', /listen\(\)/], ['host', /listen\(\)/], ['serverOptions', /Fastify\(\)/], ['app', /this script/], ['appFile', /this script/]] as const) {
    await t.rejects(async () => { await Fastify().register(clusterPlugin, { workers: 2, [key]: 1 } as never).ready() },
      { code: 'FST_CLUSTER_CONFLICTING_OPTIONS', message: where }, key)
  }
  await t.rejects(async () => { await Fastify().register(clusterPlugin, { underPresure: {} } as never).ready() },
    { code: 'FST_CLUSTER_UNKNOWN_OPTION', message: /did you mean "underPressure"/ })
})

t.test('healthPort equal to the port given to listen(): listen() rejects, nothing forked', async (t) => {
  const instance = Fastify()
  await instance.register(clusterPlugin, { workers: 2, healthPort: 45_678, signals: false, logger: false })
  await t.rejects(instance.listen({ port: 45_678, host: '127.0.0.1' }), { code: 'FST_CLUSTER_CONFLICTING_OPTIONS', message: /healthPort/ })
  await instance.close()
})

t.test('registered with cluster options but never listening: app.cluster is the primary handle, nothing runs', async (t) => {
  const signals = process.listenerCount('SIGTERM')
  const instance = Fastify()
  await instance.register(clusterPlugin, { workers: 3, logger: false })
  await instance.ready()
  const view = instance.cluster
  t.equal(view.isPrimary, true)
  if (!view.isPrimary) return
  t.equal(view.isWorker, false)
  t.equal(view.workerId, null)
  t.same(view.workers(), [])
  t.equal(typeof view.reload, 'function')
  t.equal(typeof view.on, 'function', 'the handle\'s events')
  await t.rejects(view.reload(), { code: 'FST_CLUSTER_RELOAD_UNAVAILABLE' })
  t.equal(process.listenerCount('SIGTERM'), signals, 'no signal handler before listen()')
  t.equal(instance.hasDecorator('memoryUsage'), false, 'no under-pressure in a primary: it serves nothing')
  await instance.close()
  t.equal((await view.closed).code, 0, 'closed cleanly')
  t.equal(view.draining, true)
})

t.test('without cluster options in a plain process: degraded as before, plus one line saying how to get workers', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const instance = Fastify({ logger: { stream } })
  await instance.register(clusterPlugin, { sampleInterval: 50 })
  await instance.ready()
  t.equal(instance.cluster.isPrimary, false)
  t.equal(instance.cluster.isWorker, false)
  const hints = lines.filter((l) => l.includes('workers: \\"max\\"') || l.includes('workers: "max"'))
  t.equal(hints.length, 1, 'one line')
  t.match(hints[0], /fastify-cluster CLI/)
  await instance.close()
  t.equal(forks, 0, 'nothing was forked by this file')
})

t.test('nothing was forked by any case in this file', async (t) => {
  t.equal(forks, 0)
})
