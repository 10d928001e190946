import t from 'tap'
import { readyLine } from '../dist/lib/primary/logger.js'
import { ClusterProcess, FIXTURES, waitUntil } from './helpers/cluster-process'

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']

/** The primary's raw JSON lines (the helper's `lines` are read as events). */
function rawLines (stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
}

t.test("JSON lines: pino's pid is the primary's, a worker's pid is workerPid", async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--health-port', '0', `${FIXTURES}/healthy.js`])
  await cluster.ready(60_000)
  await cluster.healthPort(60_000)
  const lines = rawLines(cluster.stdout).filter((l) => l.name === 'fastify-cluster')
  t.ok(lines.length >= 5, `${lines.length} primary lines`)
  for (const line of lines) t.equal(line.pid, cluster.pid, `${String(line.event)}: pid is the primary's`)
  const forks = lines.filter((l) => l.event === 'worker:fork')
  t.equal(forks.length, 2)
  for (const fork of forks) {
    t.type(fork.workerPid, 'number', 'the worker pid has its own field')
    t.not(fork.workerPid, cluster.pid)
  }
  t.same(forks.map((l) => l.workerPid).sort(), cluster.forkedPids().sort(), 'the helper reads workerPid as the event pid')
  t.notOk('primaryPid' in (lines[0] ?? {}), 'no primaryPid field any more')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  t.notMatch(cluster.stderr, /FSTDEP|DeprecationWarning/, 'the health server raises no Fastify deprecation warning')
})

t.test('-P: the primary writes pretty lines too, with one readable line when the cluster is up', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '-P', `${FIXTURES}/healthy.js`], { env: { NO_COLOR: '1' } })
  const ready = await waitUntil(() => /^.*cluster ready: .*$/m.exec(cluster.stdout)?.[0], 60_000, 'the pretty ready line')
  t.match(ready, /INFO \(fastify-cluster\/\d+\): cluster ready: 2 workers at http:\/\/127\.0\.0\.1:\d+ in \d+ ms$/, ready)
  t.match(ready, `(fastify-cluster/${cluster.pid})`, "the pid shown is the primary's")
  t.notMatch(ready, /\{/, 'no object after the sentence')
  t.equal(rawLines(cluster.stdout).length, 0, 'no JSON line')
  t.match(cluster.stdout, /INFO \(fastify-cluster\/\d+\): worker forked \{"event":"worker:fork",.*"workerPid":\d+\}/)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  t.match(cluster.stdout, /cluster closed/)
})

t.test('readyLine formats workers, address and time to ready', async (t) => {
  t.equal(readyLine({ workers: 4, time: 1612, address: { address: '127.0.0.1', port: 3000, family: 'IPv4' } }, 1000),
    'cluster ready: 4 workers at http://127.0.0.1:3000 in 612 ms')
  t.equal(readyLine({ workers: 1, time: 1000, address: { address: '::1', port: 80, family: 'IPv6' } }, 1000),
    'cluster ready: 1 worker at http://[::1]:80 in 0 ms')
  t.equal(readyLine({ workers: 2, address: { address: '/tmp/app.sock' } }, 0), 'cluster ready: 2 workers at /tmp/app.sock')
  t.equal(readyLine({ workers: 2, address: null }, 0), 'cluster ready: 2 workers')
})

