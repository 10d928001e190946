'use strict'
/*
 * The servers under test. Each serves bench/fixtures/app.js on 127.0.0.1 and logs JSON lines with the same
 * events (`worker:fork`, `worker:ready`, `worker:exit`, `cluster:ready`, ...), so every scenario drives them
 * the same way. `start()` resolves once the target is ready, with the primary's pid and the worker pids.
 */
const { execFileSync } = require('node:child_process')
const { existsSync } = require('node:fs')
const net = require('node:net')
const { join } = require('node:path')
const { LoggedProcess } = require('./child')
const { PM2_DIR, ensurePm2 } = require('./pm2')
const { WATT_DIR, ensureWatt } = require('./watt')

const ROOT = join(__dirname, '..')
const FIXTURES = join(__dirname, 'fixtures')
const APP = join(FIXTURES, 'app.js')
const HOST = '127.0.0.1'

/** The baseline every ratio is computed against. */
const BASELINE = 'node-cluster'

/**
 * @typedef {object} TargetSpec
 * @property {string} name
 * @property {string} title
 * @property {boolean} supervised  replaces stuck workers and does rolling reloads (fastify-cluster)
 * @property {boolean} multiWorker  runs N workers (false: one process)
 * @property {boolean} [optIn]  runs only when named in --targets
 * @property {boolean} [smoke]  false: left out of smoke runs unless named in --targets
 * @property {Record<string, string>} [unsupported]  scenario name -> why this target cannot run it
 * @property {(o: { workers: number, port: number, flags: string[], cli: string }) => { args: string[], env?: object }} command
 */

/** @type {TargetSpec[]} */
const TARGETS = [
  {
    name: 'single',
    title: 'one process (fastify start)',
    supervised: false,
    multiWorker: false,
    command: ({ port }) => ({ args: [join(FIXTURES, 'single.js')], env: { BENCH_PORT: String(port), BENCH_HOST: HOST } })
  },
  {
    name: 'node-cluster',
    title: "node:cluster, the pattern from Node's docs",
    supervised: false,
    multiWorker: true,
    command: ({ workers, port }) => ({
      args: [join(FIXTURES, 'node-cluster.js')],
      env: { BENCH_WORKERS: String(workers), BENCH_PORT: String(port), BENCH_HOST: HOST }
    })
  },
  {
    name: 'fastify-cluster',
    title: 'fastify-cluster, default options',
    supervised: true,
    multiWorker: true,
    command: ({ workers, port, flags, cli }) => ({
      args: [cli, 'start', '--workers', String(workers), '-p', String(port), '-a', HOST, ...flags, APP]
    })
  },
  {
    name: 'fastify-cluster-reuseport',
    title: 'fastify-cluster --reuse-port',
    supervised: true,
    multiWorker: true,
    command: ({ workers, port, flags, cli }) => ({
      args: [cli, 'start', '--workers', String(workers), '-p', String(port), '-a', HOST, '--reuse-port', ...flags, APP]
    })
  },
  {
    // The cost of the plugin's door against the CLI's: `--targets fastify-cluster,fastify-cluster-plugin`.
    name: 'fastify-cluster-plugin',
    title: 'fastify-cluster, register(clusterPlugin, { workers }) in the app\'s own server file',
    supervised: true,
    multiWorker: true,
    optIn: true,
    command: ({ workers, port, flags, cli }) => ({
      args: [join(FIXTURES, 'plugin-launcher.js')],
      env: {
        BENCH_WORKERS: String(workers),
        BENCH_PORT: String(port),
        BENCH_HOST: HOST,
        BENCH_PACKAGE_INDEX: join(cli, '..', 'index.js'),
        BENCH_CLUSTER_FLAGS: JSON.stringify(flags)
      }
    })
  },
  {
    name: 'fastify-cluster-sched-none',
    title: 'fastify-cluster --scheduling-policy none (SCHED_NONE: the workers accept on one shared socket)',
    supervised: true,
    multiWorker: true,
    // Not in smoke runs unless asked for (--targets): the smoke run checks the bench, and stays short.
    smoke: false,
    command: ({ workers, port, flags, cli }) => ({
      args: [cli, 'start', '--workers', String(workers), '-p', String(port), '-a', HOST, '--scheduling-policy', 'none', ...flags, APP]
    })
  },
  {
    name: 'pm2',
    title: "PM2 7 cluster mode (pm2-runtime -i N; SIGHUP: pm2 reload), installed by the bench into a temp dir",
    supervised: false,
    multiWorker: true,
    smoke: false,
    command: ({ workers, port }) => ({
      args: [join(FIXTURES, 'pm2.js')],
      env: { BENCH_WORKERS: String(workers), BENCH_PORT: String(port), BENCH_HOST: HOST, BENCH_PM2_DIR: PM2_DIR }
    })
  },
  {
    name: 'watt',
    title: 'Platformatic Watt 3 (wattpm start, N worker threads with SO_REUSEPORT; SIGHUP: the restart `wattpm restart` asks for), installed by the bench into a temp dir',
    supervised: false,
    multiWorker: true,
    smoke: false,
    unsupported: {
      sigkill: "Watt's workers are threads of one process: SIGKILL takes the whole runtime down, there is no worker process to kill alone"
    },
    command: ({ workers, port }) => ({
      args: [join(FIXTURES, 'watt.js')],
      env: { BENCH_WORKERS: String(workers), BENCH_PORT: String(port), BENCH_HOST: HOST, BENCH_WATT_DIR: WATT_DIR }
    })
  }
]

