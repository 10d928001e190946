import t from 'tap'
import pino from 'pino'
import { checkResolvable, stopOrphanWorkers } from '../dist/lib/primary/preflight.js'
import { WORKER_ENV } from '../dist/lib/shared/protocol.js'
import type { ProcReader } from '../dist/lib/primary/orphan-workers.js'

t.test('checkResolvable: IP addresses pass without a lookup; a name that does not resolve is a coded error', async (t) => {
  let lookups = 0
  const resolver = async (host: string): Promise<unknown> => {
    lookups++
    if (host === 'db.internal') return { address: '10.0.0.5', family: 4 }
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
  }
  for (const ip of ['127.0.0.1', '0.0.0.0', '::', '::1', 'fe80::1']) await checkResolvable('--address', ip, resolver)
  t.equal(lookups, 0, 'no lookup for an IP literal')
  await checkResolvable('--address', 'db.internal', resolver)
  t.equal(lookups, 1, 'a name is looked up')
  const err = await t.rejects(checkResolvable('--address', 'notahost', resolver), {
    code: 'FST_CLUSTER_INVALID_OPTION',
    message: '--address must be an IP address or a host name this machine resolves (lookup failed: ENOTFOUND), received "notahost"'
  })
  t.match((err as unknown as { cause: { code: string } }).cause, { code: 'ENOTFOUND' }, 'the lookup error is the cause')
})

t.test('stopOrphanWorkers: nothing on the port, nothing done; an orphan that will not let go is a coded error naming it', async (t) => {
  const log = pino({ enabled: false })
  const table = (inode: string): string => 'sl local rem st\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 ' + inode + ' 1\n'
  // A pid above the kernel's maximum: signalling it is ESRCH, so nothing real is touched.
  const ghost = 2 ** 22 + 4321
  const proc = (listening: boolean): ProcReader => ({
    readFile: (path) => {
      if (path === '/proc/net/tcp') return table(listening ? '999' : '0')
      if (path === `/proc/${ghost}/environ`) return `${WORKER_ENV}={}\0`
      if (path === `/proc/${ghost}/stat`) return `${ghost} (node) R 1 1 1`
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
    },
    readdir: (path) => {
      if (path === '/proc') return [String(ghost), 'self']
      if (path === `/proc/${ghost}/fd`) return ['3']
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
    },
    readlink: () => 'socket:[999]'
  })
  t.same(await stopOrphanWorkers(8080, log, proc(false), 100), [], 'no listener on the port: no scan, no kill')
  await t.rejects(stopOrphanWorkers(8080, log, proc(true), 100), {
    code: 'FST_CLUSTER_ORPHAN_WORKERS',
    message: new RegExp(`^workers left by a primary that died still listen on port 8080 and could not be stopped \\(pids ${ghost}\\): still listening 100 ms after SIGKILL$`)
  })
})
