import t, { type Test } from 'tap'
import { join } from 'node:path'
import { io, type Socket } from 'socket.io-client'
import { ClusterProcess, ROOT, waitUntil } from './helpers/cluster-process'
import { NO_REDIS, redisServerPath, startRedis } from './helpers/redis-server'

// examples/socketio-redis against a real redis-server and the real socket.io client: a broadcast from a client
// on one worker reaches the clients on the others.
const APP = join(ROOT, 'examples', 'socketio-redis', 'app.js')
const redisBinary = redisServerPath()
const CLIENTS = 6

interface Said { text: string, from: number }
interface Client { socket: Socket, pid: number, said: Said[] }

async function connect (t: Test, port: number): Promise<Client> {
  const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 10_000 })
  t.teardown(() => { socket.disconnect() })
  const said: Said[] = []
  socket.on('said', (message: Said) => { said.push(message) })
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('no welcome within 15 s')) }, 15_000)
    socket.once('welcome', ({ pid }: { pid: number }) => { clearTimeout(timer); resolve(pid) })
    socket.once('connect_error', (err) => { clearTimeout(timer); reject(err) })
  })
  return { socket, pid, said }
}

t.test('examples/socketio-redis: a broadcast from one worker reaches the clients of every worker', { skip: redisBinary === null ? NO_REDIS : false }, async (t) => {
  const redis = await startRedis(t, redisBinary ?? '')
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', APP], { env: { REDIS_URL: redis.url } })
  const port = await cluster.ready(60_000)

  const clients: Client[] = []
  for (let i = 0; i < CLIENTS; i++) clients.push(await connect(t, port))
  const pids = new Set(clients.map((c) => c.pid))
  t.equal(pids.size, 2, `the ${CLIENTS} WebSocket clients landed on both workers: ${clients.map((c) => c.pid).join(', ')}`)
  t.ok(clients.every((c) => cluster.liveWorkerPids().includes(c.pid)), 'each on a worker of this cluster')

  const [first, second] = [...pids]
  const sender = clients.find((c) => c.pid === first)
  const other = clients.find((c) => c.pid === second)
  if (sender === undefined || other === undefined) throw new Error('no client per worker')

  sender.socket.emit('say', 'hello from one worker')
  await waitUntil(() => clients.every((c) => c.said.length >= 1), 15_000, 'every client to get the first broadcast')
  t.ok(clients.every((c) => c.said[0]?.text === 'hello from one worker' && c.said[0].from === first),
    `the broadcast from worker ${String(first)} reached all ${CLIENTS} clients, on both workers`)

  other.socket.emit('say', 'and back')
  await waitUntil(() => clients.every((c) => c.said.length >= 2), 15_000, 'every client to get the second broadcast')
  t.same(clients.map((c) => c.said.map((s) => [s.text, s.from])), clients.map(() => [['hello from one worker', first], ['and back', second]]),
    'each client got each broadcast once, in order')

  // Shutdown: the workers close their clients' connections and their Redis connections, and exit cleanly.
  const disconnected = clients.map(async (c) => await new Promise((resolve) => c.socket.once('disconnect', resolve)))
  process.kill(cluster.pid, 'SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0, 'exit 0')
  await Promise.all(disconnected)
  t.pass('every client was disconnected by the drain')
})
