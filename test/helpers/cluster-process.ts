/*
 * Test harness: starts a real cluster (CLI or script) as a child process, follows its pino JSON lines, and waits
 * on them with deadlines. Every process it starts is recorded and killed by pid in teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import http from 'node:http'

export const ROOT = join(__dirname, '..', '..')
export const CLI = join(ROOT, 'dist', 'lib', 'cli', 'main.js')
export const FIXTURES = join(ROOT, 'test', 'fixtures')

export interface LogLine {
  event?: string
  msg?: string
  pid?: number
  id?: number
  [key: string]: unknown
}

/**
 * A primary's log line read as the event it records: in the line pino's `pid` is the primary's and the worker's is
 * `workerPid`; events carry the worker's as `pid`, so tests follow a worker by `pid` either way.
 */
function asEvent (line: LogLine): LogLine {
  return typeof line.workerPid === 'number' ? { ...line, pid: line.workerPid, primaryPid: line.pid } : line
}

interface Test {
  teardown: (fn: () => void | Promise<void>) => void
}

/** True while a process with this pid exists (and is not a zombie we already reaped). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie (exited, not yet reaped by whoever adopted it) still answers kill 0, but it is gone.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** Polls `check` every 20 ms until it returns a truthy value; fails naming `what` after `timeout` ms. */
export async function waitUntil<T> (check: () => T | undefined | false | null, timeout: number, what: string): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false && value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export class ClusterProcess {
  readonly child: ChildProcess
  readonly lines: LogLine[] = []
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  #waiters: Array<() => void> = []

  constructor (child: ChildProcess) {
    this.child = child
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as { code: number | null, signal: NodeJS.Signals | null })
    let buffer = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const text = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          const parsed = JSON.parse(text) as LogLine
          if (typeof parsed === 'object' && parsed !== null) this.lines.push(asEvent(parsed))
        } catch {}
      }
      for (const w of this.#waiters) w()
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
      for (const w of this.#waiters) w()
    })
    child.on('exit', () => { for (const w of this.#waiters) w() })
  }

  /** Starts `fastify-cluster <args>`; registers teardown that kills it and every worker it forked. */
  static cli (t: Test, args: string[], options: { env?: NodeJS.ProcessEnv, detached?: boolean } = {}): ClusterProcess {
    return ClusterProcess.node(t, [CLI, ...args], options)
  }

  /** Starts `node <args>` (a fixture script); same teardown. */
  static node (t: Test, args: string[], options: { env?: NodeJS.ProcessEnv, detached?: boolean } = {}): ClusterProcess {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false
    })
    const cp = new ClusterProcess(child)
    t.teardown(async () => {
      for (const pid of [child.pid, ...cp.forkedPids()]) {
        if (pid !== undefined && alive(pid)) {
          try { process.kill(pid, 'SIGKILL') } catch {}
        }
      }
      if (child.exitCode === null && child.signalCode === null) await cp.exited
    })
    return cp
  }

  get pid (): number { return this.child.pid ?? -1 }

  events (name: string): LogLine[] {
    return this.lines.filter((l) => l.event === name)
  }

  /** Every worker pid this primary ever forked. */
  forkedPids (): number[] {
    return this.events('worker:fork').map((l) => l.pid as number)
  }

  /** Pids forked and not yet reported exited. */
  liveWorkerPids (): number[] {
    const exited = new Set(this.events('worker:exit').map((l) => l.pid))
    return this.forkedPids().filter((pid) => !exited.has(pid))
  }

  /** Resolves with the first line (already seen or future) matching `predicate`; rejects at the deadline or exit. */
  async waitFor (predicate: (line: LogLine) => boolean, timeout: number, what: string): Promise<LogLine> {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(predicate)
        if (found !== undefined) {
          done()
          resolve(found)
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done()
          reject(new Error(`process exited (${String(this.child.exitCode)}) before ${what}\nstderr: ${this.stderr.slice(-2000)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}\nstderr: ${this.stderr.slice(-2000)}`))
      }, timeout)
      const done = (): void => {
        clearTimeout(timer)
        this.#waiters = this.#waiters.filter((w) => w !== check)
      }
      this.#waiters.push(check)
      check()
    })
  }

  async waitForEvent (name: string, timeout: number, filter: (line: LogLine) => boolean = () => true): Promise<LogLine> {
    return await this.waitFor((l) => l.event === name && filter(l), timeout, `event ${name}`)
  }

  /** Waits for the `n`-th line matching (1-based). */
  async waitForCount (name: string, n: number, timeout: number, filter: (line: LogLine) => boolean = () => true): Promise<LogLine[]> {
    await this.waitFor(() => this.events(name).filter(filter).length >= n, timeout, `${n} x ${name}`)
    return this.events(name).filter(filter)
  }

  /** Waits for `cluster:ready`, returns the port the workers share. Generous: the test machine may be loaded. */
  async ready (timeout = 60_000): Promise<number> {
    const line = await this.waitForEvent('cluster:ready', timeout)
    return (line.address as { port: number }).port
  }

  /** Waits for the health server to listen, returns its port. */
  async healthPort (timeout = 30_000): Promise<number> {
    return (await this.waitForEvent('health:listening', timeout)).port as number
  }

  /** How many workers were alive at most at any point, from the fork and exit lines. */
  maxConcurrentWorkers (): number {
    let live = 0
    let max = 0
    for (const line of this.lines) {
      if (line.event === 'worker:fork') max = Math.max(max, ++live)
      else if (line.event === 'worker:exit') live--
    }
    return max
  }

  async exit (timeout: number): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`process did not exit within ${timeout} ms`)) }, timeout)
    })
    try {
      return await Promise.race([this.exited, expired])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Waits until none of `pids` exists; fails naming the survivors. */
export async function assertGone (pids: number[], timeout: number): Promise<void> {
  await waitUntil(() => pids.every((pid) => !alive(pid)), timeout,
    `processes to be gone: ${pids.filter(alive).join(', ')}`)
}

export interface Response { status: number, body: string, headers: http.IncomingHttpHeaders }

/** One request on a fresh connection (no keep-alive), so round-robin spreads them across workers. */
export async function request (port: number, path: string, options: { agent?: http.Agent, timeout?: number } = {}): Promise<Response> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: options.agent ?? false, timeout: options.timeout ?? 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers })
      }).on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`request ${path} timed out`)) })
    req.on('error', reject)
  })
}
