import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES } from './helpers/cluster-process'

const app = `${FIXTURES}/healthy.js`

/** GET / on a fresh connection. */
async function get (port: number): Promise<{ status: number }> {
  return await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      res.resume().on('end', () => { resolve({ status: res.statusCode ?? 0 }) })
    }).on('error', reject)
  })
}

t.test('--sticky ip: shutdown keeps accepting through drainDelay, finishes requests in flight, then refuses; port taken is a coded error', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sticky', 'ip', '--drain-delay', '1500ms', app])
  const port = await cluster.ready(30_000)
  const slow = new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/slow?ms=4000', agent: false }, (res) => { res.resume().on('end', () => { resolve(res.statusCode ?? 0) }) })
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
