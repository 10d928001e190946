'use strict'
/*
 * The load generator: autocannon's programmatic API, the same settings for every target. Keep-alive by default;
 * Connection-close sends `connection: close`, and autocannon then opens a new connection per request (checked
 * against the server's own connection and request counts: see bench/README.md). wrk, when on PATH, gives a
 * second opinion on throughput; it is never required.
 */
const autocannon = require('autocannon')
const { execFile } = require('node:child_process')
const { accessSync, constants } = require('node:fs')
const { delimiter, join } = require('node:path')

/**
 * @typedef {object} LoadResult
 * @property {number} rps        2xx responses per second of the run
 * @property {number} ok         2xx responses
 * @property {number} non2xx
 * @property {number} errors     connection errors (refused, reset, ...)
 * @property {number} timeouts   requests without an answer within `timeout`
 * @property {number} failed     errors + timeouts + non2xx
 * @property {Record<string, number>} errorCodes  errors and timeouts by code (ECONNRESET, timeout, ...)
 * @property {number} seconds    length of the run
 * @property {number} p50Ms
 * @property {number} p99Ms
 */

/**
 * Starts a load against `url`. With `duration` (seconds) it ends by itself; without, it runs until `stop()`.
 * @param {{ url: string, connections: number, duration?: number, close?: boolean, timeout?: number }} options
 * @returns {{ done: Promise<LoadResult>, stop: () => void, waitForResponses: (n: number, timeout: number) => Promise<void> }}
 */
function startLoad ({ url, connections, duration, close = false, timeout = 10 }) {
  let tracker
  let responses = 0
  let finished = false
  const errorCodes = {}
  const done = new Promise((resolve, reject) => {
    tracker = autocannon({
      url,
      connections,
      // Without a duration: an hour, stopped by stop() long before.
      duration: duration ?? 3600,
      timeout,
      headers: close ? { connection: 'close' } : {},
      // autocannon checks for the end on each sample tick: a short tick makes the end (and stop()) prompt.
      sampleInt: 100
    }, (err, result) => {
      finished = true
      if (err) reject(err)
      else resolve({ ...summarize(result), errorCodes })
    })
    tracker.on('response', () => { responses++ })
    tracker.on('reqError', (error) => {
      const code = error.code ?? (error.message === 'request timed out' ? 'timeout' : error.message)
      errorCodes[code] = (errorCodes[code] ?? 0) + 1
    })
  })
  /** Resolves once `n` responses came back: the load is flowing. */
  const waitForResponses = async (n, timeout) => {
    const deadline = Date.now() + timeout
    while (responses < n) {
      if (finished || Date.now() >= deadline) {
        throw new Error(`the load got ${responses} responses from ${url} within ${timeout} ms, expected ${n}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  return { done, stop: () => { tracker.stop() }, waitForResponses }
}

/**
 * Runs `fn(load)` under a load that lasts until `fn` settles (a tail window, if any, is `fn`'s to wait); the load
 * is stopped in every case. Resolves with `fn`'s value and the load's result.
 */
async function withLoad (options, fn) {
  const load = startLoad(options)
  let value
  let settled = false
  try {
    value = await fn(load)
    settled = true
  } finally {
    load.stop()
    // When fn failed, its error wins: wait for the load to end, ignore how.
    if (!settled) await load.done.catch(() => {})
  }
  return { value, result: await load.done }
}

/** Runs a load for `duration` seconds and resolves with its result. */
async function runLoad (options) {
  return await startLoad(options).done
}

function summarize (result) {
  const ok = result['2xx']
  // autocannon counts a timeout in `errors` too.
  const failed = result.errors + result.non2xx
  return {
    rps: result.duration > 0 ? ok / result.duration : 0,
    ok,
    non2xx: result.non2xx,
    errors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    failed,
    seconds: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99
  }
}

/** The path of `wrk` if it is on PATH, else null. */
function findWrk () {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      accessSync(join(dir, 'wrk'), constants.X_OK)
      return join(dir, 'wrk')
    } catch {}
  }
  return null
}

/**
 * One wrk run (a single thread, like autocannon) with the same connections and duration; null if it failed.
 * @returns {Promise<{ rps: number, failed: number } | null>}
 */
async function runWrk (wrk, { url, connections, duration, close = false }) {
  const args = ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(duration))}s`, '--timeout', '10s']
  if (close) args.push('-H', 'Connection: close')
  args.push(url)
  return await new Promise((resolve) => {
    execFile(wrk, args, { timeout: (duration + 30) * 1000 }, (err, stdout) => {
      if (err) {
        resolve(null)
        return
      }
      resolve(parseWrk(stdout))
    })
  })
}

/** Reads "Requests/sec:", "Non-2xx or 3xx responses:" and "Socket errors:" from wrk's report. */
function parseWrk (text) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text)
  if (rps === null) return null
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const errors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0)
  return { rps: Number(rps[1]), failed: errors + (non2xx === null ? 0 : Number(non2xx[1])) }
}

module.exports = { findWrk, parseWrk, runLoad, runWrk, startLoad, withLoad }
