import t from 'tap'
import { ClusterProcess, FIXTURES, request } from './helpers/cluster-process'

t.test('malformed IPC from a worker is dropped and logged (rate-limited); the primary and workers keep going', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/malformed-ipc.js`])
  const port = await cluster.ready()
  const res = await request(port, '/garbage?rounds=50')
  t.equal(res.status, 200)
  const { sent, pid } = JSON.parse(res.body) as { sent: number, pid: number }
  t.ok(sent >= 800, `sent ${sent} messages`)
  await cluster.waitForEvent('ipc:invalid', 5000, (l) => l.pid === pid)
  // Another request proves the primary processed the whole burst and still routes.
  for (let i = 0; i < 6; i++) t.equal((await request(port, '/')).status, 200, 'the cluster still serves')
  const logged = cluster.events('ipc:invalid')
  const reasons = new Set(logged.map((l) => l.reason))
  t.equal(logged.length, reasons.size, 'each kind of malformed message is logged once, not once per message')
  t.ok(reasons.size >= 8, `distinct reasons logged: ${[...reasons].join('; ')}`)
  t.ok([...reasons].some((r) => /boot-error from a worker in state ready/.test(String(r))), 'a boot-error from a ready worker is refused')
  t.equal(cluster.events('cluster:give-up').length, 0, 'a worker cannot make the cluster give up')
  t.equal(cluster.events('worker:exit').length, 0, 'no worker was killed for it')
  t.equal(cluster.child.exitCode, null, 'the primary is alive')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
