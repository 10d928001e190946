import t from 'tap'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { buildReady, parseWorkerMessage, type HealthSample } from '../dist/lib/protocol.js'
import { webSocketAvailable } from '../dist/lib/stuck-diagnostics.js'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

const args = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sample-interval', '250ms', '--heartbeat-timeout', '1s',
  '--force-kill-delay', '300ms', '--stuck-diagnostics', `${FIXTURES}/healthy.js`]

t.test('the ready message carries only a loopback inspector URL', async (t) => {
  const sample: HealthSample = { eventLoopDelay: 1, eventLoopUtilization: 0, heapUsed: 1, rss: 1, underPressure: false, checkHealthy: null }
  const address = { address: '127.0.0.1', port: 3000, family: 'IPv4' }
  const url = 'ws://127.0.0.1:9229/0f2c1a9e-5b6d-4c1e-9a7b-2d3e4f5a6b7c'
  t.match(parseWorkerMessage(buildReady(address, sample, url)), { kind: 'ok', message: { inspector: url } })
  t.match(parseWorkerMessage(buildReady(address, sample)), { kind: 'ok', message: { type: 'ready' } })
  for (const bad of ['ws://10.0.0.1:9229/x', 'http://127.0.0.1:9229/x', 'ws://127.0.0.1:9229/x?y=1', 'ws://127.0.0.1.evil:1/x']) {
    t.match(parseWorkerMessage(buildReady(address, sample, bad)), { kind: 'invalid', reason: /inspector must be a ws:\/\/127\.0\.0\.1 URL/ }, bad)
  }
})

t.test('--stuck-diagnostics: the stuck worker\'s JS stack is written to a file and logged before the kill', {
  skip: webSocketAvailable() ? false : `Node ${process.versions.node} has no global WebSocket (covered by the next test)`
}, async (t) => {
  const cluster = ClusterProcess.cli(t, args)
  const port = await cluster.ready()
  request(port, '/block', { timeout: 8000 }).catch(() => {})
  const stuck = await cluster.waitForEvent('worker:stuck', 5000)
  const diagnostics = await cluster.waitForEvent('worker:stuck-diagnostics', 5000, (l) => l.pid === stuck.pid)
  const path = diagnostics.path as string
  t.teardown(() => { rmSync(path, { force: true }) })
  t.ok(existsSync(path), `report at ${path}`)
  const report = JSON.parse(readFileSync(path, 'utf8')) as { pid: number, frames: Array<{ functionName: string, url: string, line: number }> }
  t.equal(report.pid, stuck.pid)
  t.match(report.frames[0], { functionName: 'busy', url: /healthy\.js$/ }, 'the top frame is the fixture\'s busy loop')
  t.match((diagnostics.stack as string[])[0], /^busy \(.*healthy\.js:\d+:\d+\)$/, 'and the log line shows it')
  const exit = await cluster.waitForEvent('worker:exit', 5000, (l) => l.pid === stuck.pid)
  t.match(exit, { reason: 'stuck', signal: 'SIGKILL' }, 'then it is killed as usual')
  t.ok((exit.time as number) - (stuck.time as number) < 3000, 'the capture is bounded')
  await cluster.waitForCount('worker:ready', 3, 10_000)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})

t.test('--stuck-diagnostics without a WebSocket client: one warning, stuck workers still replaced', {
  skip: webSocketAvailable() ? `Node ${process.versions.node} has a global WebSocket (covered above)` : false
}, async (t) => {
  const cluster = ClusterProcess.cli(t, args)
  const port = await cluster.ready()
  t.equal(cluster.events('cluster:stuck-diagnostics-unavailable').length, 1, 'warned once')
  request(port, '/block', { timeout: 8000 }).catch(() => {})
  const stuck = await cluster.waitForEvent('worker:stuck', 5000)
  t.match(await cluster.waitForEvent('worker:exit', 5000, (l) => l.pid === stuck.pid), { reason: 'stuck' })
  t.equal(cluster.events('worker:stuck-diagnostics').length, 0)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
