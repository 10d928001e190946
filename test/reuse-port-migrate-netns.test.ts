/*
 * reusePort reloads under one-request-per-connection load, with net.ipv4.tcp_migrate_req at 1 and at its default
 * 0. The setting is per network namespace: each run gets a private one (`unshare -n`, loopback up, the sysctl set
 * inside), so the host's setting is never read or changed. Needs root (unshare) and a Node with reusePort.
 */
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { reusePortSupport } from '../dist/lib/primary/connection-distribution.js'
import { CLI, ClusterProcess, FIXTURES, ROOT, alive, assertGone } from './helpers/cluster-process'

const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js')

function netnsUnavailable (): string | false {
  const support = reusePortSupport()
  if (!support.supported) return support.reason
  if (process.platform !== 'linux') return 'network namespaces are Linux only'
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=1'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    return `cannot make a private network namespace (unshare -n needs root and iproute2): ${probe.error?.message ?? probe.stderr.trim()}`
  }
  return false
}
const skip = netnsUnavailable()

/** `fastify-cluster <args>` as the only process of a fresh network namespace whose tcp_migrate_req is `migrate`. */
function clusterInNetns (t: Test, migrate: 0 | 1, args: string[]): ClusterProcess {
  const setup = `ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=${migrate} && exec "$0" "$@"`
  const child = spawn('unshare', ['-n', 'sh', '-c', setup, process.execPath, CLI, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env
  })
  const cluster = new ClusterProcess(child)
  t.teardown(async () => {
    for (const pid of [child.pid, ...cluster.forkedPids()]) {
      if (pid !== undefined && alive(pid)) try { process.kill(pid, 'SIGKILL') } catch {}
    }
    if (child.exitCode === null && child.signalCode === null) await cluster.exited
  })
  return cluster
}

interface LoadResult { errors: number, timeouts: number, non2xx: number, requests: { total: number } }

/** autocannon inside the cluster's namespace (its loopback is not the host's). */
async function loadInNetns (pid: number, port: number, seconds: number): Promise<LoadResult> {
  const child = spawn('nsenter', ['-t', String(pid), '-n', process.execPath, AUTOCANNON, '--json', '-c', '50', '-d', String(seconds),
    '-H', 'connection=close', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c })
  const code = await new Promise((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`autocannon in the namespace exited ${String(code)}: ${err.slice(-500)}`)
  return JSON.parse(out.slice(out.indexOf('{'))) as LoadResult
}

async function reloadUnderLoad (t: Test, migrate: 0 | 1): Promise<{ cluster: ClusterProcess, result: LoadResult }> {
  const cluster = clusterInNetns(t, migrate, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--reuse-port', `${FIXTURES}/healthy.js`])
  const port = await cluster.ready(60_000)
  const before = cluster.liveWorkerPids()
  const load = loadInNetns(cluster.pid, port, 6)
  // The old sockets close once the replacements have booted (~0.5 s): well inside the 6 s of load.
  cluster.child.kill('SIGHUP')
  const done = await cluster.waitForEvent('cluster:reload:done', 60_000)
  t.equal(done.replaced, 2, 'both workers replaced')
  const result = await load
  t.ok(result.requests.total > 300, `${result.requests.total} requests`)
  t.equal(result.non2xx, 0, 'no non-2xx')
  for (const pid of cluster.liveWorkerPids()) t.notOk(before.includes(pid), `${pid} is new`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
  return { cluster, result }
}

t.test('tcp_migrate_req=1 (private namespace): a reusePort reload under load loses no request', { skip }, async (t) => {
  const { cluster, result } = await reloadUnderLoad(t, 1)
  t.same(cluster.events('cluster:reuse-port-migrate-off'), [], 'no warning: the primary read 1 in its namespace')
  t.equal(result.errors + result.timeouts, 0, `0 failed of ${result.requests.total}`)
})

t.test('tcp_migrate_req=0 (the default): the primary warns once, the reload completes, losses are reported', { skip }, async (t) => {
  const { cluster, result } = await reloadUnderLoad(t, 0)
  t.equal(cluster.events('cluster:reuse-port-migrate-off').length, 1, 'warned that tcp_migrate_req is 0')
  t.comment(`tcp_migrate_req=0: ${result.errors + result.timeouts} failed of ${result.requests.total} (connections queued on a closing socket are reset)`)
})

