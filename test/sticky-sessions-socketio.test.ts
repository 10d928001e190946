import t from 'tap'
import http from 'node:http'
import { io as connect, type Socket } from 'socket.io-client'
import { ClusterProcess, FIXTURES, assertGone, waitUntil } from './helpers/cluster-process'

const app = `${FIXTURES}/socketio.js`
const base = ['start', '--workers', '4', '-p', '0', '-a', '127.0.0.1']
const CLIENTS = 16
const MESSAGES = 5

interface Ack { n: number, pid: number, slot: number, address: string, xff: string | null, transport: string }

interface Client {
  socket: Socket
  agent: http.Agent
  /** Session failures seen: connect errors and disconnects. */
  breaks: string[]
}

/** Client i's own loopback address (the whole 127.0.0.0/8 is local on Linux). */
const addressOf = (i: number): string => `127.0.0.${10 + i}`

function open (port: number, i: number, options: { header?: boolean, reconnect?: boolean, transports?: string[] } = {}): Client {
  // No keep-alive: each poll is a new connection, the case a proxy or a browser often produces.
  const agent = new http.Agent({ keepAlive: false, ...(options.header === true ? {} : { localAddress: addressOf(i) }) })
  const socket = connect(`http://127.0.0.1:${port}`, {
    transports: options.transports ?? ['polling'],
    agent: agent as unknown as string,
    reconnection: options.reconnect === true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    timeout: 10_000,
    ...(options.header === true ? { extraHeaders: { 'x-forwarded-for': `198.51.100.${i + 1}, 127.0.0.1` } } : {})
  })
  const client: Client = { socket, agent, breaks: [] }
  socket.on('connect_error', (err) => { client.breaks.push(`connect_error: ${err.message}`) })
  socket.on('disconnect', (reason) => { client.breaks.push(`disconnect: ${reason}`) })
  return client
}

async function connected (client: Client, timeout = 15_000): Promise<boolean> {
  if (client.socket.connected) return true
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { done(false) }, timeout)
    const ok = (): void => { done(true) }
    const fail = (): void => { if (!client.socket.active) done(false) }
    function done (value: boolean): void {
      clearTimeout(timer)
      client.socket.off('connect', ok)
      client.socket.off('connect_error', fail)
      resolve(value)
    }
    client.socket.on('connect', ok)
    client.socket.on('connect_error', fail)
  })
}

/** Sends MESSAGES echoes one after another; returns the acks, stopping at the first failure. */
async function converse (client: Client): Promise<Ack[]> {
  const acks: Ack[] = []
  for (let n = 0; n < MESSAGES; n++) {
    if (!client.socket.connected) break
    try {
      acks.push(await client.socket.timeout(5000).emitWithAck('echo', n) as Ack)
    } catch {
      client.breaks.push(`echo ${n} not acknowledged`)
      break
    }
  }
  return acks
}

interface Round { broken: number, sessionUnknown: number, acks: Ack[][], clients: Client[] }

async function round (cluster: ClusterProcess, port: number, options: { header?: boolean } = {}): Promise<Round> {
  const before = cluster.lines.filter((l) => l.fixture === 'socketio:connection-error' && l.message === 'Session ID unknown').length
  const clients = Array.from({ length: CLIENTS }, (_, i) => open(port, i, options))
  const acks = await Promise.all(clients.map(async (c) => await connected(c) ? await converse(c) : []))
  // A session is broken if any of its requests failed, or it did not get every echo back.
  const broken = clients.filter((c, i) => c.breaks.length > 0 || acks[i]?.length !== MESSAGES).length
  for (const c of clients) {
    c.socket.close()
    c.agent.destroy()
  }
  const sessionUnknown = cluster.lines.filter((l) => l.fixture === 'socketio:connection-error' && l.message === 'Session ID unknown').length - before
  return { broken, sessionUnknown, acks, clients }
}

t.test('socket.io long-polling, 16 clients from 16 addresses over 4 workers: round-robin breaks sessions, --sticky ip breaks none', async (t) => {
  const plain = ClusterProcess.cli(t, [...base, app])
  const plainPort = await plain.ready(30_000)
  const without = await round(plain, plainPort)
  t.comment(`without sticky: ${without.broken} of ${CLIENTS} sessions broken, ${without.sessionUnknown} "Session ID unknown" answers`)
  t.ok(without.broken >= CLIENTS / 2, `round-robin breaks most long-polling sessions (${without.broken} of ${CLIENTS})`)
  t.ok(without.sessionUnknown > 0, 'the workers answered "Session ID unknown"')
  plain.child.kill('SIGTERM')
  t.equal((await plain.exit(20_000)).code, 0)

  const sticky = ClusterProcess.cli(t, [...base, '--sticky', 'ip', app])
  const port = await sticky.ready(30_000)
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

t.test('--sticky ip across a rolling reload: every client reconnects to its slot\'s new worker and its session works again', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--sticky', 'ip', app])
  const port = await cluster.ready(30_000)
  const clients = Array.from({ length: CLIENTS }, (_, i) => open(port, i, { reconnect: true }))
  const first = await Promise.all(clients.map(async (c) => await connected(c) ? await converse(c) : []))
  t.equal(first.filter((a) => a.length === MESSAGES).length, CLIENTS, 'every session works before the reload')
  const oldPids = new Set(cluster.forkedPids())
  for (const c of clients) c.breaks.length = 0

  cluster.child.kill('SIGHUP')
  const done = await cluster.waitForEvent('cluster:reload:done', 60_000)
  t.equal(done.replaced, 4, 'four workers replaced')
  // The old workers ended their sessions; each client reconnects (socket.io's own reconnection).
  await waitUntil(() => clients.every((c) => c.socket.connected), 30_000, 'every client reconnected')
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

t.test('--sticky header:x-forwarded-for: 16 clients behind one proxy address, told apart by X-Forwarded-For', async (t) => {
  const cluster = ClusterProcess.cli(t, [...base, '--sticky', 'header:x-forwarded-for', app])
  const port = await cluster.ready(30_000)
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
