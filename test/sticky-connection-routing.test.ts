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

  const silentStarted = Date.now()
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
  const good = await Promise.all(Array.from({ length: 20 }, async (_, i) => await get(port, i % 4 === 0 ? undefined : `203.0.113.${i}`)))
  const goodDoneAt = Date.now()
  t.ok(good.every((r) => r.status === 200), 'every real request answered 200 while bad clients hold connections')

  const g = await Promise.all(garbage)
  const slowestGarbage = Math.max(...g.map((r) => r.ms))
  t.ok(slowestGarbage < 4000, `garbage closed at once, without waiting for the 5 s timeout (slowest ${slowestGarbage} ms)`)
  t.ok(g.every((r) => r.received === ''), 'garbage gets no answer at all')
  let firstSilentClosedAt = Infinity
  for (const [what, list] of [['silent', silent], ['half-sent', halfSent]] as const) {
    const r = await Promise.all(list)
    const ms = r.map((x) => x.ms)
    if (what === 'silent') firstSilentClosedAt = silentStarted + Math.min(...ms)
    t.ok(Math.min(...ms) >= 4500 && Math.max(...ms) < 20_000, `${what} clients closed after the 5 s head timeout (${Math.min(...ms)}-${Math.max(...ms)} ms)`)
  }
  t.ok(goodDoneAt < firstSilentClosedAt, 'the real requests were all served before the silent clients were even closed')
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
  const replacement = await cluster.waitForEvent('worker:ready', 60_000, (l) => !before.includes(l.pid as number))
  const back = await Promise.all(victims.map(async (a) => (await from(a)).pid))
  t.ok(back.every((pid) => pid === replacement.pid), `the replacement inherits every client of its slot (${victims.length})`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(20_000)).code, 0)
})