/** A port free right now on 127.0.0.1 (reusePort needs a real port: with 0 each worker would bind its own). */
async function freePort () {
  const server = net.createServer()
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, resolve)
  })
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The CLI of the fastify-cluster build in `packageDir` (the repository by default). */
function cliPath (packageDir = ROOT) {
  // Its package.json's bin: the path moved with the source layout by process.
  const { bin } = require(join(packageDir, 'package.json'))
  return join(packageDir, typeof bin === 'string' ? bin : bin['fastify-cluster'])
}

/** `node --version` of the binary the targets run on. */
function nodeVersion (node) {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
}

/** Node >= 22.12 or >= 23.1: where a cluster worker's `listen({ reusePort: true })` binds its own socket. */
function nodeHasReusePort (version) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number)
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
}

/**
 * Why a target cannot run here, or null. Checked once per bench run, before the rounds:
 * - fastify-cluster: dist/ must be built;
 * - reusePort: the CLI must know --reuse-port, and the target must start with it in effect. On a Node without
 *   reusePort in cluster workers the CLI logs `cluster:reuse-port-unavailable` and falls back to the shared
 *   socket (or, in other builds, refuses): either way the target is reported unsupported with the reason given.
 */
async function checkSupport (spec, { node, workers, version, cli, track }) {
  if (spec.name.startsWith('fastify-cluster') && !existsSync(cli)) {
    return `${cli} is missing: run npm run build first`
  }
  if (spec.name === 'pm2') {
    const pm2 = await ensurePm2()
    return 'reason' in pm2 ? pm2.reason : null
  }
  if (spec.name === 'watt') {
    const watt = await ensureWatt(version)
    return 'reason' in watt ? watt.reason : null
  }
  if (spec.name !== 'fastify-cluster-reuseport') return null
  let help
  try {
    help = execFileSync(node, [cli, 'start', '--help'], { encoding: 'utf8', cwd: ROOT, timeout: 20_000 })
  } catch (err) {
    return `fastify-cluster start --help failed: ${err.message.split('\n')[0]}`
  }
  if (!help.includes('--reuse-port')) return 'this build of the CLI has no --reuse-port flag yet'
  const needs = nodeHasReusePort(version) ? '' : ` (reusePort in cluster workers needs Node >= 22.12 or >= 23.1; this is ${version})`
  try {
    const running = await startTarget(spec, { node, workers, cli, timeout: 20_000, track })
    await running.stop()
    // Without reusePort in this Node the CLI falls back to the shared socket: the same as the default target.
    const fallback = running.proc.events('cluster:reuse-port-unavailable')[0]
    return fallback === undefined ? null : `falls back to the shared socket: ${fallback.reason ?? fallback.msg}`
  } catch (err) {
    const reason = err.message.split('\n').filter((l) => /reuse|FST_|EADDRINUSE|Error/i.test(l)).slice(-1)[0] ?? err.message.split('\n')[0]
    return `${reason.replace(/^stderr: /, '').trim()}${needs}`
  }
}

