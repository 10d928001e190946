'use strict'
/*
 * What is measured. Each scenario starts a fresh target (smoke mode may reuse an undisturbed one), does one thing
 * to it, and returns plain numbers (`null`: did not happen within the scenario's window; a missing key: does not
 * apply to this target). Targets are stopped, and loads ended, before a scenario returns or throws.
 */
const http = require('node:http')
const { LoggedProcess } = require('./child')
const { runLoad, withLoad } = require('./load')
const { runWrk: runWrkLatency } = require('./wrk')
const { alive, cpuSeconds, rssBytes } = require('./proc')
const { startTarget } = require('./targets')

const timeOf = LoggedProcess.timeOf
const MB = 1024 * 1024

/**
 * @typedef {object} Context  how this bench run is configured (see run.js)
 * @property {string} node
 * @property {string} cli             fastify-cluster's CLI (dist/lib/cli/main.js of the package benched)
 * @property {number} workers
 * @property {number} connections
 * @property {number} duration        seconds of each measured load
 * @property {number} warmup          seconds of load before a measured one
 * @property {number} faultTimeout    autocannon timeout (s) in fault scenarios: a hung request counts as failed
 * @property {number} idleSeconds
 * @property {number} heartbeatTimeout  fastify-cluster's heartbeatTimeout in the stuck scenario (ms)
 * @property {string[]} clusterFlags  extra fastify-cluster flags (smoke: a short heartbeatTimeout)
 * @property {import('./targets').TargetPool|null} pool  smoke mode: targets shared across scenarios
 * @property {number} recoverWindow   ms to wait for a killed worker's replacement
 * @property {number} stuckSlack      ms past heartbeatTimeout to wait for a stuck worker's replacement
 * @property {number} round
 * @property {(proc: LoggedProcess) => void} track
 * @property {string|null} wrk
 */

/** Starts `spec` (all supervised targets get `ctx.clusterFlags`). */
async function start (spec, ctx, { workers = ctx.workers } = {}) {
  return await startTarget(spec, {
    node: ctx.node, cli: ctx.cli, workers, flags: spec.supervised ? ctx.clusterFlags : [], track: ctx.track
  })
}

/**
 * Runs `fn(target)` on a started target and stops it after, always. In smoke mode (`ctx.pool`) an undisturbed
 * target is kept for the next scenario instead; `fresh` (cold start) always starts and stops its own.
 */
async function withTarget (spec, ctx, { workers = ctx.workers, fresh = false } = {}, fn) {
  const pooled = ctx.pool !== null && !fresh
  const target = pooled
    ? await ctx.pool.acquire(spec, { workers, flags: spec.supervised ? ctx.clusterFlags : [] })
    : await start(spec, ctx, { workers })
  let ok = false
  try {
    const value = await fn(target)
    ok = true
    return value
  } finally {
    if (!ok) target.disturbed = true
    if (pooled) await ctx.pool.release(target)
    else await target.stop()
  }
}

