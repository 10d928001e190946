import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { ClusterProcess, FIXTURES, request, waitUntil } from './helpers/cluster-process'
import { privateControlEnv } from './helpers/control-dir'
import { renderStatus } from '../dist/lib/cli/status-command.js'

t.test('fastify-cluster status prints a table of a real running cluster, --json the raw document', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--health-port', '0', `${FIXTURES}/healthy.js`])
  await cluster.ready()
  const url = `http://127.0.0.1:${await cluster.healthPort()}`

  const table = ClusterProcess.cli(t, ['status', '--url', url])
  t.equal((await table.exit(10_000)).code, 0)
  const lines = table.stdout.trim().split('\n')
  t.match(lines[0], /^ID\s+PID\s+STATE\s+UPTIME\s+REPORTED\s+RESTARTS\s+RECYCLES\s+EL DELAY\s+ELU\s+HEAP MB\s+RSS MB$/)
  for (const pid of cluster.forkedPids()) t.match(table.stdout, new RegExp(`\\b${pid}\\s+ready\\b`), `a row for worker ${pid}`)
  t.match(lines.at(-1), `2/2 workers ready, cluster ok (${url})`)
  t.notMatch(table.stdout, /\x1b\[/, 'no colours when stdout is not a terminal')

  const json = ClusterProcess.cli(t, ['status', '--url', url, '--json'])
  t.equal((await json.exit(10_000)).code, 0)
  const doc = JSON.parse(json.stdout) as { ready: number, workers: Array<{ pid: number }> }
  t.equal(doc.ready, 2)
  t.same(doc.workers.map((w) => w.pid).sort(), cluster.forkedPids().sort())

  const watch = ClusterProcess.cli(t, ['status', '--url', url, '--watch', '--interval', '200ms'])
  await waitUntil(() => watch.stdout.split('workers ready').length > 3, 5000, 'three refreshes')
  watch.child.kill('SIGINT')
  t.equal((await watch.exit(5000)).code, 0, '--watch ends cleanly on Ctrl+C')

  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('nothing answering: a clear message and exit 1', async (t) => {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  server.close()
  await once(server, 'close')
  const status = ClusterProcess.cli(t, ['status', '--url', `http://127.0.0.1:${port}`])
  t.equal((await status.exit(10_000)).code, 1)
  t.match(status.stderr, new RegExp(`FST_CLUSTER_STATUS_UNREACHABLE: no fastify-cluster answers at http://127.0.0.1:${port}: ECONNREFUSED`))
  // Without --url, the control socket: nothing runs in this private directory.
  const missing = ClusterProcess.cli(t, ['status'], { env: { ...privateControlEnv(t), FASTIFY_CLUSTER_STATUS_URL: undefined } })
  t.equal((await missing.exit(10_000)).code, 3)
  t.match(missing.stderr, /FST_CLUSTER_NO_CLUSTER: no fastify-cluster of this user is running/)
  const both = ClusterProcess.cli(t, ['status', 'api', '--url', 'http://127.0.0.1:1'])
  t.equal((await both.exit(10_000)).code, 1)
  t.match(both.stderr, /status takes a name or --url, not both/)
  const typo = ClusterProcess.cli(t, ['status', '--jsn'])
  t.equal((await typo.exit(10_000)).code, 1)
  t.match(typo.stderr, /unknown flag "--jsn" \(did you mean "--json"\?\)/)
})

t.test('renderStatus colours rows by state on a terminal', async (t) => {
  const sample = { eventLoopDelay: 1.25, eventLoopUtilization: 0.5, heapUsed: 10 * 1024 * 1024, rss: 50 * 1024 * 1024, underPressure: false, checkHealthy: null, receivedAt: 0 }
  const doc = {
    status: 'ok',
    ready: 1,
    workers: [
      { id: 1, slot: 0, pid: 11, state: 'ready' as const, uptime: 65_000, restarts: 2, lastHealth: sample, address: null, recycling: false, recycles: { rss: 1 } },
      { id: 2, slot: 1, pid: 12, state: 'starting' as const, uptime: 500, restarts: 0, lastHealth: null, address: null, recycling: false, recycles: {} }
    ]
  }
  const plain = renderStatus(doc, 'http://x', false, 800)
  t.match(plain, /^1\s+11\s+ready\s+1m05s\s+0\.8s ago\s+2\s+1\s+1\.3ms\s+50%\s+10\.0\s+50\.0$/m)
  t.match(plain, /^2\s+12\s+starting\s+0s\s+-\s+0\s+0\s+-\s+-\s+-\s+-$/m)
  t.match(plain, '1/2 workers ready, cluster ok (http://x)')
  const colored = renderStatus(doc, 'http://x', true, 800)
  t.match(colored, '\x1b[32m1 ', 'ready is green')
  t.match(colored, '\x1b[33m2 ', 'starting is yellow')
})

t.test('renderStatus marks a worker silent past twice the sample interval; its numbers shown as old', async (t) => {
  const sample = { eventLoopDelay: 1.25, eventLoopUtilization: 0.5, heapUsed: 10 * 1024 * 1024, rss: 50 * 1024 * 1024, underPressure: false, checkHealthy: null, receivedAt: 10_000 }
  const worker = { id: 1, slot: 0, pid: 11, state: 'ready' as const, uptime: 65_000, restarts: 0, lastHealth: sample, address: null, recycling: false, recycles: {} }
  const fresh = renderStatus({ status: 'ok', ready: 1, workers: [worker], at: 12_000, sampleInterval: 1000 }, 'x', false)
  t.notMatch(fresh, 'SILENT', '2.0 s with a 1 s interval: not yet')
  const silent = renderStatus({ status: 'ok', ready: 1, workers: [worker], at: 15_200, sampleInterval: 1000 }, 'x', true)
  t.match(silent, /5\.2s ago SILENT\s+0\s+0\s+\(1\.3ms\)\s+\(50%\)\s+\(10\.0\)\s+\(50\.0\)/)
  t.match(silent, '1 SILENT: no report for over 2.0s (blocked event loop?)')
  t.match(silent, '\x1b[31m1 ', 'a silent row is red')
})

t.test('a worker blocked for seconds shows as SILENT in status (control socket), not fresh', async (t) => {
  const env = privateControlEnv(t)
  // A watchdog far away, so the blocked worker stays blocked (and listed) while we look.
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--heartbeat-timeout', '60s', `${FIXTURES}/healthy.js`], { env })
  const port = await cluster.ready(60_000)
  // Blocks whichever worker takes it for 8 s; its reply comes after.
  const blocked = request(port, '/stall?ms=8000', { timeout: 30_000 })
  // One status at a time until a row turns SILENT (each run waits for the previous one).
  let last = ''
  const deadline = Date.now() + 20_000
  while (!/SILENT/.test(last)) {
    if (Date.now() > deadline) throw new Error(`no SILENT row within 20 s; last:\n${last}`)
    const status = ClusterProcess.cli(t, ['status'], { env })
    t.equal((await status.exit(15_000)).code, 0, 'status answers while a worker is blocked')
    last = status.stdout
  }
  t.match(last, /^\d+\s+\d+\s+ready\s+\d+s\s+\d+\.\ds ago SILENT\s/m, 'the blocked worker: ready, but silent for seconds')
  t.match(last, /^\d+\s+\d+\s+ready\s+\d+s\s+[01]\.\ds ago\s+\d/m, 'the other worker: fresh')
  t.match(last, '1 SILENT: no report for over 2.0s (blocked event loop?)')
  const stalled = JSON.parse((await blocked).body) as { pid: number }
  t.match(last, new RegExp(`^\\d+\\s+${stalled.pid}\\s+ready\\s+\\d+s\\s+\\d+\\.\\ds ago SILENT`, 'm'), `the silent one is ${stalled.pid}, the one that stalled`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
