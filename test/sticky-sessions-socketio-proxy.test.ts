import t from 'tap'
import { ClusterProcess } from './helpers/cluster-process'
import { CLIENTS, app, base, round } from './helpers/socketio-clients'

t.test('--sticky header:x-forwarded-for: 16 clients behind one proxy address, told apart by X-Forwarded-For', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--sticky', 'header:x-forwarded-for', app])
  const port = await cluster.ready(60_000)
  const result = await round(cluster, port, { header: true })
  const pids = new Set(result.acks.flat().map((a) => a.pid))
  t.comment(`header mode: ${result.broken} of ${CLIENTS} sessions broken, ${pids.size} workers used`)
  t.equal(result.broken, 0, `no session broken (${result.clients.flatMap((c) => c.breaks).join('; ')})`)
  t.ok(pids.size >= 3, `the clients spread over several workers (${pids.size} of 4)`)
  for (const [i, acks] of result.acks.entries()) {
    t.equal(acks[0]?.address, '127.0.0.1', `client ${i} comes from the proxy's address`)
    t.equal(acks[0]?.xff, `198.51.100.${i + 1}, 127.0.0.1`, 'the worker sees the request the primary peeked at, intact')
  }
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
})
