/**
 * Workers left behind by a primary that died without stopping them (SIGKILL, OOM killer). A worker notices its
 * primary's death only when its event loop runs: a stuck one never does, and if it owns a listening socket
 * (`reusePort`, or `schedulingPolicy: "none"`) the kernel keeps handing it new connections that nobody accepts.
 * Before forking, the primary finds such workers on its port in /proc (Linux) and stops them.
 *
 * The parsing below is pure and takes the text of /proc files, so it is tested on fixtures; `LINUX_PROC` is the
 * only part that reads the real /proc.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

/** The few /proc reads the search needs; each throws when the file cannot be read (gone, another user's). */
export interface ProcReader {
  readFile: (path: string) => string
  readdir: (path: string) => string[]
  readlink: (path: string) => string
}

export const LINUX_PROC: ProcReader = {
  readFile: (path) => readFileSync(path, 'utf8'),
  readdir: (path) => readdirSync(path),
  readlink: (path) => readlinkSync(path)
}

/** TCP state 0A in /proc/net/tcp*: LISTEN. */
const LISTEN = '0A'

/** Inodes of the sockets listening on `port` (any address), from the text of /proc/net/tcp and /proc/net/tcp6. */
export function listeningInodes (tables: readonly string[], port: number): Set<string> {
  const inodes = new Set<string>()
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const table of tables) {
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const inode = cols[9]
      if (cols[1]?.toUpperCase().endsWith(hexPort) === true && cols[3] === LISTEN && inode !== undefined && inode !== '0') {
        inodes.add(inode)
      }
    }
  }
  return inodes
}

/** The inode of a /proc/<pid>/fd link to a socket (`socket:[12345]`), else `null`. */
export function socketInode (link: string): string | null {
  return /^socket:\[(\d+)\]$/.exec(link)?.[1] ?? null
}

/** The parent pid from the text of /proc/<pid>/stat; the command name may hold spaces and parentheses. */
export function parentPid (stat: string): number | null {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ppid = Number(fields[1])
  return Number.isInteger(ppid) && ppid >= 0 ? ppid : null
}

/** Whether the stat text says the process is a zombie (it has exited; it holds no sockets). */
export function isZombie (stat: string): boolean {
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
}

/** Whether a NUL-separated /proc/<pid>/environ sets `key`. */
export function environHas (environ: string, key: string): boolean {
  return environ.split('\0').some((entry) => entry.startsWith(`${key}=`))
}

export interface OrphanWorker {
  pid: number
  /** The process it was handed to when its primary died (1, or a subreaper). */
  ppid: number
}

/**
 * Workers (processes whose environment carries `workerEnv`) that hold a listening socket on `port` and whose
 * primary is gone. A live primary is the worker's parent and runs the same executable; a dead one's workers are
 * re-parented to pid 1 or to a subreaper (systemd, tini, a shell), which does not. Processes of other users are
 * invisible here (their environ is unreadable), and could not be signalled anyway.
 */
export function findOrphanWorkers (port: number, workerEnv: string, proc: ProcReader = LINUX_PROC,
  self: number = process.pid): OrphanWorker[] {
  const tables: string[] = []
  for (const path of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try { tables.push(proc.readFile(path)) } catch {}
  }
  const listening = listeningInodes(tables, port)
  if (listening.size === 0) return []
  let pids: string[]
  try { pids = proc.readdir('/proc').filter((name) => /^\d+$/.test(name)) } catch { return [] }
  const orphans: OrphanWorker[] = []
  for (const name of pids) {
    const pid = Number(name)
    if (pid === self) continue
    try {
      if (!environHas(proc.readFile(`/proc/${pid}/environ`), workerEnv)) continue
      if (!holdsAny(proc, pid, listening)) continue
      const stat = proc.readFile(`/proc/${pid}/stat`)
      const ppid = parentPid(stat)
      if (ppid === null || isZombie(stat) || !primaryGone(proc, pid, ppid, workerEnv)) continue
      orphans.push({ pid, ppid })
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return orphans
}

function holdsAny (proc: ProcReader, pid: number, inodes: ReadonlySet<string>): boolean {
  for (const fd of proc.readdir(`/proc/${pid}/fd`)) {
    let link: string
    try { link = proc.readlink(`/proc/${pid}/fd/${fd}`) } catch { continue }
    const inode = socketInode(link)
    if (inode !== null && inodes.has(inode)) return true
  }
  return false
}

/** True unless the parent looks like the worker's own primary: alive, ours, the same executable, not a worker. */
function primaryGone (proc: ProcReader, pid: number, ppid: number, workerEnv: string): boolean {
  if (ppid <= 1) return true
  try {
    if (environHas(proc.readFile(`/proc/${ppid}/environ`), workerEnv)) return true
    return proc.readlink(`/proc/${ppid}/exe`) !== proc.readlink(`/proc/${pid}/exe`)
  } catch {
    // The parent is gone, or belongs to another user: either way not the primary that forked this worker.
    return true
  }
}

/** Whether `pid` still holds one of the listening sockets on `port`. */
export function stillListening (pid: number, port: number, proc: ProcReader = LINUX_PROC): boolean {
  const tables: string[] = []
  for (const path of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try { tables.push(proc.readFile(path)) } catch {}
  }
  try {
    if (isZombie(proc.readFile(`/proc/${pid}/stat`))) return false
    return holdsAny(proc, pid, listeningInodes(tables, port))
  } catch {
    return false
  }
}
