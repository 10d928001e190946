import t from 'tap'
import { ClusterProcess, waitUntil } from './helpers/cluster-process'
import { CLIENTS, MESSAGES, app, base, connected, converse, open } from './helpers/socketio-clients'

t.test('--sticky ip across a rolling reload: every client reconnects to its slot\'s new worker and its session works again', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--sticky', 'ip', app])
  const port = await cluster.ready(60_000)
  const clients = Array.from({ length: CLIENTS }, (_, i) => open(port, i, { reconnect: true }))
  const first = await Promise.all(clients.map(async (c) => await connected(c) ? await converse(c) : []))
  t.equal(first.filter((a) => a.length === MESSAGES).length, CLIENTS, 'every session works before the reload')
  const oldPids = new Set(cluster.forkedPids())
  for (const c of clients) c.breaks.length = 0

  cluster.child.kill('SIGHUP')
  const done = await cluster.waitForEvent('cluster:reload:done', 90_000)
  t.equal(done.replaced, 4, 'four workers replaced')
  // The old workers ended their sessions; each client reconnects (socket.io's own reconnection).
  await waitUntil(() => clients.every((c) => c.socket.connected), 60_000, 'every client reconnected')
  const after = await Promise.all(clients.map(async (c) => await converse(c)))
  const working = after.filter((a) => a.length === MESSAGES).length
  t.comment(`after the reload: ${working} of ${CLIENTS} sessions work again; ${clients.filter((c) => c.breaks.some((b) => b.startsWith('disconnect'))).length} clients were disconnected by the drain`)
  t.equal(working, CLIENTS, 'every session works again after the reload')
  for (const [i, acks] of after.entries()) {
    t.notOk(oldPids.has(acks[0]?.pid ?? -1), `client ${i} is on a new worker`)
    t.equal(acks[0]?.slot, first[i]?.[0]?.slot, `client ${i} stays on its slot (${String(acks[0]?.slot)})`)
  }
  for (const c of clients) {
    c.socket.close()
    c.agent.destroy()
  }
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
})
