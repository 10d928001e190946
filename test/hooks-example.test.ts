import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, ROOT, alive, assertGone, request, type LogLine } from './helpers/cluster-process'

const SERVER = join(ROOT, 'examples', 'hooks', 'server.js')

t.test('examples/hooks: onClose closes the pool on reload and shutdown; the primary hooks report each step', async (t) => {
  const cluster = ClusterProcess.node(t, [SERVER], { env: { PORT: '0', WORKERS: '2' } })
  const said = (what: string): LogLine[] => cluster.lines.filter((l) => l.example === what)
  const pidsOf = (what: string): number[] => said(what).map((l) => l.pid as number)
  const until = async (what: string, n: number, timeout: number): Promise<LogLine[]> => {
    await cluster.waitFor(() => said(what).length >= n, timeout, `${n} x "${what}" line(s) from the example`)
    return said(what)
  }
  const servedBy = async (port: number): Promise<number> => {
    const res = await request(port, '/')
    t.equal(res.status, 200, 'GET / answers 200')
    const body = JSON.parse(res.body) as { pid: number, now: unknown }
    t.type(body.now, 'number', 'with a row from the pool')
    return body.pid
  }
  // The example runs with logger: false, so its own lines are the only record of worker pids: kill those too.
  t.teardown(() => {
    for (const pid of pidsOf('worker ready')) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })

  const ready = (await until('cluster ready', 1, 60_000))[0]
  const port = (ready?.address as { port?: number } | undefined)?.port ?? 0
  t.ok(port > 0 && port !== 3000, `PORT=0 is honoured: listening on ephemeral port ${port}`)
  await until('worker ready', 2, 60_000)
  const first = pidsOf('worker ready')
  t.equal(new Set(first).size, 2, 'WORKERS=2: two workers, each reported once by onWorkerReady')
  t.ok(first.includes(await servedBy(port)), 'a worker of the first generation answers')

  // SIGHUP: rolling reload. Each old worker drains (its onClose closes the pool) after its replacement is ready.
  process.kill(cluster.pid, 'SIGHUP')
  const reloaded = (await until('reloaded', 1, 120_000))[0]
  t.match(reloaded, { replaced: 2, aborted: null }, 'onReload: both workers replaced, not aborted')
  await until('pool closed', 2, 30_000)
  t.same(pidsOf('pool closed').sort(), [...first].sort(), 'onClose ran in each old worker during its drain')
  await until('worker exit', 2, 30_000)
  t.same(said('worker exit').map((l) => [l.pid, l.reason, l.restartIn]).sort(),
    first.map((pid) => [pid, 'recycled', null]).sort(), 'onWorkerExit: the old workers left as recycled, not restarted')
  const second = pidsOf('worker ready').slice(2)
  t.equal(second.length, 2, 'two replacements reported ready')
  t.notOk(second.some((pid) => first.includes(pid)), 'with new pids')
  await assertGone(first, 5000)
  t.ok(second.includes(await servedBy(port)), 'a worker of the second generation answers on the same port')
  t.same(said('recycling'), [], 'a reload is not a health recycle: no WORKER_RECYCLE line')

  // SIGTERM: graceful shutdown; onShutdown first, then each current worker drains and closes its pool.
  process.kill(cluster.pid, 'SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0, 'SIGTERM: exit 0')
  t.equal(said('shutting down').length, 1, 'onShutdown ran once')
  t.match(said('shutting down')[0], { signal: 'SIGTERM' }, 'with the signal')
  t.same(pidsOf('pool closed').slice(2).sort(), [...second].sort(), 'onClose ran in each current worker')
  t.same(said('worker exit').slice(2).map((l) => [l.pid, l.reason]).sort(),
    second.map((pid) => [pid, 'stopped']).sort(), 'onWorkerExit: the current workers stopped')
  await assertGone([cluster.pid, ...first, ...second], 2000)
})
