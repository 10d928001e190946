#!/usr/bin/env node
'use strict'
/*
 * `npm run bench`: every bench of this directory in one run, on the machine's Node and on Node 24 (installed into
 * the OS temp dir on first use), written to one dated report: bench/results/bench-<date>.md (and latest-all.md).
 * Each part is its own script, run as a child process one after the other (never two loads at once):
 *   1. run.js        every target and scenario (autocannon, wrk as a second opinion), machine Node
 *   2. run.js        keep-alive and Connection: close on Node 24 (reusePort needs >= 22.12; Watt >= 22.19)
 *      run.js        Watt's other scenarios against node:cluster on Node 24 (part watt24)
 *   3. per-request   wrk keep-alive, fastify-cluster against node:cluster and against node:cluster again (the
 *                    noise floor), on the machine's Node and on Node 24
 *   4. churn         Connection: close, 3 reloads and a SIGKILL under load, per distribution mode, Node 24
 *   5. scaling       N = 2, 8, 16, 32 workers, and the 32-worker reload by --reload-surge
 *
 *   node bench/all.js [--quick] [--parts run,run24,watt24,per-request,churn,scaling] [--out DIR]
 * --quick: 1 round and short loads everywhere (checks that the whole bench works; not numbers to quote).
 */
const { spawn } = require('node:child_process')
const { mkdirSync, writeFileSync } = require('node:fs')
const os = require('node:os')
const { join, resolve } = require('node:path')
const { parseArgs } = require('node:util')
const { ensureNode } = require('./node-versions')
const { machineInfo } = require('./report')
const { nodeVersion } = require('./targets')

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    parts: { type: 'string', default: 'run,run24,watt24,per-request,churn,scaling' },
    out: { type: 'string', default: join(__dirname, 'results') }
  }
})

const q = args.quick
/** @type {Record<string, (nodes: { main: string, n24: string | null }) => Array<{ title: string, argv: string[] } | { title: string, skipped: string }>>} */
const PARTS = {
  // The targets the issues compare; `single` and the plugin launcher stay in `node bench/run.js`.
  run: ({ main }) => [{
    title: `Every scenario (${nodeVersion(main)})`,
    argv: ['run.js', '--targets', 'node-cluster,fastify-cluster,fastify-cluster-sched-none,pm2', ...(q ? ['--rounds', '1', '--duration', '2'] : [])]
  }],
  run24: ({ n24 }) => n24 === null
    ? [{ title: 'Node 24 throughput', skipped: 'no Node 24' }]
    : [{
        title: `Keep-alive and Connection: close on ${nodeVersion(n24)} (reusePort)`,
        argv: ['run.js', '--node', n24, '--targets', 'node-cluster,fastify-cluster,fastify-cluster-reuseport,fastify-cluster-sched-none,pm2,watt',
          '--scenarios', 'keepalive,close', '--out', join(os.tmpdir(), 'fastify-cluster-bench-run24'), ...(q ? ['--rounds', '1', '--duration', '2'] : [])]
      }],
  // Watt needs Node >= 22.19: in part run (machine Node) it may be unsupported.
  watt24: ({ n24 }) => n24 === null
    ? [{ title: 'Watt on Node 24', skipped: 'no Node 24' }]
    : [{
        title: `Watt: idle, reload, stuck worker, cold start on ${nodeVersion(n24)}`,
        argv: ['run.js', '--node', n24, '--targets', 'node-cluster,watt', '--scenarios', 'idle,reload,stuck,coldstart',
          '--out', join(os.tmpdir(), 'fastify-cluster-bench-watt24'), ...(q ? ['--rounds', '1', '--duration', '2'] : [])]
      }],
  'per-request': ({ main, n24 }) => [main, n24].filter((n) => n !== null).map((node) => ({
    title: `Per-request cost, keep-alive, wrk (${nodeVersion(node)})`,
    argv: ['per-request.js', '--node', node, '--variants', 'node-cluster,node-cluster-again,fc', ...(q ? ['--rounds', '1', '--duration', '2'] : ['--rounds', '5'])]
  })),
  churn: ({ n24 }) => n24 === null
    ? [{ title: 'Churn', skipped: 'no Node 24' }]
    : [{ title: `Churn: Connection: close under reloads and a SIGKILL (${nodeVersion(n24)})`, argv: ['churn.js', '--node', n24, '--modes', 'node-cluster,rr,none,reuseport,adopt', ...(q ? ['--rounds', '1', '--duration', '2'] : [])] }],
  scaling: ({ main }) => [{
    title: `Scaling with the number of workers (${nodeVersion(main)})`,
    argv: ['scaling.js', '--node', main, ...(q ? ['--sizes', '2,4', '--surges', '1,2', '--settle', '1', '--idle', '1', '--load', '1'] : ['--surges', '1,4,8,16'])]
  }]
}

