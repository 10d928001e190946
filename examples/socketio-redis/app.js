'use strict'

// socket.io on every worker, one room for all: the Redis adapter relays each broadcast to the other workers'
// clients. WebSocket transport only, so each client lives on one connection, on one worker: no sticky sessions
// needed. Run:
//   REDIS_URL=redis://127.0.0.1:6379 npx fastify-cluster start --workers 4 examples/socketio-redis/app.js
const { Server } = require('socket.io')
const { createAdapter } = require('@socket.io/redis-adapter')
const Redis = require('ioredis')

module.exports = async function app (fastify, opts) {
  // The adapter needs two connections: one publishes, one stays subscribed.
  const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true })
  const sub = pub.duplicate()
  await Promise.all([pub.connect(), sub.connect()])

  const io = new Server(fastify.server, { transports: ['websocket'], adapter: createAdapter(pub, sub) })
  io.on('connection', (socket) => {
    socket.emit('welcome', { pid: process.pid })
    socket.on('say', (text, ack) => {
      // To every client of every worker, through Redis.
      io.emit('said', { text: String(text).slice(0, 1000), from: process.pid })
      if (typeof ack === 'function') ack()
    })
  })

  // Draining (reload, recycle, shutdown): a WebSocket would hold the worker until its stop timeout, so close the
  // clients' connections; they reconnect, to another worker.
  fastify.addHook('preClose', async () => { io.local.disconnectSockets(true) })
  fastify.addHook('onClose', async () => {
    await io.of('/').adapter.close()
    await Promise.all([pub.quit(), sub.quit()])
  })

  fastify.get('/', async () => ({ pid: process.pid, clients: io.engine.clientsCount }))
}
