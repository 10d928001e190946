'use strict'

/**
 * A session store for @fastify/session on Redis (ioredis): the three callback methods the plugin calls. Each
 * session is one JSON string under `prefix + id`, expiring with its cookie, so Redis forgets what the browser does.
 */
class RedisSessionStore {
  constructor (redis, { prefix = 'sess:', ttlSeconds = 86_400 } = {}) {
    this.redis = redis
    this.prefix = prefix
    this.ttlSeconds = ttlSeconds
  }

  #ttl (session) {
    const expires = session.cookie?.expires
    const ms = expires ? new Date(expires).getTime() - Date.now() : NaN
    return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : this.ttlSeconds
  }

  set (id, session, callback) {
    this.redis.set(this.prefix + id, JSON.stringify(session), 'EX', this.#ttl(session)).then(() => callback(), callback)
  }

  get (id, callback) {
    this.redis.get(this.prefix + id).then((json) => callback(null, json === null ? null : JSON.parse(json)), callback)
  }

  destroy (id, callback) {
    this.redis.del(this.prefix + id).then(() => callback(), callback)
  }
}

module.exports = { RedisSessionStore }
