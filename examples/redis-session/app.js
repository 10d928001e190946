'use strict'

// Logins that every worker sees, and that outlive the worker that created them: @fastify/session with its
// sessions in Redis, not in one worker's memory. Run:
//   REDIS_URL=redis://127.0.0.1:6379 SESSION_SECRET=$(openssl rand -hex 32) \
//     npx fastify-cluster start --workers 4 examples/redis-session/app.js
const Redis = require('ioredis')
const { RedisSessionStore } = require('./redis-store.js')

module.exports = async function app (fastify, opts) {
  const secret = process.env.SESSION_SECRET
  if (secret === undefined || secret.length < 32) throw new Error('set SESSION_SECRET to at least 32 characters (openssl rand -hex 32)')
  // One connection per worker; a Redis that is down fails requests fast instead of queueing them forever.
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2, enableOfflineQueue: false, lazyConnect: true })
  await redis.connect()
  fastify.addHook('onClose', async () => { await redis.quit() })

  await fastify.register(require('@fastify/cookie'))
  await fastify.register(require('@fastify/session'), {
    secret,
    store: new RedisSessionStore(redis),
    saveUninitialized: false,
    // 'auto': Secure over HTTPS (or behind a proxy with trustProxy), plain over HTTP as in this example.
    cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax', maxAge: 60 * 60 * 1000 }
  })

  fastify.post('/login', async (request) => {
    const user = String(request.body?.user ?? '').slice(0, 64)
    if (user === '') throw Object.assign(new Error('user is required'), { statusCode: 400 })
    // A new session id at login: a session fixed before it cannot be taken over.
    await request.session.regenerate()
    request.session.user = user
    request.session.loggedInBy = process.pid
    return { user, pid: process.pid }
  })
  fastify.get('/me', async (request, reply) => {
    const user = request.session.user
    if (user === undefined) return reply.code(401).send({ user: null, pid: process.pid })
    return { user, loggedInBy: request.session.loggedInBy, pid: process.pid }
  })
  fastify.post('/logout', async (request) => {
    await request.session.destroy()
    return { user: null, pid: process.pid }
  })
}