/**
 * A running target: the process, its port, its pids. Stop it with `stop()` (always, in a finally).
 */
class RunningTarget {
  constructor (spec, proc, port) {
    this.spec = spec
    this.proc = proc
    this.port = port
    this.readyLine = null
    /** Set by a scenario that killed or blocked a worker: this instance is not reused (smoke mode). */
    this.disturbed = false
  }

  get name () { return this.spec.name }
  get primaryPid () { return this.proc.pid }
  /** The process whose CPU and RSS count as the primary's: a wrapper (pm2) names the real one in its ready line. */
  get measuredPid () { return this.readyLine?.measuredPid ?? this.proc.pid }
  /** The one thread of measuredPid whose CPU counts as the primary's (watt: its workers are threads too), or undefined. */
  get measuredTid () { return this.readyLine?.measuredTid }
  get url () { return `http://${HOST}:${this.port}` }

  /** Pids of workers that reported ready and have not reported an exit (for single: the process itself). */
  liveWorkerPids () {
    const exited = new Set(this.proc.events('worker:exit').map((l) => l.pid))
    return [...new Set(this.proc.events('worker:ready').map((l) => l.pid))].filter((pid) => !exited.has(pid))
  }

  /** Every pid this target started, for the leftover check. */
  pids () {
    return this.proc.knownPids()
  }

  async stop (options) {
    return await this.proc.stop(options)
  }
}

/**
 * Starts `spec` with `workers` workers on a fresh port; resolves when it logs `cluster:ready`. On failure the
 * process is stopped before the error propagates.
 * @param {TargetSpec} spec
 * @param {{ node: string, workers: number, cli?: string, flags?: string[], timeout?: number, port?: number,
 *   track?: (proc: LoggedProcess) => void }} options  `track` sees every process spawned, for the leftover check
 */
async function startTarget (spec, { node, workers, cli = cliPath(), flags = [], timeout = 30_000, port, track = () => {} }) {
  const chosen = port ?? await freePort()
  const { args, env } = spec.command({ workers, port: chosen, flags, cli })
  const proc = new LoggedProcess(node, args, { cwd: ROOT, env })
  track(proc)
  const target = new RunningTarget(spec, proc, chosen)
  try {
    target.readyLine = await proc.waitForEvent('cluster:ready', timeout)
  } catch (err) {
    await proc.stop({ graceMs: 1000 })
    throw err
  }
  return target
}

/**
 * Smoke mode only: keeps one running instance per target (and worker count and flags) across scenarios, so a
 * round starts each target about once instead of once per scenario. An instance that a scenario disturbed (a
 * killed or stuck worker), or that lost a worker, is stopped and started afresh. Full runs never share.
 */
class TargetPool {
  #running = new Map()
  #start

  /** @param {(spec: TargetSpec, options: { workers: number, flags: string[] }) => Promise<RunningTarget>} start */
  constructor (start) {
    this.#start = start
  }

  async acquire (spec, { workers, flags }) {
    const key = `${spec.name} ${workers} ${flags.join(' ')}`
    const kept = this.#running.get(key)
    if (kept !== undefined) {
      this.#running.delete(key)
      const expected = spec.multiWorker ? workers : 1
      if (!kept.disturbed && kept.proc.running && kept.liveWorkerPids().length === expected) return kept
      await kept.stop()
    }
    const target = await this.#start(spec, { workers, flags })
    target.poolKey = key
    return target
  }

  /** Keeps `target` for the next scenario, or stops it when it was disturbed. */
  async release (target) {
    if (target.disturbed || !target.proc.running) await target.stop()
    else this.#running.set(target.poolKey, target)
  }

  async stopAll () {
    const all = [...this.#running.values()]
    this.#running.clear()
    for (const target of all) await target.stop()
  }
}

module.exports = {
  BASELINE, HOST, ROOT, TARGETS, TargetPool, checkSupport, cliPath, freePort, nodeHasReusePort, nodeVersion, startTarget
}
