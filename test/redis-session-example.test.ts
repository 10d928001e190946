import t, { type Test } from 'tap'
import http from 'node:http'
import { join } from 'node:path'
import Redis from 'ioredis'
import { ClusterProcess, ROOT } from './helpers/cluster-process'
import { NO_REDIS, redisServerPath, startRedis } from './helpers/redis-server'

// examples/redis-session against a real redis-server: a login made on one worker is seen by the others, and
// survives the SIGKILL of the worker that created it and a rolling reload of every worker.
const APP = join(ROOT, 'examples', 'redis-session', 'app.js')
const redisBinary = redisServerPath()

interface Answer { status: number, body: { user?: string | null, pid: number, loggedInBy?: number }, cookie: string | null }

async function call (port: number, method: string, path: string, options: { cookie?: string, json?: object } = {}): Promise<Answer> {
  const payload = options.json === undefined ? undefined : JSON.stringify(options.json)
  return await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path,
      agent: false,
      timeout: 10_000,
      headers: {
        ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
        ...(payload === undefined ? {} : { 'content-type': 'application/json' })
      }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (c: string) => { text += c }).on('end', () => {
        const setCookie = res.headers['set-cookie']?.[0]
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), cookie: setCookie === undefined ? null : setCookie.split(';')[0] ?? null })
      })
    })
    req.on('timeout', () => { req.destroy(new Error(`${method} ${path} timed out`)) })
    req.on('error', reject)
    req.end(payload)
  })
}

/** GET /me until a worker matching `wanted` answers; every answer on the way must be the logged-in user. */
async function meFrom (t: Test, port: number, cookie: string, wanted: (pid: number) => boolean, what: string): Promise<{ pid: number, asked: number }> {
  for (let asked = 1; asked <= 100; asked++) {
    const me = await call(port, 'GET', '/me', { cookie })
    if (me.status !== 200 || me.body.user !== 'ada') {
      t.fail(`GET /me on worker ${me.body.pid} answered ${me.status} ${JSON.stringify(me.body)}: the login was lost`)
      return { pid: me.body.pid, asked }
    }
    if (wanted(me.body.pid)) return { pid: me.body.pid, asked }
  }
  throw new Error(`no answer from ${what} within 100 requests`)
}

t.test('examples/redis-session: a login survives another worker, the kill of its worker and a rolling reload', { skip: redisBinary === null ? NO_REDIS : false }, async (t) => {
  const redis = await startRedis(t, redisBinary ?? '')
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', APP], {
    env: { REDIS_URL: redis.url, SESSION_SECRET: 'a test secret that is long enough, 32+' }
  })
  const port = await cluster.ready(60_000)

  const anonymous = await call(port, 'GET', '/me')
  t.equal(anonymous.status, 401, 'no session: 401')
  const login = await call(port, 'POST', '/login', { json: { user: 'ada' } })
  t.equal(login.status, 200)
  const cookie = login.cookie
  if (cookie === null) throw new Error('no session cookie in the login answer')
  const creator = login.body.pid
  t.comment(`logged in on worker ${creator}`)

  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  await client.connect()
  t.equal((await client.keys('sess:*')).length, 1, 'the session lives in Redis')
  t.ok((await client.ttl((await client.keys('sess:*'))[0] ?? '')) > 3000, 'with the cookie\'s expiry (1 h)')

  const other = await meFrom(t, port, cookie, (pid) => pid !== creator, 'the other worker')
  t.pass(`the other worker (${other.pid}) sees the login (after ${other.asked} request(s))`)

  // SIGKILL the worker that created the session: its replacement, and the other worker, still know the user.
  const readyBefore = cluster.events('worker:ready').length
  process.kill(creator, 'SIGKILL')
  await cluster.waitForEvent('worker:exit', 15_000, (l) => l.pid === creator)
  const replacement = (await cluster.waitForCount('worker:ready', readyBefore + 1, 60_000))[readyBefore]?.pid as number
  const fromReplacement = await meFrom(t, port, cookie, (pid) => pid === replacement, `the replacement ${replacement}`)
  t.pass(`the replacement (${fromReplacement.pid}) of the killed worker sees the login`)

  // A rolling reload replaces every worker: the login is still there on each new one.
  const live = new Set(cluster.liveWorkerPids())
  process.kill(cluster.pid, 'SIGHUP')
  await cluster.waitForEvent('cluster:reload:done', 60_000)
  const fresh = new Set(cluster.liveWorkerPids().filter((pid) => !live.has(pid)))
  t.equal(fresh.size, 2, 'two new workers after the reload')
  const seen = new Set<number>()
  for (let i = 0; i < 60 && seen.size < fresh.size; i++) seen.add((await meFrom(t, port, cookie, (pid) => fresh.has(pid), 'a new worker')).pid)
  t.same([...seen].sort(), [...fresh].sort(), 'every new worker sees the login')

  const logout = await call(port, 'POST', '/logout', { cookie })
  t.equal(logout.status, 200)
  t.equal((await call(port, 'GET', '/me', { cookie })).status, 401, 'after logout the session is gone everywhere')
  t.equal((await client.keys('sess:*')).length, 0, 'and from Redis')

  process.kill(cluster.pid, 'SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0, 'the workers close their Redis connections and exit cleanly')
})
