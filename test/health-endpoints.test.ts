import t from 'tap'
import net from 'node:net'
import http from 'node:http'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, request } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`
const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--health-port', '0']

/** Any method, raw headers; resolves with the status code. */
async function send (port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('every endpoint, minimal bodies, no-store, hostile requests', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, app])
  await cluster.ready()
  const port = await cluster.healthPort()

  const live = await request(port, '/live')
  t.equal(live.status, 200)
  t.same(JSON.parse(live.body), { status: 'ok' }, 'a minimal body')
  t.equal(live.headers['cache-control'], 'no-store')
  const ready = await request(port, '/ready')
  t.equal(ready.status, 200)
  t.same(JSON.parse(ready.body), { status: 'ok' })

  const status = JSON.parse((await request(port, '/status')).body) as { ready: number, workers: Array<{ pid: number, state: string, recycles: object, lastHealth: { rss: number } }> }
  t.equal(status.ready, 2)
  t.same(status.workers.map((w) => w.pid).sort(), cluster.forkedPids().sort(), '/status lists every worker')
  t.ok(status.workers.every((w) => w.state === 'ready' && w.lastHealth.rss > 0 && typeof w.recycles === 'object'))

  const metrics = await request(port, '/metrics')
  t.equal(metrics.status, 200)
  t.match(metrics.headers['content-type'], /text\/plain/)
  for (const name of ['fastify_cluster_workers{state="ready"} 2', 'fastify_cluster_worker_rss_bytes', 'fastify_cluster_worker_event_loop_utilization',
    'fastify_cluster_worker_heap_used_bytes', 'fastify_cluster_worker_event_loop_delay_milliseconds', 'fastify_cluster_recycles_total',
    'fastify_cluster_worker_exits_total']) {
    t.match(metrics.body, name)
  }

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await send(port, method, '/ready')
    t.equal(res.status, 405, `${method} /ready is 405`)
    t.equal(res.headers.allow, 'GET, HEAD')
  }
  t.equal((await send(port, 'HEAD', '/live')).status, 200, 'HEAD works')
  const missing = await request(port, '/../../etc/passwd')
  t.equal(missing.status, 404)
  t.notMatch(missing.body, /stack|at /, 'no stack trace')
  t.equal((await request(port, '/ready?x=' + 'a'.repeat(4000))).status, 200, 'a long query string is harmless')
  const huge = await send(port, 'GET', '/live', { 'x-huge': 'x'.repeat(16 * 1024) })
  t.equal(huge.status, 431, 'oversized headers are refused')
  // A client that never finishes its request does not hold the server: others are still answered.
  const slow = net.connect(port, '127.0.0.1')
  slow.write('GET /live HTTP/1.1\r\nHost: x\r\n')
  t.teardown(() => { slow.destroy() })
  t.equal((await request(port, '/live')).status, 200, 'answers while a slow client dawdles')

  const appPort = (cluster.events('cluster:ready')[0]?.address as { port: number }).port
  const appReady = await request(appPort, '/health')
  t.equal(appReady.status, 200, 'the readiness route on the app port')
  t.same(JSON.parse(appReady.body), { status: 'ok' })
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})

t.test('SIGTERM with drainDelay: /ready 503 at once, /live 200, requests during the delay succeed', async (t) => {
  const drainDelay = 5000
  const cluster = ClusterProcess.cli(t, [...base, '--drain-delay', `${drainDelay}ms`, app])
  const appPort = await cluster.ready()
  const port = await cluster.healthPort()
  const signalled = Date.now()
  cluster.child.kill('SIGTERM')
  let flipped = 0
  for (;;) {
    const res = await request(port, '/ready')
    if (res.status === 503) {
      flipped = Date.now() - signalled
      t.equal(res.headers['retry-after'], '5')
      break
    }
    if (Date.now() - signalled > drainDelay) break
  }
  // The outcome: 503 before the drain delay is over (the 100 ms target is measured in bench/, not on a busy host).
  t.ok(flipped > 0, `/ready turned 503 ${flipped} ms after SIGTERM`)
  t.equal((await request(port, '/live')).status, 200, '/live stays 200 while draining')
  let ok = 0
  let sent = 0
  let draining = 0
  // Only while the delay surely lasts: after it the workers close and fresh connections are refused.
  while (Date.now() - signalled < drainDelay - 1500) {
    sent++
    const res = await request(appPort, '/')
    if (res.status === 200) ok++
    const health = await request(appPort, '/health')
    if (health.status === 503) draining++
  }
  t.ok(sent > 0, `requests sent during the delay (${sent})`)
  t.equal(ok, sent, 'every request during the delay succeeds')
  t.ok(draining > 0, 'the app-port readiness route reports draining')
  t.equal((await cluster.exit(30_000)).code, 0)
})

t.test('/status is off on a non-loopback address unless enabled; health port equal to the app port is refused', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--health-address', '0.0.0.0', app])
  await cluster.ready()
  const port = await cluster.healthPort()
  t.equal((await request(port, '/status')).status, 404, '/status off')
  t.equal((await request(port, '/live')).status, 200)
  cluster.child.kill('SIGTERM')
  await cluster.exit(15_000)

  const clash = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '4567', '--health-port', '4567', app])
  t.equal((await clash.exit(10_000)).code, 1)
  t.match(clash.stderr, /FST_CLUSTER_CONFLICTING_OPTIONS: --health-port and --port are both 4567/)
  t.equal(clash.forkedPids().length, 0)
})

t.test('the health server answers while every worker is stuck', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--heartbeat-timeout', '20s', app])
  const appPort = await cluster.ready()
  const port = await cluster.healthPort()
  // Block both workers: fresh connections alternate between them; keep sending until both stop reporting.
  const blocked = async (): Promise<Set<number>> => {
    const status = JSON.parse((await request(port, '/status')).body) as { workers: Array<{ pid: number, lastHealth: { receivedAt: number } | null }> }
    // Silent for 3 sample intervals: its loop is blocked.
    return new Set(status.workers.filter((w) => w.lastHealth !== null && Date.now() - w.lastHealth.receivedAt > 3000).map((w) => w.pid))
  }
  let pids = new Set<number>()
  const deadline = Date.now() + 30_000
  while (pids.size < 2) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for both workers to be blocked (${[...pids].join(', ')})`)
    request(appPort, '/block', { timeout: 60_000 }).catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 500))
    pids = await blocked()
  }
  t.same([...pids].sort(), cluster.forkedPids().sort(), 'every worker is blocked')
  const started = Date.now()
  t.equal((await request(port, '/live')).status, 200)
  t.equal((await request(port, '/status')).status, 200, '/status answers too')
  t.ok(Date.now() - started < 2000, `promptly (${Date.now() - started} ms)`)
  cluster.child.kill('SIGKILL')
  await cluster.exit(5000)
  for (const pid of cluster.forkedPids()) { try { process.kill(pid, 'SIGKILL') } catch {} }
})