/** Waits `ms`: only for measurement windows (idle sampling, the tail after a fault), never instead of an event. */
async function measureWindow (ms) {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Enough responses to know the load is flowing and the workers are warm. */
function flowing (ctx) {
  return Math.max(200, ctx.connections * 20)
}

/** Share of one core the process used between two cpuSeconds() readings, in percent. */
function cpuPercent (before, after, ms) {
  if (before === null || after === null || ms <= 0) return null
  return ((after - before) / (ms / 1000)) * 100
}

/** "ECONNRESET 2, timeout 1" */
function describeErrors (codes) {
  return Object.entries(codes).map(([code, n]) => `${code} ${n}`).join(', ') || 'non-2xx'
}

/** A throughput scenario: warm up, then one measured load (and wrk's opinion when installed). */
function throughput ({ name, title, path, close }) {
  return {
    name,
    title,
    primary: 'rps',
    metrics: [
      { key: 'rps', label: 'req/s', better: 'higher', digits: 0 },
      { key: 'p99Ms', label: 'p99 ms', better: 'lower', digits: 1 },
      { key: 'failed', label: 'failed', better: 'lower', digits: 0 },
      { key: 'primaryCpuPct', label: 'primary CPU %', better: 'lower', digits: 1 },
      { key: 'busiestShare', label: "busiest worker's share", better: 'lower', digits: 2 },
      { key: 'wrkRps', label: 'wrk req/s', better: 'higher', digits: 0 },
      { key: 'wrkP99Ms', label: 'wrk p99 ms', better: 'lower', digits: 1 }
    ],
    describe: (ctx) => `${ctx.connections} connections, ${close ? 'Connection: close' : 'keep-alive'}, GET ${path}, ` +
      `${ctx.warmup} s warm-up then ${ctx.duration} s measured`,
    applies: () => null,
    run: async (spec, ctx) => await withTarget(spec, ctx, {}, async (target) => {
      const load = { url: `${target.url}${path}`, connections: ctx.connections, close }
      if (ctx.warmup > 0) await runLoad({ ...load, duration: ctx.warmup })
      const cpuBefore = cpuSeconds(target.measuredPid, { tid: target.measuredTid })
      const workers = target.liveWorkerPids()
      const workersBefore = workers.map((pid) => cpuSeconds(pid))
      const startedAt = Date.now()
      const result = await runLoad({ ...load, duration: ctx.duration })
      const workersUsed = workers.map((pid, i) => (cpuSeconds(pid) ?? 0) - (workersBefore[i] ?? 0))
      const workersTotal = workersUsed.reduce((sum, x) => sum + x, 0)
      const metrics = {
        rps: result.rps,
        // With Connection: close autocannon times each response against the request it wrote on the closing
        // socket cycles before (its queue keeps the unanswered write): a latency it reports there is meaningless.
        ...(close ? {} : { p99Ms: result.p99Ms }),
        failed: result.failed,
        primaryCpuPct: cpuPercent(cpuBefore, cpuSeconds(target.measuredPid, { tid: target.measuredTid }), Date.now() - startedAt),
        // How evenly the work was spread: the busiest worker's share of the workers' CPU time (1 / N is even).
        ...(workers.length > 1 && workersTotal > 0 ? { busiestShare: Math.max(...workersUsed) / workersTotal } : {})
      }
      if (ctx.wrk !== null) {
        const wrk = await runWrkLatency(ctx.wrk, { ...load, duration: ctx.duration }).catch(() => null)
        if (wrk !== null) {
          metrics.wrkRps = wrk.rps
          metrics.wrkP99Ms = wrk.p99Ms
        }
      }
      return { metrics }
    })
  }
}

const keepalive = throughput({ name: 'keepalive', title: 'Keep-alive throughput', path: '/', close: false })
const close = throughput({ name: 'close', title: 'Connection-close throughput', path: '/', close: true })
const cpu = throughput({ name: 'cpu', title: 'CPU-bound route (1 ms busy loop per request)', path: '/cpu?ms=1', close: false })

/** Rolling reload (SIGHUP to the primary) under keep-alive load: failed requests and how long it took. */
const reload = {
  name: 'reload',
  title: 'Rolling reload under load',
  primary: 'failed',
  metrics: [
    { key: 'failed', label: 'failed requests', better: 'lower', digits: 0 },
    { key: 'reloadMs', label: 'reload ms', better: 'lower', digits: 0 },
    { key: 'ok', label: '2xx during', better: 'higher', digits: 0 }
  ],
  describe: (ctx) => `${ctx.connections} keep-alive connections on GET /; SIGHUP to the primary; ` +
    `load kept ${tailMs(ctx) / 1000} s after the reload ends; request timeout ${ctx.faultTimeout} s ` +
    '(node-cluster: a hand-written rolling restart, fork then disconnect, see bench/fixtures/node-cluster.js)',
  applies: (spec) => spec.multiWorker ? null : 'a single process has no rolling reload',
  run: async (spec, ctx) => await withTarget(spec, ctx, {}, async (target) => {
    const { value, result } = await withLoad({ url: `${target.url}/`, connections: ctx.connections, timeout: ctx.faultTimeout }, async (load) => {
      await load.waitForResponses(flowing(ctx), 15_000)
      const from = target.proc.cursor()
      const sentAt = Date.now()
      process.kill(target.primaryPid, 'SIGHUP')
      const end = await target.proc.waitFor((l) => l.event === 'cluster:reload:done' || l.event === 'cluster:reload:failed',
        60_000, 'the end of the rolling reload', { from })
      await measureWindow(tailMs(ctx))
      return { reloadMs: timeOf(end) - sentAt, failedReload: end.event === 'cluster:reload:failed' }
    })
    const notes = value.failedReload ? ['the reload reported failure (cluster:reload:failed)'] : []
    if (result.failed > 0) notes.push(`round ${ctx.round + 1}: ${result.failed} failed (${describeErrors(result.errorCodes)})`)
    return { metrics: { failed: result.failed, reloadMs: value.reloadMs, ok: result.ok }, notes, detail: result }
  })
}

/** SIGKILL of one worker under load: failed requests and time until a replacement is ready. */
const sigkill = {
  name: 'sigkill',
  title: 'SIGKILL of a worker under load',
  primary: 'recoverMs',
  metrics: [
    { key: 'failed', label: 'failed requests', better: 'lower', digits: 0 },
    { key: 'forkedMs', label: 'replacement forked ms', better: 'lower', digits: 0 },
    { key: 'recoverMs', label: 'replacement ready ms', better: 'lower', digits: 0 }
  ],
  describe: (ctx) => `${ctx.connections} keep-alive connections on GET /; SIGKILL to one worker; replacement awaited ` +
    `${ctx.recoverWindow / 1000} s; load kept ${tailMs(ctx) / 1000} s after (single: the process itself)`,
  applies: () => null,
  run: async (spec, ctx) => await withTarget(spec, ctx, {}, async (target) => {
    target.disturbed = true
    const { value, result } = await withLoad({ url: `${target.url}/`, connections: ctx.connections, timeout: ctx.faultTimeout }, async (load) => {
      await load.waitForResponses(flowing(ctx), 15_000)
      const before = target.liveWorkerPids()
      const victim = before[0]
      const from = target.proc.cursor()
      const killedAt = Date.now()
      process.kill(victim, 'SIGKILL')
      const ready = await target.proc.waitForEvent('worker:ready', ctx.recoverWindow, (l) => !before.includes(l.pid), { orNull: true, from })
      const forked = target.proc.lines.slice(from).find((l) => l.event === 'worker:fork')
      await measureWindow(tailMs(ctx))
      return {
        forkedMs: ready === null || forked === undefined ? null : timeOf(forked) - killedAt,
        recoverMs: ready === null ? null : timeOf(ready) - killedAt
      }
    })
    const notes = value.recoverMs === null ? [`no replacement within ${ctx.recoverWindow / 1000} s`] : []
    return { metrics: { failed: result.failed, forkedMs: value.forkedMs, recoverMs: value.recoverMs }, notes, detail: result }
  })
}

/** A worker whose event loop blocks for good: time to detection (worker:stuck) and to a ready replacement. */
const stuck = {
  name: 'stuck',
  title: 'Stuck worker (event loop blocked forever)',
  primary: 'replacedMs',
  metrics: [
    { key: 'detectMs', label: 'detected ms', better: 'lower', digits: 0 },
    { key: 'forkedMs', label: 'replacement forked ms', better: 'lower', digits: 0 },
    { key: 'replacedMs', label: 'replacement ready ms', better: 'lower', digits: 0 },
    { key: 'failed', label: 'failed requests', better: 'lower', digits: 0 }
  ],
  describe: (ctx) => `GET /block on a fresh connection under ${ctx.connections} keep-alive connections; ` +
    `fastify-cluster ${ctx.clusterFlags.length === 0 ? 'defaults' : ctx.clusterFlags.join(' ')} (heartbeatTimeout ` +
    `${ctx.heartbeatTimeout} ms); times from the moment the worker blocked; window ${stuckWindow(ctx) / 1000} s`,
  applies: () => null,
  run: async (spec, ctx) => await withTarget(spec, ctx, {}, async (target) => {
    target.disturbed = true
    let blockRequest = null
    let blockedPid = null
    try {
      const { value, result } = await withLoad({ url: `${target.url}/`, connections: ctx.connections, timeout: ctx.faultTimeout }, async (load) => {
        await load.waitForResponses(flowing(ctx), 15_000)
        const before = target.liveWorkerPids()
        const from = target.proc.cursor()
        blockRequest = http.get({ host: '127.0.0.1', port: target.port, path: '/block', agent: false })
        blockRequest.on('error', () => {})
        const blocked = await target.proc.waitForEvent('fixture:block', 10_000, () => true, { from })
        blockedPid = blocked.pid
        const blockedAt = timeOf(blocked)
        const left = () => Math.max(0, blockedAt + stuckWindow(ctx) - Date.now())
        const detected = await target.proc.waitForEvent('worker:stuck', left(), (l) => l.pid === blocked.pid, { orNull: true, from })
        const ready = await target.proc.waitForEvent('worker:ready', left(), (l) => !before.includes(l.pid), { orNull: true, from })
        const forked = target.proc.lines.slice(from).find((l) => l.event === 'worker:fork')
        await measureWindow(tailMs(ctx))
        return {
          detectMs: detected === null ? null : timeOf(detected) - blockedAt,
          forkedMs: ready === null || forked === undefined ? null : timeOf(forked) - blockedAt,
          replacedMs: ready === null ? null : timeOf(ready) - blockedAt,
          heartbeatTimeout: detected?.heartbeatTimeout ?? null
        }
      })
      const notes = value.replacedMs === null ? [`not replaced within ${stuckWindow(ctx) / 1000} s`] : []
      if (value.heartbeatTimeout !== null && value.heartbeatTimeout !== ctx.heartbeatTimeout) {
        notes.push(`the primary reported heartbeatTimeout ${value.heartbeatTimeout} ms`)
      }
      return {
        metrics: { detectMs: value.detectMs, forkedMs: value.forkedMs, replacedMs: value.replacedMs, failed: result.failed },
        heartbeatTimeout: value.heartbeatTimeout ?? ctx.heartbeatTimeout,
        notes,
        detail: result
      }
    } finally {
      blockRequest?.destroy()
      // Remove the fault we made: a target that never replaced it would otherwise hold its stop to the deadline.
      if (blockedPid !== null && alive(blockedPid)) {
        try { process.kill(blockedPid, 'SIGKILL') } catch {}
      }
    }
  })
}

/** How long a stuck worker gets to be replaced before it counts as never: the goal (+1 s) and some room. */
function stuckWindow (ctx) {
  return ctx.heartbeatTimeout + ctx.stuckSlack
}

/** Load kept after a fault so that requests hung by it end as timeouts (counted) rather than cut off. */
function tailMs (ctx) {
  return ctx.faultTimeout * 1000 + 250
}

/** Time from spawn to every worker ready, for 1 worker and for N. */
const coldstart = {
  name: 'coldstart',
  title: 'Cold start (spawn to all workers ready)',
  primary: 'readyNMs',
  metrics: [
    { key: 'ready1Ms', label: '1 worker ms', better: 'lower', digits: 0 },
    { key: 'readyNMs', label: 'N workers ms', better: 'lower', digits: 0 },
    { key: 'scale', label: 'N / 1', better: 'lower', digits: 2 }
  ],
  describe: (ctx) => `spawn of the primary to cluster:ready, with 1 worker and with N = ${ctx.workers} ` +
    '(order alternates per round; file cache warm)',
  applies: () => null,
  run: async (spec, ctx) => {
    const counts = spec.multiWorker ? (ctx.round % 2 === 0 ? [1, ctx.workers] : [ctx.workers, 1]) : [1]
    const ms = {}
    for (const workers of counts) {
      await withTarget(spec, ctx, { workers, fresh: true }, async (target) => {
        ms[workers] = timeOf(target.readyLine) - target.proc.spawnedAt
      })
    }
    const metrics = { ready1Ms: ms[1] }
    if (spec.multiWorker) {
      metrics.readyNMs = ms[ctx.workers]
      metrics.scale = ms[ctx.workers] / ms[1]
    }
    return { metrics }
  }
}

/** The primary's own cost once ready, with no traffic. */
const idle = {
  name: 'idle',
  title: 'Primary process, idle',
  primary: 'cpuPct',
  metrics: [
    { key: 'cpuPct', label: 'CPU % of a core', better: 'lower', digits: 2 },
    { key: 'rssMB', label: 'RSS MB', better: 'lower', digits: 1 }
  ],
  describe: (ctx) => `${ctx.workers} workers, no traffic; /proc/<primary>/stat over ${ctx.idleSeconds} s from ${Math.min(1, ctx.idleSeconds)} s after ` +
    'ready, then VmRSS (single: the one process)',
  applies: () => null,
  run: async (spec, ctx) => await withTarget(spec, ctx, {}, async (target) => {
    // Let the start settle (first health samples, GC) before sampling.
    await measureWindow(Math.min(1000, ctx.idleSeconds * 1000))
    const before = cpuSeconds(target.measuredPid, { tid: target.measuredTid })
    const startedAt = Date.now()
    await measureWindow(ctx.idleSeconds * 1000)
    const cpuPct = cpuPercent(before, cpuSeconds(target.measuredPid, { tid: target.measuredTid }), Date.now() - startedAt)
    const rss = rssBytes(target.measuredPid)
    const notes = cpuPct === null ? ['/proc is not available: no CPU or RSS reading'] : []
    return { metrics: { cpuPct, rssMB: rss === null ? null : rss / MB }, notes }
  })
}

const SCENARIOS = [keepalive, close, cpu, idle, reload, sigkill, stuck, coldstart]

module.exports = { SCENARIOS }
