import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`

/** GET / with an X-Forwarded-For (or none), on a fresh connection. */
async function get (port: number, xff?: string): Promise<{ status: number, body: { pid: number } }> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as { pid: number } })
      })
    })
    req.on('timeout', () => { req.destroy(new Error('timed out')) })
    req.on('error', reject)
  })
}

/** Opens a raw connection, writes `bytes` (if any), resolves with how long the server took to close it. */
async function closedAfter (port: number, bytes: string | Buffer | null): Promise<{ ms: number, received: string }> {
  return await new Promise((resolve, reject) => {
    const start = Date.now()
    let received = ''
    const socket = net.connect({ host: '127.0.0.1', port }, () => { if (bytes !== null) socket.write(bytes) })
    socket.setEncoding('latin1').on('data', (c: string) => { received += c })
    socket.on('error', () => {})
    socket.on('close', () => { resolve({ ms: Date.now() - start, received }) })
    setTimeout(() => {
      socket.destroy()
      reject(new Error('the server never closed the connection'))
    }, 30_000).unref()
  })
}

t.test('--sticky header mode: silent, garbage and half-sent clients are closed within bounds; everyone else is served', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sticky', 'header:x-forwarded-for', app])
  const port = await cluster.ready(30_000)
  const pids = cluster.liveWorkerPids()

  const silent = Array.from({ length: 50 }, async () => await closedAfter(port, null))
  const garbage = [
    Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // a TLS ClientHello
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'SSH-2.0-OpenSSH_9.6\r\n',
    Buffer.alloc(4096, 0)
  ].flatMap((bytes) => Array.from({ length: 10 }, async () => await closedAfter(port, bytes)))
  const halfSent = Array.from({ length: 10 }, async () => await closedAfter(port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Pad: '))
  // Reset by the client in the middle of its first bytes.
  for (let i = 0; i < 10; i++) {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.write('GET / HTTP/1.1\r\n'); setImmediate(() => s.resetAndDestroy()) })
    s.on('error', () => {})
  }

  // Meanwhile, real clients are served at once, with and without the header (then by address).
  const started = Date.now()
  const good = await Promise.all(Array.from({ length: 20 }, async (_, i) => await get(port, i % 4 === 0 ? undefined : `203.0.113.${i}`)))
  t.ok(good.every((r) => r.status === 200), 'every real request answered 200 while bad clients hold connections')
  t.ok(Date.now() - started < 4000, `real requests did not wait for the bad ones (${Date.now() - started} ms)`)

  const g = await Promise.all(garbage)
  const slowestGarbage = Math.max(...g.map((r) => r.ms))
  t.ok(slowestGarbage < 2000, `garbage closed at once, without waiting for the timeout (slowest ${slowestGarbage} ms)`)
  t.ok(g.every((r) => r.received === ''), 'garbage gets no answer at all')
  for (const [what, list] of [['silent', silent], ['half-sent', halfSent]] as const) {
    const r = await Promise.all(list)
    const ms = r.map((x) => x.ms)
    t.ok(Math.min(...ms) >= 4500 && Math.max(...ms) < 12_000, `${what} clients closed after the 5 s head timeout (${Math.min(...ms)}-${Math.max(...ms)} ms)`)
  }
  t.same(cluster.liveWorkerPids().sort(), pids.sort(), 'no worker was harmed')
  t.equal(cluster.events('worker:exit').length, 0)
  const after = await get(port, '203.0.113.1')
  t.equal(after.status, 200, 'still serving afterwards')

  // The primary decides as soon as the X-Forwarded-For line is complete; the rest of the request comes 300 ms
  // later. Those later bytes must reach the worker (lost, the request would never end and never be answered).
  const late = await new Promise<string>((resolve, reject) => {
    let received = ''
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write('GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\n')
      setTimeout(() => { s.write('Host: a\r\nConnection: close\r\n\r\n') }, 300)
    })
    s.setTimeout(10_000, () => { s.destroy(new Error('no answer: bytes sent after the peek were lost')) })
    s.setEncoding('utf8').on('data', (c: string) => { received += c })
    s.on('end', () => { resolve(received) })
    s.on('error', reject)
  })
  t.match(late, /^HTTP\/1\.1 200 /, 'bytes sent after the primary decided reach the worker')
  // The same with the rest following at once, while the hand-off is in flight: 40 connections.
  const quick = await Promise.all(Array.from({ length: 40 }, async (_, i) => await new Promise<string>((resolve, reject) => {
    let received = ''
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write(`GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.${i}\r\n`)
      setImmediate(() => { s.write('Host: a\r\nConnection: close\r\n\r\n') })
    })
    s.setTimeout(10_000, () => { s.destroy(new Error('no answer: bytes sent during the hand-off were lost')) })
    s.setEncoding('utf8').on('data', (c: string) => { received += c })
    s.on('end', () => { resolve(received) })
    s.on('error', reject)
  })))
  t.equal(quick.filter((r) => r.startsWith('HTTP/1.1 200 ')).length, 40, 'bytes sent during the hand-off reach the worker')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
})

t.test('--sticky ip: a slot without a ready worker hands its clients to the next slot; its replacement gets them back', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '3', '-p', '0', '-a', '127.0.0.1', '--sticky', 'ip', app])
  const port = await cluster.ready(30_000)
  const from = async (address: string): Promise<{ pid: number, worker: number }> => await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, localAddress: address, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve(JSON.parse(body) as { pid: number, worker: number }) })
    }).on('error', reject)
  })
  const addresses = Array.from({ length: 24 }, (_, i) => `127.0.1.${i + 1}`)
  const before = await Promise.all(addresses.map(async (a) => (await from(a)).pid))
  const again = await Promise.all(addresses.map(async (a) => (await from(a)).pid))
  t.same(again, before, 'every address reaches the same worker every time')
  const victim = before[0] as number
  const victims = addresses.filter((_, i) => before[i] === victim)
  const others = addresses.filter((_, i) => before[i] !== victim)
  process.kill(victim, 'SIGKILL')
  await cluster.waitForEvent('worker:exit', 10_000, (l) => l.pid === victim)
  // While the slot restarts, its clients are served by their next slot, never dropped; nobody else moves.
  const during = await Promise.all(victims.map(async (a) => (await from(a)).pid))
  t.ok(during.every((pid) => pid !== victim), `the dead worker's ${victims.length} clients are served elsewhere meanwhile`)
  const othersDuring = await Promise.all(others.map(async (a) => (await from(a)).pid))
  t.same(othersDuring, before.filter((pid) => pid !== victim), 'the other clients did not move')
  const replacement = await cluster.waitForEvent('worker:ready', 15_000, (l) => !before.includes(l.pid as number))
  const back = await Promise.all(victims.map(async (a) => (await from(a)).pid))
  t.ok(back.every((pid) => pid === replacement.pid), `the replacement inherits every client of its slot (${victims.length})`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
})