t.test("a failing healthCheck takes workers out of readiness (app port and /ready), without recycling them", async (t) => {
  const flag = join(tmpdir(), `fastify-cluster-check-${process.pid}-${Date.now()}`)
  t.teardown(() => { rmSync(flag, { force: true }) })
  const cluster = ClusterProcess.cli(t, [...base, '--sample-interval', '100ms', app], { env: { FIXTURE_CHECK_FAILS_IF: flag } })
  const appPort = await cluster.ready()
  const port = await cluster.healthPort()
  t.equal((await request(port, '/ready')).status, 200)
  writeFileSync(flag, 'database down')
  // Each worker notices at its next sample; poll /ready (bounded) until the primary has both failing.
  const deadline = Date.now() + 10_000
  let ready = await request(port, '/ready')
  while (ready.status !== 503 && Date.now() < deadline) ready = await request(port, '/ready')
  t.equal(ready.status, 503, '/ready: no worker passes its own check')
  const appReady = await request(appPort, '/health')
  t.equal(appReady.status, 503, 'the app-port readiness route too')
  t.same(JSON.parse(appReady.body), { status: 'health check failing' })
  t.equal((await request(appPort, '/')).status, 200, 'the app still serves')
  rmSync(flag)
  ready = await request(port, '/ready')
  while (ready.status !== 200 && Date.now() < deadline + 10_000) ready = await request(port, '/ready')
  t.equal(ready.status, 200, 'ready again once the check passes')
  t.equal(cluster.events('worker:recycle').length + cluster.events('worker:exit').length, 0, 'nobody recycled')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