/** Runs one part; its stdout is the Markdown it contributes (stderr is progress, passed through). */
function runPart (argv) {
  return new Promise((resolvePart) => {
    const started = Date.now()
    const child = spawn(process.execPath, argv, { cwd: __dirname, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => { out += chunk; process.stdout.write(chunk) })
    child.on('close', (code) => { resolvePart({ out, code, seconds: Math.round((Date.now() - started) / 1000) }) })
  })
}

/** The JSON line a part prints for machines: not for the report. */
const withoutJson = (text) => text.split('\n').filter((line) => !/^(\{"|\[\{|\[\])/.test(line.trim())).join('\n').trim()

async function main () {
  const names = args.parts.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const unknown = names.filter((n) => !(n in PARTS))
  if (unknown.length > 0) { console.error(`--parts: unknown ${unknown.join(', ')}; choose from ${Object.keys(PARTS).join(', ')}`); process.exitCode = 2; return }
  const found = await ensureNode(24)
  const nodes = { main: process.execPath, n24: 'node' in found ? found.node : null }
  if (!('node' in found)) console.error(`bench: ${found.reason}; the Node 24 parts are skipped`)

  const machine = machineInfo({ node: process.execPath, nodeVersion: process.version, root: resolve(__dirname, '..') })
  const started = Date.now()
  const sections = []
  let failures = 0
  for (const name of names) {
    for (const part of PARTS[name](nodes)) {
      if ('skipped' in part) { sections.push(`## ${part.title}\n\nSkipped: ${part.skipped}.`); continue }
      console.error(`\nbench: ${part.title}: node ${part.argv.join(' ')}`)
      const loadBefore = os.loadavg()[0].toFixed(2)
      const r = await runPart(part.argv)
      if (r.code !== 0) failures++
      sections.push(`## ${part.title}\n\n\`node bench/${part.argv.join(' ')}\`: ${r.seconds} s, load average ${loadBefore} before, ` +
        `${os.loadavg()[0].toFixed(2)} after${r.code === 0 ? '' : `, **exit code ${r.code}**`}\n\n${withoutJson(r.out)}`)
    }
  }
  const header = [
    `# fastify-cluster bench, ${machine.date.slice(0, 10)}${q ? ' (--quick: not numbers to quote)' : ''}`,
    '',
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB, ${machine.os}; commit ${machine.commit}; ` +
      `fastify ${machine.fastify}, autocannon ${machine.autocannon}; net.ipv4.tcp_migrate_req=${machine.tcpMigrateReq ?? 'n/a'}; ` +
      `started ${machine.date}, ${Math.round((Date.now() - started) / 60000)} min in all; load average at start ${machine.loadAverageAtStart.join(' ')}.`,
    '',
    'The load generator shares the cores with the servers: throughput ratios measured side by side in the same run ' +
      'say more than absolute req/s. Which numbers are load-generator-bound is said in the part that measures them.'
  ].join('\n')
  const report = `${header}\n\n${sections.join('\n\n')}\n`
  mkdirSync(args.out, { recursive: true })
  const file = join(args.out, `bench-${machine.date.slice(0, 10)}${q ? '-quick' : ''}.md`)
  writeFileSync(file, report)
  writeFileSync(join(args.out, 'latest-all.md'), report)
  console.error(`\nbench: report written to ${file}`)
  if (failures > 0) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
