import t from 'tap'
import { ClusterProcess, assertGone, waitUntil } from './helpers/cluster-process'
import { CLIENTS, MESSAGES, addressOf, app, base, connected, converse, open, round } from './helpers/socketio-clients'

t.test('socket.io long-polling, 16 clients from 16 addresses over 4 workers: round-robin breaks sessions, --sticky ip breaks none', async (t) => {
  const plain = ClusterProcess.cli(t, [...base, app])
  const plainPort = await plain.ready(60_000)
  const without = await round(plain, plainPort)
  t.comment(`without sticky: ${without.broken} of ${CLIENTS} sessions broken, ${without.sessionUnknown} "Session ID unknown" answers`)
  t.ok(without.broken >= CLIENTS / 2, `round-robin breaks most long-polling sessions (${without.broken} of ${CLIENTS})`)
  t.ok(without.sessionUnknown > 0, 'the workers answered "Session ID unknown"')
  plain.child.kill('SIGTERM')
  t.equal((await plain.exit(20_000)).code, 0)

  const sticky = ClusterProcess.cli(t, [...base, '--sticky', 'ip', app])
  const port = await sticky.ready(60_000)
  const withSticky = await round(sticky, port)
  const pids = new Set(withSticky.acks.flat().map((a) => a.pid))
  t.comment(`with --sticky ip: ${withSticky.broken} of ${CLIENTS} sessions broken, ${withSticky.sessionUnknown} "Session ID unknown", ${pids.size} workers used`)
  t.equal(withSticky.broken, 0, `no session broken (${withSticky.clients.flatMap((c) => c.breaks).join('; ')})`)
  t.equal(withSticky.sessionUnknown, 0, 'no "Session ID unknown"')
  t.ok(pids.size >= 3, `the clients spread over several workers (${pids.size} of 4)`)
  for (const [i, acks] of withSticky.acks.entries()) {
    t.equal(acks[0]?.address, addressOf(i), `client ${i} connects from its own address ${addressOf(i)}`)
    t.equal(new Set(acks.map((a) => a.pid)).size, 1, `client ${i} talked to one worker`)
  }

  // WebSocket upgrades go through the primary's hand-off too.
  const ws = open(port, 0, { transports: ['polling', 'websocket'] })
  t.ok(await connected(ws), 'a polling+websocket client connects')
  await waitUntil(() => ws.socket.io.engine.transport.name === 'websocket', 10_000, 'the upgrade to websocket')
  const acks = await converse(ws)
  t.equal(acks.length, MESSAGES, 'echoes over the upgraded websocket')
  t.equal(acks.at(-1)?.transport, 'websocket')
  t.equal(acks.at(-1)?.pid, withSticky.acks[0]?.[0]?.pid, 'the same client address reaches the same worker over WebSocket')
  ws.socket.close()
  ws.agent.destroy()

  sticky.child.kill('SIGTERM')
  t.equal((await sticky.exit(20_000)).code, 0, 'graceful shutdown with sticky exits 0')
  await assertGone(sticky.forkedPids(), 2000)
})
