/*
 * The control socket is input like any other: garbage, huge lines, unknown commands, wrong versions, slow and
 * many clients do no harm, get coded answers where an answer makes sense, and the cluster serves throughout.
 * A control directory that is not ours or is open to others is refused, by the cluster and by the commands.
 */
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs'
import { ClusterProcess, FIXTURES, request } from './helpers/cluster-process'
import { privateControlEnv } from './helpers/control-dir'

const base = ['start', '--workers', '1', '-p', '0', '-a', '127.0.0.1', '--name', 'target']

/** Connects, sends `payload` (in one write), resolves with what came back before the server closed or `wait` ms. */
async function exchange (path: string, payload: string | Buffer, wait = 3000): Promise<{ text: string, closedByServer: boolean }> {
  const socket = net.connect(path)
  await once(socket, 'connect')
  let text = ''
  socket.setEncoding('utf8').on('data', (c: string) => { text += c })
  socket.on('error', () => {})
  socket.write(payload)
  const closed = once(socket, 'close').then(() => true)
  const timer = new Promise<boolean>((resolve) => setTimeout(() => { resolve(false) }, wait))
  const closedByServer = await Promise.race([closed, timer])
  socket.destroy()
  return { text, closedByServer }
}

function replies (text: string): Array<{ v: number, id: number | null, ok: boolean, error?: { code: string, message: string }, result?: unknown }> {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
}

