/*
 * Where running clusters of this user are found: one private directory per user (0700, ours, no symlink), under
 * $XDG_RUNTIME_DIR or the temp directory, holding for each cluster a socket (0600) and a small JSON record.
 * The primary writes its entry and removes it on exit; the next command removes entries whose primary is dead.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path'
import { FST_CLUSTER_CONTROL_DIR } from './errors.js'

/** Unix socket paths are cut at 104 bytes on macOS (108 on Linux). */
const MAX_SOCKET_PATH = 103
/** Records are tiny; a big file in the directory is not ours. */
const MAX_RECORD_BYTES = 16 * 1024
export const RECORD_VERSION = 1

/** What a cluster tells about itself on disk, readable without asking it. */
export interface ClusterRecord {
  v: number
  /** The entry's own id: `<pid>-<random>` (several clusters may run in one process). */
  id: string
  name: string
  pid: number
  cwd: string
  /** The app file (as given) or `"(inline)"`. */
  app: string
  /** Where the workers listen, once known, e.g. `http://127.0.0.1:3000`. */
  address: string | null
  /** Epoch ms. */
  startedAt: number
}

/** A record with the paths of its files. */
export interface RegistryEntry extends ClusterRecord {
  socket: string
  file: string
}

/** The per-user directory, without creating it. `null` where Unix sockets and uids do not exist (Windows). */
export function controlDirPath (env: NodeJS.ProcessEnv = process.env): string | null {
  if (typeof process.getuid !== 'function' || process.platform === 'win32') return null
  const runtime = env.XDG_RUNTIME_DIR
  const base = runtime !== undefined && runtime !== '' && isAbsolute(runtime) ? runtime : tmpdir()
  return join(base, `fastify-cluster-${process.getuid()}`)
}

/** Throws FST_CLUSTER_CONTROL_DIR unless `dir` is a real directory, owned by us, closed to everyone else. */
export function checkControlDir (dir: string): void {
  const st = lstatSync(dir)
  if (st.isSymbolicLink() || !st.isDirectory()) throw new FST_CLUSTER_CONTROL_DIR(dir, 'it is not a directory (a symlink?)')
  const uid = process.getuid?.()
  if (st.uid !== uid) throw new FST_CLUSTER_CONTROL_DIR(dir, `it belongs to uid ${st.uid}, not to this user (uid ${String(uid)})`)
  if ((st.mode & 0o077) !== 0) {
    throw new FST_CLUSTER_CONTROL_DIR(dir, `its mode is ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it must be 0700`)
  }
}

/** Creates (0700) and checks the directory; throws FST_CLUSTER_CONTROL_DIR. */
export function ensureControlDir (env: NodeJS.ProcessEnv = process.env): string {
  const dir = controlDirPath(env)
  if (dir === null) throw new FST_CLUSTER_CONTROL_DIR('-', `Unix domain sockets are not supported on ${process.platform}`)
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new FST_CLUSTER_CONTROL_DIR(dir, (err as Error).message)
  }
  checkControlDir(dir)
  return dir
}

/** The paths of a new entry; throws when the socket path would be too long for the platform. */
export function newEntryPaths (dir: string): { id: string, socket: string, file: string } {
  const id = `${process.pid}-${randomBytes(4).toString('hex')}`
  const socket = join(dir, `${id}.sock`)
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new FST_CLUSTER_CONTROL_DIR(dir, `the socket path would be ${Buffer.byteLength(socket)} bytes, more than ${MAX_SOCKET_PATH}; set XDG_RUNTIME_DIR to a shorter directory`)
  }
  return { id, socket, file: join(dir, `${id}.json`) }
}

/** Writes (or replaces) a record: a new file (exclusive, 0600) renamed over the old one, so readers never see half. */
export function writeRecord (file: string, record: ClusterRecord): void {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(temp, `${JSON.stringify(record)}\n`, { flag: 'wx', mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, file)
}

export function removeQuietly (path: string): void {
  try { unlinkSync(path) } catch {}
}

function parseRecord (text: string, id: string): ClusterRecord | null {
  let raw: unknown
  try { raw = JSON.parse(text) } catch { return null }
  if (typeof raw !== 'object' || raw === null) return null
  const r = raw as Record<string, unknown>
  const ok = r.v === RECORD_VERSION && r.id === id && typeof r.name === 'string' && Number.isSafeInteger(r.pid) &&
    (r.pid as number) > 0 && typeof r.cwd === 'string' && typeof r.app === 'string' &&
    (r.address === null || typeof r.address === 'string') && Number.isFinite(r.startedAt)
  return ok ? { v: RECORD_VERSION, id, name: r.name as string, pid: r.pid as number, cwd: r.cwd as string, app: r.app as string, address: r.address as string | null, startedAt: r.startedAt as number } : null
}

/** True while a process with this pid exists (EPERM: it exists, but is someone else's). */
export function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The entries in `dir` (checked first), oldest first. Entries whose primary is gone are removed on the way;
 * files that are not records of this version are left alone.
 */
export function listEntries (dir: string): RegistryEntry[] {
  try {
    checkControlDir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const entries: RegistryEntry[] = []
  for (const name of readdirSync(dir)) {
    const owner = /^(\d+)-[0-9a-f]{8}\./.exec(name)
    if (owner === null) continue
    const file = join(dir, name)
    // Whatever a dead primary left (its socket, a record, a record half written): gone with it.
    if (!pidAlive(Number(owner[1]))) {
      removeQuietly(file)
      continue
    }
    if (!/^\d+-[0-9a-f]{8}\.json$/.test(name)) continue
    const id = basename(name, '.json')
    let text: string
    try {
      const st = lstatSync(file)
      if (!st.isFile() || st.size > MAX_RECORD_BYTES) continue
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    const record = parseRecord(text, id)
    if (record === null) continue
    const socket = join(dir, `${id}.sock`)
    if (record.pid !== Number(owner[1])) continue
    entries.push({ ...record, socket, file })
  }
  return entries.sort((a, b) => a.startedAt - b.startedAt)
}

export function removeEntry (entry: { file: string, socket: string }): void {
  removeQuietly(entry.socket)
  removeQuietly(entry.file)
}

const UNSAFE_NAME_CHARS = /[^A-Za-z0-9._-]+/g

function cleanName (raw: string): string | null {
  const name = raw.replace(UNSAFE_NAME_CHARS, '-').replace(/^[._-]+/, '').slice(0, 64)
  return name === '' ? null : name
}

/**
 * A cluster's name when none is given: the nearest package.json's name (without its scope) above the app file
 * (or the script, for an inline app), else that file's base name.
 */
export function defaultClusterName (file: string | undefined): string {
  const start = resolve(file ?? process.argv[1] ?? 'fastify-cluster')
  for (let dir = dirname(start), i = 0; i < 32; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }
      const name = typeof pkg.name === 'string' ? cleanName(pkg.name.replace(/^@[^/]+\//, '')) : null
      if (name !== null) return name
    } catch {}
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return cleanName(basename(start, extname(start))) ?? 'fastify-cluster'
}
