'use strict'
/*
 * How the cost grows with the number of workers (N = 2, 8, 16, 32 by default), for fastify-cluster with default
 * options: cold start to `cluster:ready`; the primary's CPU and RSS idle and under keep-alive wrk load; worker
 * RSS against a plain Fastify worker (node:cluster's docs pattern serving the same app: the difference is what
 * fastify-cli's modules, under-pressure and our plugin cost); the rolling-reload duration with the default surge;
 * IPC messages into the primary per second, ours and node:cluster's (counted by a preload in the primary).
 * Throughput is bounded by the cores; the rest is not.
 *
 *   node bench/scaling.js [--sizes 2,8,16,32] [--settle 5] [--idle 10] [--load 5] [--node PATH] [--package DIR] [--flags "..."]
 *                         [--surges 1,4,8]   (also: the reload duration with each --reload-surge, on the largest size)
 */
const { join } = require('node:path')
const { parseArgs } = require('node:util')
const { cpuSeconds, rssBytes } = require('./proc')
const { median } = require('./stats')
const { TARGETS, cliPath, nodeVersion, startTarget } = require('./targets')
const { WRK_MISSING, findWrk, runWrk } = require('./wrk')

const MB = 1024 * 1024
const spec = (name) => TARGETS.find((t) => t.name === name)
const sleep = async (ms) => await new Promise((resolve) => setTimeout(resolve, ms))

/** CPU % of one core used by `pid` over `ms`. */
async function cpuOver (pid, ms, during = sleep(ms)) {
  const t0 = Date.now()
  const c0 = cpuSeconds(pid)
  await during
  return ((cpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000)) * 100
}

const COUNT_IPC = join(__dirname, 'fixtures', 'count-ipc.js')
/** fastify-cluster with the IPC counter preloaded into its primary. */
const counted = {
  ...spec('fastify-cluster'),
  command: (o) => {
    const c = spec('fastify-cluster').command(o)
    return { ...c, args: ['-r', COUNT_IPC, ...c.args] }
  }
}

/** Messages per second the primary received over `ms`, ours and node:cluster's, from the `bench:ipc` lines. */
async function ipcRate (target, ms) {
  const first = await target.proc.waitForEvent('bench:ipc', 5000, () => true, { from: target.proc.cursor() })
  await sleep(ms)
  const end = await target.proc.waitForEvent('bench:ipc', 5000, () => true, { from: target.proc.cursor() })
  const s = (end.time - first.time) / 1000
  return { messages: (end.messages - first.messages) / s, internal: (end.internal - first.internal) / s }
}

