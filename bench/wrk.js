'use strict'
/*
 * wrk as a load generator: one thread (like autocannon), `--latency` for p99, optional `Connection: close`.
 * A run either lasts `duration` seconds or runs until `stop()` (SIGINT: wrk then prints its report). When wrk
 * is missing, `findWrk()` says how to get it and the callers skip what needs it, with that message.
 */
const { spawn } = require('node:child_process')
const { findWrk } = require('./load')

const WRK_MISSING = 'wrk is not on PATH: wrk columns skipped (Debian/Ubuntu: apt-get install wrk)'

/** Reads wrk's report: req/s, requests, p99 (ms), socket errors and non-2xx (together: failed). */
function parseReport (text) {
  const num = (re) => { const m = re.exec(text); return m === null ? null : Number(m[1]) }
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(text)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const [connect, read, write, timeout] = socket === null ? [0, 0, 0, 0] : socket.slice(1).map(Number)
  const non2xx = num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p99Ms: p99 === null ? null : Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]],
    socketErrors: { connect, read, write, timeout },
    non2xx,
    failed: connect + read + write + timeout + non2xx
  }
}

/**
 * Starts wrk. `duration` in seconds (default: an hour, for a run ended by `stop()`).
 * @returns {{ done: Promise<ReturnType<typeof parseReport>>, stop: () => void }}
 */
function startWrk (bin, { url, connections, duration = 3600, close = false, timeoutS = 10 }) {
  const args = ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(duration))}s`, '--latency', '--timeout', `${timeoutS}s`]
  if (close) args.push('-H', 'Connection: close')
  args.push(url)
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => { out += chunk })
  const done = new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', () => {
      const report = parseReport(out)
      if (report.requests === null) reject(new Error(`wrk printed no report: ${out.slice(0, 300)}`))
      else resolve(report)
    })
  })
  return { done, stop: () => { if (child.exitCode === null) child.kill('SIGINT') } }
}

async function runWrk (bin, options) {
  return await startWrk(bin, options).done
}

module.exports = { WRK_MISSING, findWrk, parseReport, runWrk, startWrk }
