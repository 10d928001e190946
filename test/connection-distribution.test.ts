import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { reusePortSupport, tcpMigrateReq } from '../dist/lib/primary/connection-distribution.js'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'
import { listenersByPid } from './helpers/listening-sockets'

const here = reusePortSupport()

t.test('reusePort support by Node version and platform', async (t) => {
  t.same(reusePortSupport('24.11.0', 'linux'), { supported: true })
  t.same(reusePortSupport('23.1.0', 'freebsd'), { supported: true })
  t.same(reusePortSupport('22.12.0', 'linux'), { supported: true })
  t.match(reusePortSupport('22.11.0', 'linux'), { supported: false, reason: /Node 22\.11\.0.*22\.12/ })
  t.match(reusePortSupport('23.0.0', 'linux'), { supported: false })
  t.match(reusePortSupport('20.19.0', 'linux'), { supported: false, reason: /Node 20\.19\.0/ })
  t.match(reusePortSupport('24.0.0', 'darwin'), { supported: false, reason: /darwin/ })
  t.match(reusePortSupport('24.0.0', 'win32'), { supported: false, reason: /win32/ })
})

t.test('tcp_migrate_req is read from /proc, null where absent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'migrate-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'on'), '1\n')
  writeFileSync(join(dir, 'off'), '0\n')
  t.equal(tcpMigrateReq(join(dir, 'on')), true)
  t.equal(tcpMigrateReq(join(dir, 'off')), false)
  t.equal(tcpMigrateReq(join(dir, 'missing')), null)
})

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']

/** Distinct pids answering `Connection: close` requests (each request is a new connection). */
async function answeringPids (port: number, n: number): Promise<Set<number>> {
  const pids = new Set<number>()
  for (let i = 0; i < n; i++) {
    const res = await request(port, '/')
    pids.add((JSON.parse(res.body) as { pid: number }).pid)
  }
  return pids
}

t.test('default (round-robin): only the primary holds the listening socket', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const workers = cluster.liveWorkerPids()
  const held = listenersByPid(port, [cluster.child.pid as number, ...workers])
  t.equal(held.get(cluster.child.pid as number)?.length, 1, 'the primary holds it')
  for (const pid of workers) t.same(held.get(pid), [], `worker ${pid} holds none`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('--scheduling-policy none: the workers share one listening socket and both serve', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--scheduling-policy', 'none', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const workers = cluster.liveWorkerPids()
  const held = listenersByPid(port, workers)
  const inodes = new Set(workers.flatMap((pid) => held.get(pid) ?? []))
  t.equal(inodes.size, 1, 'one socket')
  for (const pid of workers) t.equal(held.get(pid)?.length, 1, `worker ${pid} holds it`)
  const res = await request(port, '/')
  t.equal(res.status, 200)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('--scheduling-policy with a bad value fails before forking', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--scheduling-policy', 'random', `${FIXTURES}/healthy.js`])
  t.equal((await cluster.exit(10_000)).code, 1)
  t.match(cluster.stderr, /FST_CLUSTER_INVALID_OPTION: --scheduling-policy must be "rr".*"none".*received "random"/)
  t.same(cluster.forkedPids(), [])
})

t.test('--reuse-port where Node lacks it: one warning, the shared socket instead', { skip: here.supported ? `Node ${process.versions.node} supports reusePort (covered below)` : false }, async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--reuse-port', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const warnings = cluster.events('cluster:reuse-port-unavailable')
  t.equal(warnings.length, 1, 'warned once')
  t.match(warnings[0]?.reason, /reusePort/)
  t.equal(listenersByPid(port, [cluster.child.pid as number]).get(cluster.child.pid as number)?.length, 1,
    'the primary holds the socket')
  t.equal((await request(port, '/')).status, 200)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('--reuse-port: each worker binds its own socket on the same port, the kernel spreads connections, reload loses nothing', {
  skip: here.supported ? false : here.reason
}, async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--reuse-port', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready()
  const workers = cluster.liveWorkerPids()
  const ports = new Set(cluster.events('worker:ready').map((l) => (l.address as { port: number }).port))
  t.same([...ports], [port], 'port 0 became one port for every worker')
  const held = listenersByPid(port, [cluster.child.pid as number, ...workers])
  t.same(held.get(cluster.child.pid as number), [], 'the primary holds no listening socket')
  const inodes = workers.map((pid) => held.get(pid) ?? [])
  for (const own of inodes) t.equal(own.length, 1, 'each worker holds one')
  t.not(inodes[0]?.[0], inodes[1]?.[0], 'and they are different sockets')
  // The kernel hashes each new connection to a socket: 50 connections all landing on one worker is ~1e-15.
  const seen = new Set<number>()
  for (let i = 0; i < 5 && seen.size < 2; i++) for (const pid of await answeringPids(port, 10)) seen.add(pid)
  t.equal(seen.size, 2, 'new connections reach both workers')

  const migrate = tcpMigrateReq()
  if (migrate === false) t.ok(cluster.events('cluster:reuse-port-migrate-off').length === 1, 'warned that tcp_migrate_req is 0')

  // A reload under one-request-per-connection load: every old socket closes while connections keep arriving.
  const load = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 50, duration: 6, headers: { connection: 'close' } })
  cluster.child.kill('SIGHUP')
  const done = await cluster.waitForEvent('cluster:reload:done', 30_000)
  t.equal(done.replaced, 2, 'both workers replaced')
  const result = await load
  t.ok(result.requests.total > 500, `${result.requests.total} requests`)
  t.equal(result.non2xx, 0, 'no non-2xx')
  if (migrate === true) {
    t.equal(result.errors + result.timeouts, 0, 'tcp_migrate_req=1: no failed request across the reload')
  } else {
    t.comment(`tcp_migrate_req is ${String(migrate)}: ${result.errors} failed of ${result.requests.total} (connections queued on a closing socket are reset)`)
  }
  const after = cluster.liveWorkerPids()
  t.equal(after.length, 2)
  for (const pid of after) t.notOk(workers.includes(pid), `${pid} is new`)
  const heldAfter = listenersByPid(port, after)
  for (const pid of after) t.equal(heldAfter.get(pid)?.length, 1, `replacement ${pid} bound its own socket on the same port`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})