async function main () {
  const { values: a } = parseArgs({
    options: {
      sizes: { type: 'string', default: '2,8,16,32' },
      idle: { type: 'string', default: '10' },
      settle: { type: 'string', default: '5' },
      load: { type: 'string', default: '5' },
      node: { type: 'string', default: process.execPath },
      package: { type: 'string' },
      'no-reload': { type: 'boolean', default: false },
      // Booting 32 workers at once on 2 busy cores takes longer than the default startupTimeout (30 s).
      flags: { type: 'string', default: '--startup-timeout 300s' },
      surges: { type: 'string', default: '' }
    }
  })
  const bin = findWrk()
  if (bin === null) console.log(WRK_MISSING)
  const idleMs = Number(a.idle) * 1000
  const rows = []
  const flags = a.flags.split(' ').filter((f) => f !== '')
  for (const n of a.sizes.split(',').map(Number)) {
    const row = { n }
    // A plain Fastify worker: the same app in node:cluster's docs pattern (at most 8 of them: RSS does not depend on N).
    const plain = await startTarget(spec('node-cluster'), { node: a.node, workers: Math.min(n, 8), timeout: 300_000 })
    try {
      await sleep(1000)
      row.plainWorkerRssMb = median(plain.liveWorkerPids().map((p) => rssBytes(p) / MB))
    } finally {
      await plain.stop()
    }
    const spawned = Date.now()
    const target = await startTarget(counted, { node: a.node, workers: n, flags, cli: cliPath(a.package), timeout: 300_000 })
    try {
      row.coldStartMs = target.readyLine.time - target.proc.spawnedAt
      row.coldStartWallMs = Date.now() - spawned
      // Past the boot's tail (the last workers' first messages, the primary's own JIT and GC) before idle is read.
      await sleep(Number(a.settle) * 1000)
      const ipc = ipcRate(target, idleMs)
      row.idlePrimaryCpu = await cpuOver(target.primaryPid, idleMs)
      row.idleIpc = await ipc
      row.idlePrimaryRssMb = rssBytes(target.primaryPid) / MB
      row.workerRssMb = median(target.liveWorkerPids().map((p) => rssBytes(p) / MB))
      if (bin !== null) {
        await runWrk(bin, { url: target.url, connections: 100, duration: 1 })
        const load = runWrk(bin, { url: target.url, connections: 100, duration: Number(a.load) })
        const ipcLoaded = ipcRate(target, Number(a.load) * 1000 - 2500)
        row.loadPrimaryCpu = await cpuOver(target.primaryPid, Number(a.load) * 1000 - 500, sleep(Number(a.load) * 1000 - 500))
        row.loadPrimaryRssMb = rssBytes(target.primaryPid) / MB
        row.loadRps = (await load).rps
        row.loadIpc = await ipcLoaded
      }
      if (!a['no-reload']) {
        const from = target.proc.cursor()
        process.kill(target.primaryPid, 'SIGHUP')
        const done = await target.proc.waitFor((l) => l.event === 'cluster:reload:done' || l.event === 'cluster:reload:failed', 600_000, 'reload end', { from })
        row.reloadMs = done.durationMs
        row.reloadReplaced = done.replaced
        row.maxWorkers = 0
        let live = n
        for (const line of target.proc.lines.slice(from)) {
          if (line.event === 'worker:fork') row.maxWorkers = Math.max(row.maxWorkers, ++live)
          else if (line.event === 'worker:exit') live--
        }
      }
    } finally {
      await target.stop({ graceMs: 30_000 })
    }
    process.stderr.write(`${JSON.stringify(row)}\n`)
    rows.push(row)
  }
  const curve = []
  const largest = Math.max(...a.sizes.split(',').map(Number))
  for (const surge of a.surges.split(',').filter((x) => x !== '')) {
    const target = await startTarget(spec('fastify-cluster'), {
      node: a.node, workers: largest, flags: [...flags, '--reload-surge', surge], cli: cliPath(a.package), timeout: 300_000
    })
    try {
      const from = target.proc.cursor()
      process.kill(target.primaryPid, 'SIGHUP')
      const done = await target.proc.waitFor((l) => l.event === 'cluster:reload:done' || l.event === 'cluster:reload:failed', 900_000, 'reload end', { from })
      curve.push({ surge, reloadMs: done.durationMs, replaced: done.replaced })
    } finally {
      await target.stop({ graceMs: 30_000 })
    }
    process.stderr.write(`${JSON.stringify(curve.at(-1))}\n`)
  }
  const f = (x, d = 1) => x === null || x === undefined ? 'n/a' : x.toFixed(d)
  console.log(`\nNode ${nodeVersion(a.node)}, fastify-cluster default options (reload surge 25%)\n`)
  console.log('| workers | cold start to ready, ms | idle primary CPU % | idle primary RSS MB | IPC msgs/s into the primary, idle (ours + node:cluster internal) | primary CPU % under load | IPC msgs/s under load | primary RSS MB under load | worker RSS MB | plain Fastify worker RSS MB | reload ms (processes at most) |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.n} | ${r.coldStartMs} | ${f(r.idlePrimaryCpu, 2)} | ${f(r.idlePrimaryRssMb)} | ${f(r.idleIpc?.messages)} + ${f(r.idleIpc?.internal)} | ${f(r.loadPrimaryCpu)} | ${f(r.loadIpc?.messages)} + ${f(r.loadIpc?.internal)} | ${f(r.loadPrimaryRssMb)} | ${f(r.workerRssMb)} | ${f(r.plainWorkerRssMb)} | ${r.reloadMs ?? 'n/a'} (${r.maxWorkers ?? ''}) |`)
  }
  if (curve.length > 0) {
    console.log(`\nReload of ${largest} workers by --reload-surge (no load)\n`)
    console.log('| surge | reload ms | replaced |')
    console.log('|---|---|---|')
    for (const c of curve) console.log(`| ${c.surge} | ${c.reloadMs} | ${c.replaced} |`)
  }
  console.log(`\n${JSON.stringify({ rows, curve })}`)
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
