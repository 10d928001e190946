'use strict'
/*
 * A server process under test: spawned, its JSON log lines followed (each stamped with the time it arrived),
 * waited on with deadlines, and stopped by pid with escalation. Every pid it ever saw is remembered so that
 * nothing it started outlives the bench.
 */
const { spawn } = require('node:child_process')
const { alive, descendants } = require('./proc')

class LoggedProcess {
  #waiters = new Set()
  #buffer = ''
  #seenPids = new Set()

  /**
   * @param {string} node the Node binary
   * @param {string[]} args
   * @param {{ cwd: string, env?: NodeJS.ProcessEnv }} options
   */
  constructor (node, args, options) {
    this.args = args
    this.lines = []
    this.stderr = ''
    this.spawnedAt = Date.now()
    this.child = spawn(node, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.pid = this.child.pid
    this.#seenPids.add(this.pid)
    this.exit = null
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        this.#wake()
        resolve(this.exit)
      })
    })
    // A failed spawn (bad --node path) reports through 'error' and then 'exit'; keep it for the message.
    this.child.once('error', (err) => { this.stderr += `spawn failed: ${err.message}\n` })
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => { this.#onStdout(chunk) })
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      // Keep the tail only: a crash loop could print a lot.
      this.stderr = (this.stderr + chunk).slice(-8000)
      this.#wake()
    })
  }

  #onStdout (chunk) {
    this.#buffer += chunk
    let nl
    while ((nl = this.#buffer.indexOf('\n')) !== -1) {
      const text = this.#buffer.slice(0, nl)
      this.#buffer = this.#buffer.slice(nl + 1)
      if (text[0] !== '{') continue
      let line
      try {
        line = JSON.parse(text)
      } catch {
        continue
      }
      if (line === null || typeof line !== 'object') continue
      // The primary logs a worker's pid as workerPid (pino's pid is its own); events call it pid.
      if (Number.isInteger(line.workerPid)) line = { ...line, pid: line.workerPid, primaryPid: line.pid }
      line.receivedAt = Date.now()
      if (Number.isInteger(line.pid) && line.event !== undefined) this.#seenPids.add(line.pid)
      this.lines.push(line)
    }
    this.#wake()
  }

  #wake () {
    for (const waiter of this.#waiters) waiter()
  }

  get running () {
    return this.exit === null
  }

  /** Lines with this `event`, optionally filtered. */
  events (name, filter = () => true) {
    return this.lines.filter((l) => l.event === name && filter(l))
  }

  /** When the line was written: its own `time` field (the writer's clock), else when it arrived. */
  static timeOf (line) {
    return typeof line.time === 'number' ? line.time : line.receivedAt
  }

  /** A position in the log: pass it as `from` to wait only for lines written after now. */
  cursor () {
    return this.lines.length
  }

  /**
   * Resolves with the first line at or after `from` (seen or future) matching `predicate`; after `timeout` ms
   * rejects, or resolves null with `orNull`. Also rejects (or null) if the process exits first.
   */
  async waitFor (predicate, timeout, what, { orNull = false, from = 0 } = {}) {
    return await new Promise((resolve, reject) => {
      let timer = null
      let next = from
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      const check = () => {
        let found
        for (; next < this.lines.length && found === undefined; next++) {
          if (predicate(this.lines[next])) found = this.lines[next]
        }
        if (found !== undefined) {
          done()
          resolve(found)
        } else if (this.exit !== null) {
          done()
          if (orNull) resolve(null)
          else reject(new Error(`${this.describe()} exited (${this.exit.code ?? this.exit.signal}) before ${what}${this.stderrTail()}`))
        }
      }
      timer = setTimeout(() => {
        done()
        if (orNull) resolve(null)
        else reject(new Error(`timed out after ${timeout} ms waiting for ${what} from ${this.describe()}${this.stderrTail()}`))
      }, timeout)
      this.#waiters.add(check)
      check()
    })
  }

  async waitForEvent (name, timeout, filter = () => true, options) {
    return await this.waitFor((l) => l.event === name && filter(l), timeout, `event ${name}`, options)
  }

  describe () {
    return `pid ${this.pid} (${this.args.map((a) => a.replace(/^.*\/(bench|dist)\//, '$1/')).join(' ')})`
  }

  stderrTail () {
    const tail = this.stderr.trim().split('\n').slice(-5).join('\n')
    return tail === '' ? '' : `\nstderr: ${tail}`
  }

  /** Every pid this process or its log ever named, plus its live descendants now. */
  knownPids () {
    if (this.pid !== undefined && this.running) for (const pid of descendants(this.pid)) this.#seenPids.add(pid)
    return [...this.#seenPids].filter((pid) => pid !== undefined)
  }

  /**
   * Stops the process and everything it started: `signal` to the primary, then, after `graceMs`, SIGKILL to every
   * pid still alive (a worker stuck in a busy loop only dies of SIGKILL). Resolves with the pids that were
   * still alive at the end (none, unless the kernel refused).
   */
  async stop ({ signal = 'SIGTERM', graceMs = 3000 } = {}) {
    const pids = this.knownPids()
    if (this.running) {
      try { this.child.kill(signal) } catch {}
    }
    await waitUntil(() => !this.running && pids.every((pid) => !alive(pid)), graceMs)
    const survivors = this.knownPids().filter(alive)
    for (const pid of survivors) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    if (this.running) await this.exited
    await waitUntil(() => this.knownPids().every((pid) => !alive(pid)), 2000)
    this.child.stdout.destroy()
    this.child.stderr.destroy()
    return this.knownPids().filter(alive)
  }
}

/** Polls `check` every 20 ms until true or `timeout` ms; resolves with the last result. */
async function waitUntil (check, timeout) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

module.exports = { LoggedProcess, waitUntil }