t.test('garbage, a huge line, unknown commands, wrong versions, slow and many clients: no harm', async (t) => {
  const env = privateControlEnv(t)
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`], { env })
  const port = await cluster.ready(60_000)
  const sock = `${env.dir}/${readdirSync(env.dir).find((f) => f.endsWith('.sock')) ?? ''}`

  const unknown = replies((await exchange(sock, '{"v":1,"id":4,"cmd":"shutdown-everything"}\n', 500)).text)
  t.match(unknown, [{ v: 1, id: 4, ok: false, error: { code: 'FST_CLUSTER_CONTROL_UNKNOWN_COMMAND', message: /unknown control command "shutdown-everything"; commands: info, status, reload, stop/ } }])
  const version = replies((await exchange(sock, '{"v":2,"id":5,"cmd":"status"}\n', 500)).text)
  t.match(version, [{ id: 5, ok: false, error: { code: 'FST_CLUSTER_CONTROL_BAD_REQUEST', message: /protocol version must be 1, received 2/ } }])
  const extra = replies((await exchange(sock, '{"v":1,"cmd":"status","__proto__":{"x":1}}\n', 500)).text)
  t.match(extra, [{ ok: false, error: { code: 'FST_CLUSTER_CONTROL_BAD_REQUEST', message: /unknown field "__proto__"/ } }])
  const shapes = replies((await exchange(sock, 'null\n[]\n"status"\n{"v":1,"id":"x","cmd":"info"}\n', 500)).text)
  t.equal(shapes.length, 4, 'one answer per line')
  t.ok(shapes.every((r) => r.ok === false && r.error?.code === 'FST_CLUSTER_CONTROL_BAD_REQUEST'), 'each a coded refusal')
  // Several requests on one connection, answered in order.
  const two = replies((await exchange(sock, '{"v":1,"id":1,"cmd":"info"}\n{"v":1,"id":2,"cmd":"status"}\n', 1000)).text)
  t.same(two.map((r) => [r.id, r.ok]), [[1, true], [2, true]])

  const garbage = await exchange(sock, Buffer.from([0, 255, 1, 2, 10, 0xc3, 0x28, 10]))
  t.match(replies(garbage.text)[0], { ok: false, error: { code: 'FST_CLUSTER_CONTROL_BAD_REQUEST' } })

  const huge = await exchange(sock, 'x'.repeat(1024 * 1024))
  t.match(replies(huge.text), [{ ok: false, error: { code: 'FST_CLUSTER_CONTROL_BAD_REQUEST', message: /at most 1024 bytes/ } }])
  t.ok(huge.closedByServer, 'a huge line: refused and hung up')

  // A slow client: a partial line is refused after its deadline instead of holding the connection.
  const started = Date.now()
  const slow = await exchange(sock, '{"v":1,', 15_000)
  t.ok(slow.closedByServer, `the server hung up on a partial line after ${Date.now() - started} ms`)
  t.match(slow.text, 'no complete request line within 5000 ms')

  // 100 connections at once that say nothing: the cluster still answers a real command.
  const idle = await Promise.all(Array.from({ length: 100 }, async () => {
    const s = net.connect(sock)
    s.on('error', () => {})
    return s
  }))
  const status = ClusterProcess.cli(t, ['status', '--json'], { env })
  const code = (await status.exit(30_000)).code
  for (const s of idle) s.destroy()
  // Over the connection cap a client is turned away; once the idle ones go, the command works again.
  const again = code === 0 ? status : ClusterProcess.cli(t, ['status', '--json'], { env })
  if (code !== 0) t.equal((await again.exit(30_000)).code, 0, 'status works again once the idle clients left')
  t.match(JSON.parse(again.stdout), { ready: 1, name: 'target' })

  t.equal((await request(port, '/')).status, 200, 'the app served throughout')
  t.equal(cluster.events('worker:exit').length, 0, 'no worker was harmed')
  t.ok(cluster.events('control:bad-request').length >= 1, 'bad requests were logged (rate-limited)')
  t.ok(cluster.events('control:bad-request').length <= 3, `at most one warning per 10 s: ${cluster.events('control:bad-request').length}`)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0, 'and it stops cleanly')
})

t.test('a control directory that is not ours, or open to others, is refused: the cluster runs without a socket', async (t) => {
  const env = privateControlEnv(t)
  mkdirSync(env.dir, { mode: 0o700 })
  chmodSync(env.dir, 0o755)
  const loose = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`], { env })
  await loose.ready(60_000)
  const warning = await loose.waitForEvent('control:unavailable', 5000)
  t.match(warning.err, { code: 'FST_CLUSTER_CONTROL_DIR', message: /its mode is 0755; it must be 0700/ })
  t.same(readdirSync(env.dir), [], 'nothing written into it')
  const ls = ClusterProcess.cli(t, ['ls'], { env })
  t.equal((await ls.exit(30_000)).code, 1)
  t.match(ls.stderr, `FST_CLUSTER_CONTROL_DIR: the control directory "${env.dir}" cannot be used: its mode is 0755; it must be 0700`)
  loose.child.kill('SIGTERM')
  t.equal((await loose.exit(30_000)).code, 0)

  if (process.getuid?.() !== 0) {
    t.comment('not root: cannot give the directory to another user here')
    return
  }
  chmodSync(env.dir, 0o700)
  chownSync(env.dir, 65534, 65534)
  const foreign = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`], { env })
  await foreign.ready(60_000)
  const refused = await foreign.waitForEvent('control:unavailable', 5000)
  t.match(refused.err, { code: 'FST_CLUSTER_CONTROL_DIR', message: /it belongs to uid 65534, not to this user \(uid 0\)/ })
  const status = ClusterProcess.cli(t, ['status'], { env })
  t.equal((await status.exit(30_000)).code, 1)
  t.match(status.stderr, 'FST_CLUSTER_CONTROL_DIR')
  foreign.child.kill('SIGTERM')
  t.equal((await foreign.exit(30_000)).code, 0)
})

t.test('a socket path too long for the platform: a warning, the cluster serves', async (t) => {
  const env = privateControlEnv(t)
  const deep = `${env.XDG_RUNTIME_DIR}/${'d'.repeat(90)}`
  mkdirSync(deep)
  const cluster = ClusterProcess.cli(t, [...base, `${FIXTURES}/healthy.js`], { env: { XDG_RUNTIME_DIR: deep } })
  const port = await cluster.ready(60_000)
  const warning = await cluster.waitForEvent('control:unavailable', 5000)
  t.match(warning.err, { code: 'FST_CLUSTER_CONTROL_DIR', message: /set XDG_RUNTIME_DIR to a shorter directory/ })
  t.equal((await request(port, '/')).status, 200)
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
})
