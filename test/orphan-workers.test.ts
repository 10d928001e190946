import t from 'tap'
import { createServer } from 'node:net'
import { listeningInodes, parentPid, isZombie, environHas, socketInode, findOrphanWorkers, type ProcReader } from '../dist/lib/primary/orphan-workers.js'
import { reusePortSupport } from '../dist/lib/primary/connection-distribution.js'
import { WORKER_ENV } from '../dist/lib/shared/protocol.js'
import { ClusterProcess, FIXTURES, alive, assertGone, request, waitUntil } from './helpers/cluster-process'
import { listenersByPid } from './helpers/listening-sockets'

// Fixture text as the kernel writes it: port 3000 is 0BB8; state 0A is LISTEN, 01 ESTABLISHED.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BB8 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 5555 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 6666 1 0000000000000000 100 0 0 10 0
`
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7777 1 0000000000000000 100 0 0 10 0
`

t.test('/proc parsing on fixture text', async (t) => {
  t.same([...listeningInodes([TCP, TCP6], 3000)].sort(), ['4242', '7777'], 'LISTEN sockets of port 3000, IPv4 and IPv6')
  t.same([...listeningInodes([TCP], 3001)], ['6666'], 'another port')
  t.same([...listeningInodes([TCP], 80)], [], 'nothing on port 80')
  t.same([...listeningInodes([''], 3000)], [], 'an empty table')
  t.equal(socketInode('socket:[4242]'), '4242')
  t.equal(socketInode('pipe:[4242]'), null)
  t.equal(socketInode('/dev/null'), null)
  t.equal(parentPid('123 (node) S 1 123 123 0 -1 4194560'), 1)
  t.equal(parentPid('123 (my (odd) name) R 456 123 123 0'), 456, 'a command name with spaces and parentheses')
  t.equal(parentPid('garbage'), null)
  t.ok(isZombie('123 (node) Z 1 123'), 'Z is a zombie')
  t.notOk(isZombie('123 (Z) S 1 123'), 'the state, not the name')
  t.ok(environHas(`PATH=/bin\0${WORKER_ENV}={"v":1}\0HOME=/h\0`, WORKER_ENV))
  t.notOk(environHas(`PATH=/bin\0X${WORKER_ENV}=1\0`, WORKER_ENV), 'a longer name is not ours')
  t.notOk(environHas('', WORKER_ENV))
})

/** A fake /proc: files, directories and links by path; anything else is unreadable. */
function fakeProc (files: Record<string, string>, links: Record<string, string>): ProcReader {
  return {
    readFile: (path) => {
      const text = files[path]
      if (text === undefined) throw Object.assign(new Error(`EACCES ${path}`), { code: 'EACCES' })
      return text
    },
    readdir: (path) => {
      const prefix = path.endsWith('/') ? path : `${path}/`
      const names = new Set([...Object.keys(files), ...Object.keys(links)].filter((p) => p.startsWith(prefix))
        .map((p) => p.slice(prefix.length).split('/')[0] as string))
      if (names.size === 0) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' })
      return [...names]
    },
    readlink: (path) => {
      const target = links[path]
      if (target === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' })
      return target
    }
  }
}

t.test('findOrphanWorkers: our workers on the port whose primary is gone, nobody else', async (t) => {
  const env = `${WORKER_ENV}={"v":1}\0`
  const proc = fakeProc({
    '/proc/net/tcp': TCP,
    '/proc/net/tcp6': TCP6,
    // 10: orphan re-parented to init, holds the IPv4 listener.
    '/proc/10/environ': env, '/proc/10/stat': '10 (node) R 1 10 10',
    // 11: orphan re-parented to a subreaper (another executable), holds the IPv6 listener.
    '/proc/11/environ': env, '/proc/11/stat': '11 (node) R 50 11 11',
    '/proc/50/environ': 'PATH=/bin\0', '/proc/50/stat': '50 (systemd) S 1 50 50',
    // 12: a live cluster's worker: its parent is a primary (same node, not a worker).
    '/proc/12/environ': env, '/proc/12/stat': '12 (node) S 60 12 12',
    '/proc/60/environ': 'PATH=/bin\0', '/proc/60/stat': '60 (node) S 1 60 60',
    // 13: an orphan worker that holds no socket of this port.
    '/proc/13/environ': env, '/proc/13/stat': '13 (node) R 1 13 13',
    // 14: not a worker of ours, listening on the port.
    '/proc/14/environ': 'PATH=/bin\0', '/proc/14/stat': '14 (nginx) S 1 14 14',
    // 15: another user's process: environ unreadable.
    '/proc/15/stat': '15 (node) S 1 15 15',
    // 16: an orphan that has exited (zombie): it holds nothing any more.
    '/proc/16/environ': env, '/proc/16/stat': '16 (node) Z 1 16 16',
    // 17: its parent has died too (no /proc entry).
    '/proc/17/environ': env, '/proc/17/stat': '17 (node) R 99 17 17'
  }, {
    '/proc/10/fd/0': '/dev/null', '/proc/10/fd/21': 'socket:[4242]', '/proc/10/exe': '/usr/bin/node',
    '/proc/11/fd/21': 'socket:[7777]', '/proc/11/exe': '/usr/bin/node', '/proc/50/exe': '/usr/lib/systemd/systemd',
    '/proc/12/fd/21': 'socket:[4242]', '/proc/12/exe': '/usr/bin/node', '/proc/60/exe': '/usr/bin/node',
    '/proc/13/fd/21': 'socket:[6666]', '/proc/13/exe': '/usr/bin/node',
    '/proc/14/fd/3': 'socket:[4242]',
    '/proc/15/fd/3': 'socket:[4242]',
    '/proc/16/fd/3': 'socket:[4242]',
    '/proc/17/fd/3': 'socket:[7777]', '/proc/17/exe': '/usr/bin/node'
  })
  t.same(findOrphanWorkers(3000, WORKER_ENV, proc, 1).sort((a, b) => a.pid - b.pid),
    [{ pid: 10, ppid: 1 }, { pid: 11, ppid: 50 }, { pid: 17, ppid: 99 }])
  t.same(findOrphanWorkers(3000, WORKER_ENV, proc, 10).map((o) => o.pid).sort(), [11, 17], 'never itself')
  t.same(findOrphanWorkers(80, WORKER_ENV, proc, 1), [], 'nothing listens: no scan')
  t.same(findOrphanWorkers(3000, WORKER_ENV, fakeProc({}, {}), 1), [], 'no /proc (not Linux): nothing')
})

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => { resolve(port) })
    })
  })
}

