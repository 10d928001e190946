import t from 'tap'
import { lstatSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, ROOT, alive, assertGone, request, waitUntil } from './helpers/cluster-process'
import { privateControlEnv } from './helpers/control-dir'

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']

t.test('--version and -v print the package version', async (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  for (const flag of ['--version', '-v']) {
    const cli = ClusterProcess.cli(t, [flag])
    t.equal((await cli.exit(30_000)).code, 0)
    t.equal(cli.stdout, `${version}\n`, flag)
  }
})

t.test('ls, status, reload and stop on a real cluster without a health port', async (t) => {
  const env = privateControlEnv(t)
  const none = ClusterProcess.cli(t, ['ls'], { env })
  t.equal((await none.exit(30_000)).code, 0, 'ls with nothing running exits 0')
  t.match(none.stdout, 'no fastify-cluster of this user is running')

  const cluster = ClusterProcess.cli(t, [...base, '--name', 'api', `${FIXTURES}/healthy.js`], { env })
  const port = await cluster.ready(60_000)

  // The socket and its directory are the owner's only.
  const files = readdirSync(env.dir)
  const socket = files.find((f) => f.endsWith('.sock'))
  const record = files.find((f) => f.endsWith('.json'))
  t.ok(socket !== undefined && record !== undefined, `a socket and a record: ${files.join(', ')}`)
  t.equal(lstatSync(env.dir).mode & 0o777, 0o700, 'directory 0700')
  t.equal(lstatSync(join(env.dir, socket ?? '')).mode & 0o777, 0o600, 'socket 0600')
  t.equal(lstatSync(join(env.dir, record ?? '')).mode & 0o777, 0o600, 'record 0600')
  t.ok(lstatSync(join(env.dir, socket ?? '')).isSocket())
  // Rewritten with the address once the workers listen (right after the ready line).
  const saved = await waitUntil(() => {
    const r = JSON.parse(readFileSync(join(env.dir, record ?? ''), 'utf8')) as Record<string, unknown>
    return r.address !== null && r
  }, 5000, 'the address in the record')
  t.match(saved, { v: 1, name: 'api', pid: cluster.pid, cwd: ROOT, app: `${FIXTURES}/healthy.js`, address: `http://127.0.0.1:${port}` })

  const ls = ClusterProcess.cli(t, ['ls'], { env })
  t.equal((await ls.exit(30_000)).code, 0)
  t.match(ls.stdout, /^NAME\s+PID\s+STATUS\s+WORKERS\s+ADDRESS\s+UPTIME\s+RESTARTS\s+RECYCLES\n/)
  t.match(ls.stdout, new RegExp(`^api\\s+${cluster.pid}\\s+ok\\s+2/2\\s+http://127\\.0\\.0\\.1:${port}\\s+\\d+s\\s+0\\s+0$`, 'm'))
  const lsJson = ClusterProcess.cli(t, ['ls', '--json'], { env })
  t.equal((await lsJson.exit(30_000)).code, 0)
  t.match(JSON.parse(lsJson.stdout), [{ name: 'api', pid: cluster.pid, status: 'ok', workers: { ready: 2, total: 2 }, address: `http://127.0.0.1:${port}`, restarts: 0, recycles: 0 }])

  // status: by default (the only cluster), by name and by pid.
  for (const target of [[], ['api'], [String(cluster.pid)]]) {
    const status = ClusterProcess.cli(t, ['status', ...target], { env })
    t.equal((await status.exit(30_000)).code, 0, `status ${target.join(' ')}`)
    t.match(status.stdout, /^ID\s+PID\s+STATE\s+UPTIME\s+REPORTED\s+RESTARTS\s+RECYCLES\s+EL DELAY\s+ELU\s+HEAP MB\s+RSS MB$/m)
    for (const pid of cluster.liveWorkerPids()) t.match(status.stdout, new RegExp(`\\b${pid}\\s+ready\\s+\\d+s\\s+\\d+\\.\\ds ago\\s`), `a fresh row for ${pid}`)
    t.match(status.stdout, `2/2 workers ready, cluster ok (api, pid ${cluster.pid})`)
    t.notMatch(status.stdout, 'SILENT')
  }
  const json = ClusterProcess.cli(t, ['status', '--json'], { env })
  t.equal((await json.exit(30_000)).code, 0)
  const doc = JSON.parse(json.stdout) as { ready: number, name: string, pid: number, workers: Array<{ pid: number }> }
  t.match(doc, { ready: 2, name: 'api', pid: cluster.pid })
  t.same(doc.workers.map((w) => w.pid).sort(), cluster.liveWorkerPids().sort())
  const watch = ClusterProcess.cli(t, ['status', '--watch', '--interval', '200ms'], { env })
  await waitUntil(() => watch.stdout.split('workers ready').length > 3, 10_000, 'three refreshes of status --watch')
  watch.child.kill('SIGINT')
  t.equal((await watch.exit(5000)).code, 0, '--watch ends cleanly on Ctrl+C')

  // reload: waits, prints old -> new per slot.
  const before = cluster.liveWorkerPids().sort((a, b) => a - b)
  const reload = ClusterProcess.cli(t, ['reload', 'api'], { env })
  t.equal((await reload.exit(60_000)).code, 0, `reload exits 0\n${reload.stderr}`)
  const moves = [...reload.stdout.matchAll(/^slot (\d): (\d+) -> (\d+)$/gm)].map((m) => ({ slot: Number(m[1]), from: Number(m[2]), to: Number(m[3]) }))
  t.equal(moves.length, 2, reload.stdout)
  t.same(moves.map((m) => m.from).sort((a, b) => a - b), before, 'every old pid replaced')
  t.same(moves.map((m) => m.to).sort((a, b) => a - b), cluster.liveWorkerPids().sort((a, b) => a - b), 'by the workers now running')
  t.match(reload.stdout, /^reloaded 2 workers in \d+\.\ds$/m)
  t.equal((await request(port, '/')).status, 200, 'serving after the reload')

  // stop: waits for the exit and returns its code.
  const workers = cluster.forkedPids()
  const stop = ClusterProcess.cli(t, ['stop'], { env })
  t.equal((await stop.exit(30_000)).code, 0, `stop exits with the cluster's code 0\n${stop.stderr}`)
  t.match(stop.stdout, new RegExp(`stopped "api" \\(pid ${cluster.pid}\\) in \\d+\\.\\ds: exit code 0`))
  t.notOk(alive(cluster.pid), 'the primary is gone when stop returns')
  t.equal((await cluster.exit(5000)).code, 0)
  await assertGone(workers, 5000)
  t.same(readdirSync(env.dir), [], 'socket and record removed on exit')
})

