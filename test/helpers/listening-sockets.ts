/*
 * Which processes hold the listening socket of a TCP port, read from /proc (Linux): tells a socket shared through
 * the primary (round-robin: only the primary holds it) from one the workers share (SCHED_NONE) or one per worker
 * (reusePort).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

const LISTEN = '0A'

/** Inodes of the sockets listening on `port`, from /proc/net/tcp and tcp6. */
export function listeningInodes (port: number): Set<string> {
  const inodes = new Set<string>()
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 10) continue
      if (cols[1]?.endsWith(`:${hexPort}`) === true && cols[3] === LISTEN) inodes.add(cols[9] as string)
    }
  }
  return inodes
}

/** Socket inodes a process has open. */
export function socketInodes (pid: number): Set<string> {
  const inodes = new Set<string>()
  let fds: string[] = []
  try { fds = readdirSync(`/proc/${pid}/fd`) } catch { return inodes }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match !== null) inodes.add(match[1] as string)
    } catch {}
  }
  return inodes
}

/** The listening sockets of `port` each pid holds. */
export function listenersByPid (port: number, pids: number[]): Map<number, string[]> {
  const listening = listeningInodes(port)
  return new Map(pids.map((pid) => [pid, [...socketInodes(pid)].filter((inode) => listening.has(inode))]))
}
