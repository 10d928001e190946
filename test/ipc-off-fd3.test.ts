import t from 'tap'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

// Regression: with the IPC channel on fd 3 (Node's default), one line written there killed the primary.
t.test('a worker writing to fd 3 harms nothing: the primary and every worker keep serving', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/misbehaves.js`],
    { env: { FIXTURE_WRITE_FD3_AT_LISTEN: '1' } })
  const port = await cluster.ready(30_000)
  const writers = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const res = await request(port, '/fd3')
    t.equal(res.status, 200, `write ${i} answered`)
    writers.add((JSON.parse(res.body) as { pid: number }).pid)
  }
  t.equal(writers.size, 2, 'both workers wrote to fd 3')
  const served = new Set<number>()
  for (let i = 0; i < 20; i++) served.add((JSON.parse((await request(port, '/')).body) as { pid: number }).pid)
  t.same([...served].sort(), cluster.forkedPids().sort(), 'the same two workers still serve')
  t.equal(cluster.child.exitCode, null, 'the primary is running')
  t.equal(cluster.events('worker:exit').length, 0, 'no worker exited')
  t.equal(cluster.events('ipc:invalid').length, 0, 'nothing reached the channel')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0, 'clean shutdown')
  await assertGone(cluster.forkedPids(), 2000)
})
