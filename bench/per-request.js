'use strict'
/*
 * Per-request cost, like with like: wrk (keep-alive) against node:cluster's docs pattern and fastify-cluster
 * variants, rounds interleaved (target order rotated per round). For each run: req/s, p99, and the CPU time the
 * primary and the workers spent per request (from /proc), which a busy machine disturbs less than req/s.
 *
 *   node bench/per-request.js [--rounds 5] [--duration 5] [--workers 2] [--connections 100] [--node PATH]
 *                             [--variants fc,fc-noready,...] [--close] [--pin]
 *
 * --pin puts every process of the target on CPU 0 and wrk on CPU 1 (taskset): the target's throughput is then
 * bounded by one core it does not share with the load generator, so the ratio measures CPU per request and the
 * scheduler's placement of wrk next to one worker stops being a source of round-to-round noise.
 */
const { execFile } = require('node:child_process')
const { availableParallelism } = require('node:os')
const { parseArgs } = require('node:util')
const { findWrk } = require('./load')
const { cpuSeconds } = require('./proc')
const { median } = require('./stats')
const { TARGETS, cliPath, startTarget } = require('./targets')

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    connections: { type: 'string', default: '100' },
    node: { type: 'string', default: process.execPath },
    variants: { type: 'string', default: 'node-cluster,fc' },
    close: { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    package: { type: 'string' },
    json: { type: 'boolean', default: false }
  }
})

const spec = (name) => TARGETS.find((t) => t.name === name)
/** fastify-cluster variants: what each turns off, to find where a cost comes from. */
const VARIANTS = {
  'node-cluster': { spec: spec('node-cluster'), flags: [] },
  // The same baseline again: the spread between the two is the noise floor of this run.
  'node-cluster-again': { spec: spec('node-cluster'), flags: [] },
  'node-cluster-none': { spec: spec('node-cluster'), flags: [], env: { NODE_CLUSTER_SCHED_POLICY: 'none' } },
  fc: { spec: spec('fastify-cluster'), flags: [] },
  'fc-noready': { spec: spec('fastify-cluster'), flags: ['--readiness-path', 'false'] },
  'fc-none': { spec: spec('fastify-cluster'), flags: ['--scheduling-policy', 'none'] },
  'fc-reuseport': { spec: spec('fastify-cluster'), flags: ['--reuse-port'] }
}

/** Pins every thread of `pid` to `cpu`; false where taskset is missing or the process is gone. */
function pin (pid, cpu) {
  return new Promise((resolve) => {
    execFile('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], (err) => { resolve(err === null) })
  })
}

function wrk (bin, url, { connections, duration, close, pinned }) {
  const a = ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', '--timeout', '10s']
  if (close) a.push('-H', 'Connection: close')
  a.push(url)
  return new Promise((resolve) => {
    const [file, argv] = pinned ? ['taskset', ['-c', '1', bin, ...a]] : [bin, a]
    execFile(file, argv, { timeout: (duration + 30) * 1000 }, (err, out) => {
      if (err) { resolve(null); return }
      const num = (re) => { const m = re.exec(out); return m === null ? null : Number(m[1]) }
      const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out)
      const scale = { us: 0.001, ms: 1, s: 1000 }
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      resolve({
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        requests: num(/(\d+) requests in/),
        p99Ms: p99 === null ? null : Number(p99[1]) * scale[p99[2]],
        errors: (socket === null ? 0 : socket.slice(1).reduce((s, n) => s + Number(n), 0)) + (num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0)
      })
    })
  })
}

async function main () {
  const bin = findWrk()
  if (bin === null) { console.error('wrk is not on PATH (apt-get install wrk): skipped'); return }
  const names = args.variants.split(',')
  if (args.pin && availableParallelism() < 2) { console.error('--pin needs 2 CPUs'); process.exitCode = 2; return }
  const opts = { connections: Number(args.connections), duration: Number(args.duration), close: args.close, pinned: args.pin }
  const runs = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < Number(args.rounds); round++) {
    const order = names.map((_, i) => names[(i + round) % names.length])
    for (const name of order) {
      const v = VARIANTS[name]
      const env = v.env ?? {}
      const saved = { ...process.env }
      Object.assign(process.env, env)
      const target = await startTarget(v.spec, { node: args.node, workers: Number(args.workers), flags: v.flags, cli: cliPath(args.package) })
      process.env = saved
      try {
        const pids = target.liveWorkerPids()
        if (args.pin) {
          const all = await Promise.all([target.primaryPid, ...pids].map((pid) => pin(pid, 0)))
          if (all.includes(false)) throw new Error('taskset could not pin the target (is util-linux installed?)')
        }
        await wrk(bin, target.url, { ...opts, duration: 1 }) // warm-up
        const cpu0 = [target.primaryPid, ...pids].map((pid) => cpuSeconds(pid))
        const r = await wrk(bin, target.url, opts)
        const cpu1 = [target.primaryPid, ...pids].map((pid) => cpuSeconds(pid))
        const us = (i) => ((cpu1[i] - cpu0[i]) * 1e6) / r.requests
        const workerUs = pids.reduce((s, _, i) => s + us(i + 1), 0)
        // The busiest worker's share of the workers' CPU time: how evenly connections were spread.
        const busiest = Math.max(...pids.map((_, i) => us(i + 1))) / workerUs
        runs[name].push({ ...r, primaryUs: us(0), workerUs, busiest })
      } finally {
        await target.stop()
      }
    }
    process.stderr.write(`round ${round + 1}: ${names.map((n) => `${n} ${Math.round(runs[n].at(-1).rps)}`).join(', ')}\n`)
  }
  const base = runs[names[0]]
  const rows = names.map((n) => {
    const r = runs[n]
    const ratios = r.map((x, i) => x.rps / base[i].rps)
    const f = (k, d = 0) => `${median(r.map((x) => x[k])).toFixed(d)} (${Math.min(...r.map((x) => x[k])).toFixed(d)}-${Math.max(...r.map((x) => x[k])).toFixed(d)})`
    return `| ${n} | ${f('rps')} | ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) | ${f('p99Ms', 2)} | ${f('workerUs', 1)} | ${f('primaryUs', 2)} | ${f('busiest', 2)} | ${r.reduce((s, x) => s + x.errors, 0)} |`
  })
  console.log(`| target | req/s | ratio to ${names[0]} | p99 ms | worker CPU µs/req | primary CPU µs/req | busiest worker's share | errors |`)
  console.log('|---|---|---|---|---|---|---|---|')
  console.log(rows.join('\n'))
  if (args.json) console.log(JSON.stringify(runs))
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