const modes: Array<{ name: string, flags: string[], skip: string | false }> = [
  { name: '--scheduling-policy none', flags: ['--scheduling-policy', 'none'], skip: false },
  {
    name: '--reuse-port',
    flags: ['--reuse-port'],
    skip: reusePortSupport().supported ? false : `reusePort is not available here (Node ${process.versions.node})`
  }
]

for (const mode of modes) {
  t.test(`${mode.name}: a stuck worker of a SIGKILLed primary is stopped by the next start on the port`, { skip: mode.skip }, async (t) => {
    const port = await freePort()
    const args = ['start', '--workers', '2', '-p', String(port), '-a', '127.0.0.1', ...mode.flags,
      '--heartbeat-timeout', '120s', `${FIXTURES}/blocks-on-request.js`]
    const first = ClusterProcess.cli(t, args)
    await first.ready(60_000)
    request(port, '/block', { timeout: 60_000 }).catch(() => {})
    const stuck = (await first.waitFor((l) => l.fixture === 'blocking', 20_000, 'a worker blocking')).pid as number
    t.teardown(() => { if (alive(stuck)) process.kill(stuck, 'SIGKILL') })
    const others = first.forkedPids().filter((pid) => pid !== stuck)

    first.child.kill('SIGKILL')
    await first.exited
    await assertGone(others, 10_000)
    t.ok(alive(stuck), `the stuck worker ${stuck} outlives its primary`)
    t.ok((listenersByPid(port, [stuck]).get(stuck)?.length ?? 0) > 0, 'and still holds a listening socket on the port')

    const second = ClusterProcess.cli(t, args)
    const found = await second.waitForEvent('cluster:orphan-workers', 20_000)
    t.same(found.pids, [stuck], 'the orphan is found, by pid')
    t.equal(found.port, port)
    const gone = await second.waitForEvent('cluster:orphan-workers-stopped', 10_000)
    t.comment(`orphan found and released the port in ${(gone.time as number) - (found.time as number)} ms`)
    const firstFork = second.lines.findIndex((l) => l.event === 'worker:fork')
    const stopped = second.lines.findIndex((l) => l.event === 'cluster:orphan-workers-stopped')
    t.ok(firstFork === -1 || stopped < firstFork, 'stopped before the first fork')
    await second.ready(60_000)
    await waitUntil(() => !alive(stuck), 5000, `the orphan ${stuck} to be gone`)

    const results = await Promise.allSettled(Array.from({ length: 40 }, async () => await request(port, '/', { timeout: 5000 })))
    const answered = results.filter((r) => r.status === 'fulfilled' && r.value.status === 200).length
    t.equal(answered, 40, `every one of 40 new connections is answered (${answered})`)

    second.child.kill('SIGTERM')
    t.equal((await second.exit(20_000)).code, 0)
    await assertGone(second.forkedPids(), 5000)
  })
}
