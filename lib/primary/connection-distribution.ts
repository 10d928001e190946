/**
 * How new connections reach workers: `node:cluster`'s shared socket (round-robin by the primary, or the OS; the
 * policy is set by the adapter, worker-process.ts), or, with `reusePort`, one `SO_REUSEPORT` socket per worker with
 * the kernel spreading connections.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/** Platforms where Node's `listen({ reusePort })` is documented to work (Linux 3.9+, FreeBSD 12+, Solaris 11.4, AIX 7.2.5+). */
const REUSE_PORT_PLATFORMS: ReadonlySet<string> = new Set(['linux', 'freebsd', 'sunos', 'aix'])

export type ReusePortSupport = { supported: true } | { supported: false, reason: string }

/** Whether this Node and platform honour `reusePort` (added in Node 23.1.0 and backported to 22.12.0). */
export function reusePortSupport (nodeVersion: string = process.versions.node,
  platform: string = process.platform): ReusePortSupport {
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number)
  const nodeOk = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
  if (!nodeOk) return { supported: false, reason: `Node ${nodeVersion} has no reusePort for listen (it needs >= 22.12 or >= 23.1)` }
  if (!REUSE_PORT_PLATFORMS.has(platform)) return { supported: false, reason: `SO_REUSEPORT does not balance connections on ${platform}` }
  return { supported: true }
}

/**
 * Asks the OS for a free port, for workers told to listen on port 0 with `reusePort`: each would otherwise bind a
 * port of its own. The port is free now; the first worker holds it from its bind on.
 */
export async function reserveFreePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer()
    probe.unref()
    probe.once('error', reject)
    probe.listen({ port: 0, host: '0.0.0.0', exclusive: true }, () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => { resolve(port) })
    })
  })
}

/**
 * Linux's `net.ipv4.tcp_migrate_req`: when 1, connections queued on a closing `SO_REUSEPORT` socket move to the
 * others in its group; when 0 they are reset. `null` where it cannot be read (not Linux, or a kernel before 5.14).
 */
export function tcpMigrateReq (path = '/proc/sys/net/ipv4/tcp_migrate_req'): boolean | null {
  try {
    return readFileSync(path, 'utf8').trim() === '1'
  } catch {
    return null
  }
}
