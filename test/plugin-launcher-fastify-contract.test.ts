/*
 * The Fastify behaviour the plugin launcher (lib/primary/plugin-primary.ts) relies on, which Fastify documents only in
 * part. If one of these fails after a Fastify upgrade, the message says what changed; see
 * docs/plugin-launcher.md, "What it relies on in Fastify".
 */
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'

const WHY = '(if this fails after a Fastify upgrade, Fastify changed what the plugin launcher in lib/primary/plugin-primary.ts relies on; see docs/plugin-launcher.md)'

/** What the primary does: own listen/address/close properties on the raw Node server. */
function stubServer (app: FastifyInstance, address: net.AddressInfo): { calls: string[], listenArgs: unknown[], fail: (err: Error) => void } {
  const server = app.server
  const calls: string[] = []
  const listenArgs: unknown[] = []
  let listening = false
  Object.defineProperties(server, {
    listen: {
      value: (...args: unknown[]) => {
        calls.push('listen')
        listenArgs.push(...args)
        setImmediate(() => { listening = true; server.emit('listening') })
        return server
      },
      configurable: true
    },
    address: { value: () => listening ? address : null, configurable: true },
    close: {
      value: (cb?: () => void) => {
        calls.push('close')
        setTimeout(() => { calls.push('close-done'); cb?.() }, 50)
        return server
      },
      configurable: true
    }
  })
  return { calls, listenArgs, fail: (err) => { server.emit('error', err) } }
}

t.test('listen() runs ready(), then calls the raw server\'s listen() and resolves with its address() once it emits listening', async (t) => {
  const app = Fastify()
  const order: string[] = []
  app.addHook('onReady', async () => { order.push('onReady') })
  app.addHook('onListen', async () => { order.push('onListen') })
  const stub = stubServer(app, { address: '127.0.0.1', port: 45_321, family: 'IPv4' })
  const address = await app.listen({ port: 45_321, host: '127.0.0.1' })
  t.same(stub.calls, ['listen'], `listen() calls fastify.server.listen() ${WHY}`)
  t.match(stub.listenArgs[0], { port: 45_321, host: '127.0.0.1' }, `fastify.server.listen() receives the listen options ${WHY}`)
  t.equal(address, 'http://127.0.0.1:45321', `listen() resolves with the URL of fastify.server.address() ${WHY}`)
  t.same(app.addresses(), [{ address: '127.0.0.1', port: 45_321, family: 'IPv4' }], `addresses() reads fastify.server.address() ${WHY}`)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(order, ['onReady', 'onListen'], `onReady runs before the raw listen(), onListen after 'listening' ${WHY}`)
  await app.close()
  t.same(stub.calls, ['listen', 'close', 'close-done'], `close() calls fastify.server.close() and waits for its callback ${WHY}`)
})

t.test('listen() rejects with the error the raw server emits', async (t) => {
  const app = Fastify()
  const server = app.server
  const err = Object.assign(new Error('cluster gave up'), { code: 'FST_CLUSTER_CRASH_LOOP' })
  Object.defineProperty(server, 'listen', {
    value: () => { setImmediate(() => server.emit('error', err)); return server },
    configurable: true
  })
  await t.rejects(app.listen({ port: 0, host: '127.0.0.1' }), err, `listen() rejects with the raw server's 'error' ${WHY}`)
  await app.close()
})

t.test('the callback form of listen() goes through the same raw listen()', async (t) => {
  const app = Fastify()
  const stub = stubServer(app, { address: '127.0.0.1', port: 45_322, family: 'IPv4' })
  const address = await new Promise<string>((resolve, reject) => {
    app.listen({ port: 45_322, host: '127.0.0.1' }, (err, address) => { if (err !== null) reject(err); else resolve(address) })
  })
  t.same(stub.calls, ['listen'], `listen(opts, cb) calls fastify.server.listen() ${WHY}`)
  t.equal(address, 'http://127.0.0.1:45322')
  await app.close()
})

t.test('on localhost, an extra address already taken (the workers hold it) is skipped, not bound by the primary', async (t) => {
  // Fastify binds every other address of localhost on fresh servers of its own; in the primary the workers hold
  // them already, so those binds fail with EADDRINUSE and Fastify ignores the failure.
  const blocker = net.createServer()
  try {
    blocker.listen(0, '::1')
    await once(blocker, 'listening')
  } catch {
    t.pass('no IPv6 loopback here: nothing to check')
    return
  }
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as net.AddressInfo).port
  const app = Fastify()
  stubServer(app, { address: '127.0.0.1', port, family: 'IPv4' })
  const address = await app.listen({ port, host: 'localhost' })
  t.equal(address, `http://127.0.0.1:${port}`, `listen() on localhost resolves when an extra localhost address is taken ${WHY}`)
  t.same(app.addresses().map((a) => typeof a === 'string' ? a : a.address), ['127.0.0.1'],
    `no extra localhost binding is kept ${WHY}`)
  await app.close()
})
