import t from 'tap'
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, ROOT, alive, assertGone, request, waitUntil } from './helpers/cluster-process'
import { privateControlEnv } from './helpers/control-dir'

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']
const one = ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1']

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

t.test('no cluster, several clusters, an unknown name: coded errors listing what runs', async (t) => {
  const env = privateControlEnv(t)
  for (const command of ['status', 'reload', 'stop']) {
    const cli = ClusterProcess.cli(t, [command], { env })
    t.equal((await cli.exit(30_000)).code, 3, `${command} with nothing running exits 3`)
    t.match(cli.stderr, 'FST_CLUSTER_NO_CLUSTER: no fastify-cluster of this user is running')
  }
  const a = ClusterProcess.cli(t, [...one, '--name', 'alpha', `${FIXTURES}/healthy.js`], { env })
  const b = ClusterProcess.cli(t, [...one, `${FIXTURES}/healthy.js`], { env: { ...env, FASTIFY_CLUSTER_NAME: 'beta' } })
  await Promise.all([a.ready(60_000), b.ready(60_000)])
  const several = ClusterProcess.cli(t, ['reload'], { env })
  t.equal((await several.exit(30_000)).code, 1)
  t.match(several.stderr, `FST_CLUSTER_SEVERAL_CLUSTERS: 2 clusters are running; name one: "alpha" (pid ${a.pid}), "beta" (pid ${b.pid})`)
  const unknown = ClusterProcess.cli(t, ['status', 'gamma'], { env })
  t.equal((await unknown.exit(30_000)).code, 3)
  t.match(unknown.stderr, `FST_CLUSTER_NO_CLUSTER: no cluster named "gamma" is running; running: "alpha" (pid ${a.pid}), "beta" (pid ${b.pid})`)
  const ls = ClusterProcess.cli(t, ['ls', '--json'], { env })
  t.equal((await ls.exit(30_000)).code, 0)
  t.same((JSON.parse(ls.stdout) as Array<{ name: string }>).map((c) => c.name).sort(), ['alpha', 'beta'])

  // A primary that died without cleaning up: its entry is removed by the next command.
  b.child.kill('SIGKILL')
  await b.exit(5000)
  const after = ClusterProcess.cli(t, ['status'], { env })
  t.equal((await after.exit(30_000)).code, 0, `status names the one left\n${after.stderr}`)
  t.match(after.stdout, `(alpha, pid ${a.pid})`)
  t.same(readdirSync(env.dir).filter((f) => f.startsWith(`${b.pid}-`)), [], "the dead primary's socket and record are gone")
  const typo = ClusterProcess.cli(t, ['reload', '--jsno'], { env })
  t.equal((await typo.exit(30_000)).code, 1)
  t.match(typo.stderr, 'FST_CLUSTER_UNKNOWN_FLAG: unknown flag "--jsno" (did you mean "--json"?)')
  const badName = ClusterProcess.cli(t, [...base, '--name', 'a b/c', `${FIXTURES}/healthy.js`], { env })
  t.equal((await badName.exit(30_000)).code, 1)
  t.match(badName.stderr, 'FST_CLUSTER_INVALID_OPTION: --name must be a name of 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, received "a b/c"')
  t.equal(badName.forkedPids().length, 0, 'nothing forked')
})

t.test('reload into code that cannot boot: prints the kept worker and exits 1; the cluster keeps serving', async (t) => {
  const env = privateControlEnv(t)
  const flag = join(env.XDG_RUNTIME_DIR, 'fail-boot')
  const cluster = ClusterProcess.cli(t, [...base, '--name', 'broken', `${FIXTURES}/healthy.js`], { env: { ...env, FIXTURE_FAIL_BOOT_IF: flag } })
  const port = await cluster.ready(60_000)
  writeFileSync(flag, '')
  const reload = ClusterProcess.cli(t, ['reload'], { env })
  t.equal((await reload.exit(60_000)).code, 1, 'exit 1 when the pass is aborted')
  t.match(reload.stdout, /^slot 0: \d+ kept \(its replacement \d+ failed/m)
  t.match(reload.stdout, /reload stopped after \d+\.\ds \(a new worker failed to start\): the old workers keep serving/)
  t.equal((await request(port, '/')).status, 200, 'still serving')
  const stop = ClusterProcess.cli(t, ['stop', 'broken', '--json'], { env })
  t.equal((await stop.exit(30_000)).code, 0)
  t.match(JSON.parse(stop.stdout), { name: 'broken', pid: cluster.pid, code: 0, exited: true })
})

t.test('--no-control (and FASTIFY_CLUSTER_CONTROL=false) writes nothing and is not listed', async (t) => {
  const env = privateControlEnv(t)
  const off = ClusterProcess.cli(t, [...one, '--no-control', `${FIXTURES}/healthy.js`], { env })
  const offByEnv = ClusterProcess.cli(t, [...one, `${FIXTURES}/healthy.js`], { env: { ...env, FASTIFY_CLUSTER_CONTROL: 'false' } })
  await Promise.all([off.ready(60_000), offByEnv.ready(60_000)])
  let entries: string[] = []
  try { entries = readdirSync(env.dir) } catch {}
  t.same(entries, [], 'no socket, no record')
  const ls = ClusterProcess.cli(t, ['ls', '--json'], { env })
  t.equal((await ls.exit(30_000)).code, 0)
  t.same(JSON.parse(ls.stdout), [])
  off.child.kill('SIGTERM')
  offByEnv.child.kill('SIGTERM')
  t.equal((await off.exit(30_000)).code, 0)
  t.equal((await offByEnv.exit(30_000)).code, 0)
})