t.test('--sticky ip: shutdown keeps accepting through drainDelay, finishes requests in flight, then refuses; port taken is a coded error', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sticky', 'ip', '--drain-delay', '1500ms', app])
  const port = await cluster.ready(30_000)
  const slow = new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/slow?ms=2500', agent: false }, (res) => { res.resume().on('end', () => { resolve(res.statusCode ?? 0) }) })
      .on('error', reject)
  })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const signalledAt = Date.now()
  cluster.child.kill('SIGTERM')
  await cluster.waitForEvent('cluster:shutdown', 5000)
  const during = await get(port)
  t.equal(during.status, 200, 'a new connection during drainDelay is served')
  t.equal(await slow, 200, 'the request in flight finished')
  const refusedAt = await new Promise<number>((resolve) => {
    const attempt = (): void => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.on('connect', () => { s.destroy(); setTimeout(attempt, 50) })
      s.on('error', () => { resolve(Date.now()) })
    }
    attempt()
  })
  t.ok(refusedAt - signalledAt >= 1400, `refused only after drainDelay (${refusedAt - signalledAt} ms)`)
  t.equal((await cluster.exit(20_000)).code, 0, 'exit 0')

  // The port is taken (by this test): nothing is forked, exit 1 with the coded error.
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { blocker.close() })
  const taken = (blocker.address() as net.AddressInfo).port
  const second = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', String(taken), '-a', '127.0.0.1', '--sticky', 'ip', app])
  const exit = await second.exit(15_000)
  t.equal(exit.code, 1)
  t.match(second.stderr, /FST_CLUSTER_STICKY_LISTEN: sticky sessions: the primary cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
  t.equal(second.forkedPids().length, 0, 'no worker forked')
})

t.test('--sticky with an inline app (start({ app, sticky })), and with an app on a Unix socket (a coded error, nothing forked)', async (t) => {
  const run = ClusterProcess.node(t, [join(FIXTURES, 'sticky-inline.js')])
  const ready = await run.waitFor((l) => l.fixture === 'sticky-inline' && l.step === 'ready', 30_000, 'the inline sticky cluster ready')
  const port = ready.port as number
  const from = async (address: string): Promise<{ pid: number, address: string }> => await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, localAddress: address }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve(JSON.parse(body) as { pid: number, address: string }) })
    }).on('error', reject)
  })
  const answers = await Promise.all(Array.from({ length: 12 }, async (_, i) => await from(`127.0.2.${i + 1}`)))
  t.ok(answers.every((a, i) => a.address === `127.0.2.${i + 1}`), 'the workers see each client\'s own address')
  t.equal(new Set(answers.map((a) => a.pid)).size, 2, 'both workers serve')
  const again = await Promise.all(Array.from({ length: 12 }, async (_, i) => await from(`127.0.2.${i + 1}`)))
  t.same(again.map((a) => a.pid), answers.map((a) => a.pid), 'each address sticks to its worker')
  run.child.kill('SIGTERM')
  const closed = await run.waitFor((l) => l.fixture === 'sticky-inline' && l.step === 'closed', 20_000, 'closed')
  t.equal(closed.listenersLeft, 0, 'the balancer removed its cluster listener')

  const socket = join(require('node:os').tmpdir(), `fastify-cluster-sticky-${process.pid}.sock`)
  const onSocket = ClusterProcess.cli(t, ['start', '--workers', '2', '-s', socket, '--sticky', 'ip', `${FIXTURES}/healthy.js`])
  t.equal((await onSocket.exit(15_000)).code, 1)
  t.match(onSocket.stderr, /FST_CLUSTER_CONFLICTING_OPTIONS: sticky sessions route by client address and need a TCP port/)
  t.equal(onSocket.forkedPids().length, 0, 'no worker forked')
})
