'use strict'
/*
 * Churn: `Connection: close` traffic (one TCP connection per request) while workers come and go, measured with
 * wrk. For each connection-distribution mode, in interleaved rounds:
 * - throughput: req/s and the busiest worker's share (of the workers' CPU time), no churn;
 * - reloads: 3 rolling reloads (SIGHUP) back to back under the load: failed requests (socket errors, non-2xx);
 * - kill: SIGKILL of one worker under the load: failed requests (only the killed worker's in-flight ones may fail).
 * node:cluster's docs pattern is the throughput baseline. Modes a Node cannot run are skipped with the reason.
 *
 *   node bench/churn.js [--rounds 3] [--duration 5] [--workers 2] [--connections 100] [--node PATH]
 *                       [--modes node-cluster,rr,none,reuseport,adopt] [--package DIR] [--skip-churn] [--keep-alive]
 * `--keep-alive` measures the throughput part over keep-alive connections instead (churn stays Connection: close).
 */
const { join } = require('node:path')
const { parseArgs } = require('node:util')
const { cpuSeconds } = require('./proc')
const { median } = require('./stats')
const { TARGETS, cliPath, nodeHasReusePort, nodeVersion, startTarget } = require('./targets')
const { WRK_MISSING, findWrk, runWrk, startWrk } = require('./wrk')

const spec = (name) => TARGETS.find((t) => t.name === name)
/** Connection-distribution modes: how the target is started. */
const MODES = {
  'node-cluster': { spec: spec('node-cluster'), flags: [], churn: false },
  rr: { spec: spec('fastify-cluster'), flags: ['--scheduling-policy', 'rr'], churn: true },
  none: { spec: spec('fastify-cluster'), flags: ['--scheduling-policy', 'none'], churn: true },
  reuseport: { spec: spec('fastify-cluster'), flags: ['--reuse-port'], churn: true, needsReusePort: true },
  // Design 3, a probe (bench/fixtures/adopt-handle.js): reusePort sockets held by the primary, adopted by successors.
  adopt: {
    spec: {
      name: 'adopt-handle-probe',
      multiWorker: true,
      supervised: false,
      command: ({ workers, port }) => ({
        args: [join(__dirname, 'fixtures', 'adopt-handle.js')],
        env: { BENCH_WORKERS: String(workers), BENCH_PORT: String(port), BENCH_HOST: '127.0.0.1' }
      })
    },
    flags: [],
    churn: true,
    needsReusePort: true
  }
}

/** The busiest worker's share of the CPU time `pids` used between two readings. */
function busiestShare (pids, before, after) {
  const used = pids.map((_, i) => after[i] - before[i])
  const total = used.reduce((s, x) => s + x, 0)
  return total > 0 ? Math.max(...used) / total : null
}

async function throughput (bin, target, o) {
  await runWrk(bin, { url: target.url, connections: o.connections, duration: 1, close: o.close })
  const pids = target.liveWorkerPids()
  const before = pids.map((pid) => cpuSeconds(pid))
  const r = await runWrk(bin, { url: target.url, connections: o.connections, duration: o.duration, close: o.close })
  return { rps: r.rps, p99Ms: r.p99Ms, failed: r.failed, busiest: busiestShare(pids, before, pids.map((pid) => cpuSeconds(pid))) }
}

/** Three reloads back to back under the load; failed requests over the whole window. */
async function reloads (bin, target, o) {
  const load = startWrk(bin, { url: target.url, connections: o.connections, close: true })
  const durations = []
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    for (let i = 0; i < o.reloads; i++) {
      const from = target.proc.cursor()
      process.kill(target.primaryPid, 'SIGHUP')
      const done = await target.proc.waitFor((l) => l.event === 'cluster:reload:done' || l.event === 'cluster:reload:failed', 180_000, 'reload end', { from })
      durations.push(done.durationMs)
    }
    // The last old workers have drained; keep the load on a little so late failures are counted.
    await new Promise((resolve) => setTimeout(resolve, 1000))
  } finally {
    load.stop()
  }
  const r = await load.done
  return { requests: r.requests, failed: r.failed, socketErrors: r.socketErrors, reloadMs: median(durations) }
}

