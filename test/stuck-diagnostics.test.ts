import t from 'tap'
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { buildReady, parseWorkerMessage, type HealthSample } from '../dist/lib/shared/protocol.js'
import { webSocketAvailable, writeStuckReport } from '../dist/lib/primary/stuck-diagnostics.js'
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
  const port = await cluster.ready(30_000)
  request(port, '/block', { timeout: 8000 }).catch(() => {})
  const stuck = await cluster.waitForEvent('worker:stuck', 10_000)
  const diagnostics = await cluster.waitForEvent('worker:stuck-diagnostics', 10_000, (l) => l.pid === stuck.pid)
  const path = diagnostics.path as string
  t.teardown(() => { rmSync(dirname(path), { recursive: true, force: true }) })
  t.ok(existsSync(path), `report at ${path}`)
  t.equal(statSync(path).mode & 0o777, 0o600, 'the report is mode 0600')
  t.equal(statSync(dirname(path)).mode & 0o777, 0o700, 'in a private directory')
  const report = JSON.parse(readFileSync(path, 'utf8')) as { pid: number, frames: Array<{ functionName: string, url: string, line: number }> }
  t.equal(report.pid, stuck.pid)
  t.match(report.frames[0], { functionName: 'busy', url: /healthy\.js$/ }, 'the top frame is the fixture\'s busy loop')
  t.match((diagnostics.stack as string[])[0], /^busy \(.*healthy\.js:\d+:\d+\)$/, 'and the log line shows it')
  const exit = await cluster.waitForEvent('worker:exit', 5000, (l) => l.pid === stuck.pid)
  t.match(exit, { reason: 'stuck', signal: 'SIGKILL' }, 'then it is killed as usual')
  t.ok((exit.time as number) - (stuck.time as number) < 3000, 'the capture is bounded')
  await cluster.waitForCount('worker:ready', 3, 60_000)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})

t.test('--stuck-diagnostics-dir: the report goes into the operator\'s directory, mode 0600', {
  skip: webSocketAvailable() ? false : `Node ${process.versions.node} has no global WebSocket`
}, async (t) => {
  const dir = t.testdir({})
  const cluster = ClusterProcess.cli(t, [...args.slice(0, -1), '--stuck-diagnostics-dir', dir, args[args.length - 1] as string])
  const port = await cluster.ready(30_000)
  request(port, '/block', { timeout: 8000 }).catch(() => {})
  const stuck = await cluster.waitForEvent('worker:stuck', 10_000)
  const diagnostics = await cluster.waitForEvent('worker:stuck-diagnostics', 10_000, (l) => l.pid === stuck.pid)
  const path = diagnostics.path as string
  t.equal(dirname(path), dir, `written in ${dir}`)
  t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
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

const REPORT = { pid: 4242, id: 7, silentFor: 5000, frames: [{ functionName: 'busy', url: 'file:///app.js', line: 3, column: 9 }] }

t.test('a report goes into a new private directory, mode 0600', async (t) => {
  const first = await writeStuckReport(REPORT)
  const second = await writeStuckReport(REPORT)
  t.teardown(() => {
    for (const path of [first, second]) rmSync(dirname(path), { recursive: true, force: true })
  })
  t.equal(dirname(dirname(first)), tmpdir(), 'under the OS temp directory')
  t.match(basename(dirname(first)), /^fastify-cluster-stuck-.{6}$/, 'a mkdtemp directory: its name cannot be guessed')
  t.not(dirname(first), dirname(second), 'a new one per report')
  t.equal(statSync(dirname(first)).mode & 0o777, 0o700, 'the directory is 0700')
  t.equal(statSync(first).mode & 0o777, 0o600, 'the file is 0600')
  t.match(JSON.parse(readFileSync(first, 'utf8')), { pid: 4242, id: 7, frames: [{ functionName: 'busy' }] })
})

t.test('in the operator\'s directory a planted symlink is never followed', async (t) => {
  const dir = t.testdir({ 'victim.txt': 'secret\n' })
  const victim = join(dir, 'victim.txt')
  const now = 1_796_000_000_000
  const planted = join(dir, `fastify-cluster-stuck-${REPORT.pid}-${now}.json`)
  symlinkSync(victim, planted)
  await t.rejects(writeStuckReport(REPORT, dir, now), { code: 'EEXIST' }, 'the write fails instead')
  t.equal(readFileSync(victim, 'utf8'), 'secret\n', 'the link target is untouched')
  t.equal(readlinkSync(planted), victim, 'and the link is left as it was')

  const dangling = join(dir, 'not-there.txt')
  symlinkSync(dangling, join(dir, `fastify-cluster-stuck-${REPORT.pid}-${now + 1}.json`))
  await t.rejects(writeStuckReport(REPORT, dir, now + 1), { code: 'EEXIST' }, 'a dangling link too')
  t.notOk(existsSync(dangling), 'nothing was created through it')

  writeFileSync(join(dir, `fastify-cluster-stuck-${REPORT.pid}-${now + 2}.json`), 'earlier report\n')
  await t.rejects(writeStuckReport(REPORT, dir, now + 2), { code: 'EEXIST' }, 'an existing file is not overwritten')

  const path = await writeStuckReport(REPORT, dir, now + 3)
  t.equal(dirname(path), dir, 'a free name is written in the operator\'s directory')
  t.ok(lstatSync(path).isFile(), 'as a regular file')
  t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600')
})
