'use strict'
/*
 * The cost of sticky sessions: fastify-cluster with node:cluster's round-robin (default) against `--sticky ip` and
 * `--sticky header:x-forwarded-for`, keep-alive and Connection: close, in interleaved rounds. Prints a Markdown
 * table (median req/s, min-max, median of per-round ratios to the default) and writes
 * bench/results/sticky-latest.json.
 *
 *   npm run build && node bench/sticky.js [--rounds 3] [--duration 5] [--connections 100] [--workers N]
 *
 * Besides req/s it reports CPU time per request (primary, and primary + workers), from /proc: on a busy machine
 * req/s swings with the neighbours' load, CPU per request much less.
 *
 * Clients must differ for sticky routing to spread them: every connection of the load comes from its own loopback
 * address (127.0.1.1 upwards; Linux routes the whole 127.0.0.0/8 to lo), and in header mode each request carries
 * its own X-Forwarded-For, so the first request of each connection decides its worker. The default target gets the
 * same clients, so the ratio measures the routing, not the spread.
 */
const net = require('node:net')
const { mkdirSync, writeFileSync } = require('node:fs')
const { availableParallelism } = require('node:os')
const { join } = require('node:path')
const { parseArgs } = require('node:util')
const autocannon = require('autocannon')
const { cpuSeconds } = require('./proc')
const { median, ratio, summarize } = require('./stats')
const { HOST, ROOT, cliPath, startTarget } = require('./targets')

const APP = join(__dirname, 'fixtures', 'app.js')

const { values: argv } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '100' },
    workers: { type: 'string', default: String(availableParallelism()) }
  }
})
const ROUNDS = Number(argv.rounds)
const DURATION = Number(argv.duration)
const WARMUP = Number(argv.warmup)
const CONNECTIONS = Number(argv.connections)
const WORKERS = Number(argv.workers)

const spec = (name, flags) => ({
  name,
  title: name,
  supervised: true,
  multiWorker: true,
  command: ({ workers, port, cli }) => ({ args: [cli, 'start', '--workers', String(workers), '-p', String(port), '-a', HOST, ...flags, APP] })
})
const TARGETS = [
  spec('round-robin', []),
  spec('sticky-ip', ['--sticky', 'ip']),
  spec('sticky-header', ['--sticky', 'header:x-forwarded-for'])
]
const BASELINE = 'round-robin'

// autocannon has no localAddress option: give each new connection of this process its own loopback source address.
const connect = net.connect
let nextAddress = 0
net.connect = function (...args) {
  if (typeof args[0] === 'number' && args[1] === HOST) {
    const i = nextAddress++ % 250
    return connect.call(net, { port: args[0], host: HOST, localAddress: `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` })
  }
  return connect.apply(net, args)
}

let nextClient = 0
async function load (url, close, duration) {
  return await new Promise((resolve, reject) => {
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      timeout: 10,
      headers: close ? { connection: 'close' } : {},
      // A different client behind the "proxy" on each request: each connection's first request decides its worker.
      requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-forwarded-for': `198.51.${(nextClient >> 8) & 255}.${nextClient++ & 255}` } }) }]
    }, (err, result) => {
      if (err) reject(err)
      else resolve({ rps: result['2xx'] / result.duration, failed: result.errors + result.non2xx })
    })
  })
}

async function main () {
  const results = {}
  for (const t of TARGETS) results[t.name] = { keepalive: [], close: [], keepaliveCpu: [], closeCpu: [], keepaliveAllCpu: [], closeAllCpu: [], failed: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    const order = TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length])
    for (const target of order) {
      const running = await startTarget(target, { node: process.execPath, workers: WORKERS, cli: cliPath(ROOT) })
      try {
        for (const [scenario, close] of [['keepalive', false], ['close', true]]) {
          if (WARMUP > 0) await load(`${running.url}/`, close, WARMUP)
          const pids = [running.primaryPid, ...running.liveWorkerPids()]
          const before = pids.map((pid) => cpuSeconds(pid))
          const r = await load(`${running.url}/`, close, DURATION)
          const used = pids.map((pid, i) => (cpuSeconds(pid) ?? NaN) - (before[i] ?? NaN))
          const requests = r.rps * DURATION
          results[target.name][scenario].push(r.rps)
          results[target.name][`${scenario}Cpu`].push(used[0] / requests * 1e6)
          results[target.name][`${scenario}AllCpu`].push(used.reduce((a, b) => a + b, 0) / requests * 1e6)
          results[target.name].failed += r.failed
          process.stderr.write(`round ${round + 1} ${target.name} ${scenario}: ${r.rps.toFixed(0)} req/s, ${r.failed} failed\n`)
        }
      } finally {
        await running.stop()
      }
    }
  }
  const rows = []
  for (const t of TARGETS) {
    for (const scenario of ['keepalive', 'close']) {
      const values = results[t.name][scenario]
      const s = summarize(values)
      const ratios = values.map((v, i) => ratio(v, results[BASELINE][scenario][i]))
      rows.push({
        target: t.name,
        scenario,
        median: s.median,
        min: s.min,
        max: s.max,
        ratio: median(ratios),
        primaryUs: median(results[t.name][`${scenario}Cpu`]),
        allUs: median(results[t.name][`${scenario}AllCpu`]),
        failed: results[t.name].failed
      })
    }
  }
  const table = [
    `Sticky sessions cost: ${WORKERS} workers, ${CONNECTIONS} connections, ${DURATION} s per load, ${ROUNDS} rounds, Node ${process.versions.node}`,
    '',
    '| target | scenario | req/s (median) | min-max | ratio to round-robin | primary CPU µs/req | all CPU µs/req | failed (all loads) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.target} | ${r.scenario} | ${r.median?.toFixed(0)} | ${r.min?.toFixed(0)}-${r.max?.toFixed(0)} | ${r.ratio?.toFixed(2)}x | ${r.primaryUs?.toFixed(0)} | ${r.allUs?.toFixed(0)} | ${r.failed} |`)
  ].join('\n')
  process.stdout.write(table + '\n')
  const dir = join(__dirname, 'results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'sticky-latest.json'), JSON.stringify({ rows, results, config: { ROUNDS, DURATION, CONNECTIONS, WORKERS } }, null, 2))
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`)
  process.exitCode = 1
})