/** SIGKILL of one worker under the load; failed requests until its replacement is ready (plus 1 s). */
async function kill (bin, target, o) {
  const load = startWrk(bin, { url: target.url, connections: o.connections, close: true })
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const from = target.proc.cursor()
    process.kill(target.liveWorkerPids()[0], 'SIGKILL')
    await target.proc.waitForEvent('worker:ready', 60_000, () => true, { from })
    await new Promise((resolve) => setTimeout(resolve, 1000))
  } finally {
    load.stop()
  }
  const r = await load.done
  return { requests: r.requests, failed: r.failed, socketErrors: r.socketErrors }
}

const range = (xs, d = 0) => xs.length === 0 ? '' : `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`

async function main () {
  const { values: a } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      workers: { type: 'string', default: '2' },
      connections: { type: 'string', default: '100' },
      reloads: { type: 'string', default: '3' },
      node: { type: 'string', default: process.execPath },
      modes: { type: 'string', default: 'node-cluster,rr,none,reuseport' },
      package: { type: 'string' },
      'skip-churn': { type: 'boolean', default: false },
      'keep-alive': { type: 'boolean', default: false }
    }
  })
  const bin = findWrk()
  if (bin === null) { console.log(WRK_MISSING); return }
  const o = { connections: Number(a.connections), duration: Number(a.duration), reloads: Number(a.reloads), close: !a['keep-alive'] }
  const version = nodeVersion(a.node)
  const modes = a.modes.split(',').filter((m) => {
    if (MODES[m]?.needsReusePort === true && !nodeHasReusePort(version)) {
      console.log(`${m}: skipped, reusePort in cluster workers needs Node >= 22.12 (this is ${version})`)
      return false
    }
    return MODES[m] !== undefined
  })
  const rows = Object.fromEntries(modes.map((m) => [m, { tp: [], reload: [], kill: [] }]))
  for (let round = 0; round < Number(a.rounds); round++) {
    const order = modes.map((_, i) => modes[(i + round) % modes.length])
    for (const m of order) {
      const mode = MODES[m]
      const start = async () => await startTarget(mode.spec, {
        node: a.node, workers: Number(a.workers), flags: mode.flags, cli: cliPath(a.package), timeout: 120_000
      })
      let target = await start()
      try {
        rows[m].tp.push(await throughput(bin, target, o))
        if (mode.churn && !a['skip-churn']) {
          rows[m].reload.push(await reloads(bin, target, o))
          await target.stop()
          target = await start()
          rows[m].kill.push(await kill(bin, target, o))
        }
      } finally {
        await target.stop()
      }
      process.stderr.write(`round ${round + 1} ${m}: ${JSON.stringify({ tp: rows[m].tp.at(-1), reload: rows[m].reload.at(-1), kill: rows[m].kill.at(-1) })}\n`)
    }
  }
  const base = rows[modes[0]].tp
  console.log(`\nNode ${version}, ${a.workers} workers, wrk -c${o.connections} ${o.close ? 'Connection: close' : 'keep-alive'} (reloads and kill: Connection: close), ${a.rounds} rounds (median (min–max))\n`)
  console.log(`| mode | req/s | ratio to ${modes[0]} | p99 ms | busiest worker's share | failed over ${o.reloads} reloads (of requests) | reload ms | failed on SIGKILL of a worker (of requests) |`)
  console.log('|---|---|---|---|---|---|---|---|')
  for (const m of modes) {
    const r = rows[m]
    const ratios = r.tp.map((x, i) => x.rps / base[i].rps)
    const failed = (xs) => xs.length === 0 ? '' : xs.map((x) => `${x.failed} (${x.requests})`).join(', ')
    console.log(`| ${m} | ${range(r.tp.map((x) => x.rps))} | ${range(ratios, 2)} | ${range(r.tp.map((x) => x.p99Ms), 1)} | ${range(r.tp.map((x) => x.busiest), 2)} | ${failed(r.reload)} | ${range(r.reload.map((x) => x.reloadMs))} | ${failed(r.kill)} |`)
  }
  console.log(`\n${JSON.stringify(rows)}`)
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
