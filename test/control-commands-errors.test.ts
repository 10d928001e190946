import t from 'tap'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, request } from './helpers/cluster-process'
import { privateControlEnv } from './helpers/control-dir'

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']
const one = ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1']

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
  // Listed oldest first; these two started together.
  t.match(several.stderr, 'FST_CLUSTER_SEVERAL_CLUSTERS: 2 clusters are running; name one: ')
  t.match(several.stderr, `"alpha" (pid ${a.pid})`)
  t.match(several.stderr, `"beta" (pid ${b.pid})`)
  const unknown = ClusterProcess.cli(t, ['status', 'gamma'], { env })
  t.equal((await unknown.exit(30_000)).code, 3)
  t.match(unknown.stderr, 'FST_CLUSTER_NO_CLUSTER: no cluster named "gamma" is running; running: ')
  t.match(unknown.stderr, `"alpha" (pid ${a.pid})`)
  t.match(unknown.stderr, `"beta" (pid ${b.pid})`)
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
