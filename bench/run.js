#!/usr/bin/env node
'use strict'
/*
 * `npm run bench`: every target, every scenario, in interleaved rounds; prints a Markdown report and writes
 * bench/results/latest.{json,md}. Needs the package built (npm run build). See bench/README.md.
 */
const { existsSync } = require('node:fs')
const os = require('node:os')
const { join, resolve } = require('node:path')
const { parseArgs } = require('node:util')
const { judge } = require('./goals')
const { findWrk } = require('./load')
const { alive } = require('./proc')
const { machineInfo, markdown, summarize, write } = require('./report')
const { SCENARIOS } = require('./scenarios')
const {
  BASELINE, ROOT, TARGETS, TargetPool, checkSupport, cliPath, nodeHasReusePort, nodeVersion, startTarget
} = require('./targets')

const HELP = `Usage: node bench/run.js [options]

  --smoke               1 short round with few connections (a check that the bench works, not numbers to quote)
  --rounds N            rounds; each runs every scenario on every target, in rotating order [3; smoke 1]
  --duration S          seconds of each measured load [5; smoke 0.5]
  --warmup S            seconds of load before each measured one, 0 for none [1; smoke 0]
  --connections C       concurrent connections [100; smoke 10]
  --workers N           workers per multi-process target [available cores: ${os.availableParallelism()}]
  --idle S              seconds the idle primary is sampled [5; smoke 0.5]
  --targets a,b         subset of: ${TARGETS.map((t) => t.name).join(', ')}
  --scenarios a,b       subset of: ${SCENARIOS.map((s) => s.name).join(', ')}
  --node PATH           Node binary every target runs on [the one running the bench]
  --package DIR         the fastify-cluster checkout whose dist/ is benched [this repository]
  --label TEXT          shown in the report's header (say which build a --package copy is)
  --out DIR             where latest.json and latest.md go [bench/results]
  --strict              exit 1 when a goal is missed (by default a miss is reported, not failed)
  -h, --help
`

function fail (message) {
  process.stderr.write(`bench: ${message}\n\n${HELP}`)
  process.exit(2)
}

function positive (name, text, { integer = false } = {}) {
  const n = Number(text)
  if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    fail(`--${name} must be a positive ${integer ? 'integer' : 'number'}, received "${text}"`)
  }
  return n
}

function subset (name, text, all) {
  if (text === undefined) return all.filter((x) => x.optIn !== true)
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const known = new Set(all.map((x) => x.name))
  const unknown = names.filter((n) => !known.has(n))
  if (unknown.length > 0 || names.length === 0) fail(`--${name}: unknown "${unknown.join(', ')}"; choose from ${[...known].join(', ')}`)
  return all.filter((x) => names.includes(x.name))
}

function parseOptions (argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        smoke: { type: 'boolean' },
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        workers: { type: 'string' },
        idle: { type: 'string' },
        targets: { type: 'string' },
        scenarios: { type: 'string' },
        node: { type: 'string' },
        package: { type: 'string' },
        label: { type: 'string' },
        out: { type: 'string' },
        strict: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (err) {
    fail(err.message)
  }
  if (parsed.help) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const smoke = parsed.smoke === true
  const opt = (name, full, short, integer) => parsed[name] === undefined ? (smoke ? short : full) : positive(name, parsed[name], { integer })
  const node = parsed.node === undefined ? process.execPath : resolve(parsed.node)
  if (!existsSync(node)) fail(`--node: ${node} does not exist`)
  const packageDir = resolve(parsed.package ?? ROOT)
  if (!existsSync(join(packageDir, 'package.json'))) fail(`--package: ${packageDir} has no package.json`)
  const warmup = parsed.warmup !== undefined && Number(parsed.warmup) === 0 ? 0 : opt('warmup', 1, 0, false)
  return {
    smoke,
    rounds: opt('rounds', 3, 1, true),
    duration: opt('duration', 5, 0.5, false),
    warmup,
    connections: opt('connections', 100, 10, true),
    workers: parsed.workers === undefined ? os.availableParallelism() : positive('workers', parsed.workers, { integer: true }),
    idleSeconds: opt('idle', 5, 0.5, false),
    targets: subset('targets', parsed.targets, smoke && parsed.targets === undefined ? TARGETS.filter((t) => t.smoke !== false) : TARGETS),
    scenarios: subset('scenarios', parsed.scenarios, SCENARIOS),
    node,
    packageDir,
    label: parsed.label ?? null,
    out: resolve(parsed.out ?? join(__dirname, 'results')),
    strict: parsed.strict === true
  }
}

/** fastify-cluster's default heartbeatTimeout, from the built package (what "default options" means). */
function defaultHeartbeatTimeout (packageDir) {
  // lib/shared/ since the source layout by process; lib/ in earlier builds.
  for (const dir of [['dist', 'lib', 'shared'], ['dist', 'lib']]) {
    try {
      return require(join(packageDir, ...dir, 'options.js')).DEFAULTS.heartbeatTimeout ?? 5000
    } catch {}
  }
  return 5000
}

/** The target order of a round: rotated by one each round, so no target always runs first (or last). */
function rotate (list, round) {
  const k = round % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

function progress (text) {
  process.stderr.write(`${text}\n`)
}

function brief (metrics) {
  return Object.entries(metrics)
    .map(([k, v]) => `${k} ${v === null ? 'never' : Number.isInteger(v) ? v : v.toFixed(2)}`)
    .join(', ')
}

/** One round: every scenario, every target in this round's order. Appends to `runs`. */
async function runRound (options, ctx, unsupported, runs) {
  const round = ctx.round
  for (const scenario of options.scenarios) {
    for (const [order, spec] of rotate(options.targets, round).entries()) {
      const base = { round, scenario: scenario.name, target: spec.name, order }
      const reason = unsupported.get(spec.name) ?? spec.unsupported?.[scenario.name] ?? scenario.applies(spec)
      if (reason !== null) {
        runs.push({ ...base, status: 'unsupported', reason })
        continue
      }
      const t0 = Date.now()
      try {
        const result = await scenario.run(spec, ctx)
        runs.push({ ...base, status: 'ok', ms: Date.now() - t0, ...result })
        progress(`[${round + 1}/${options.rounds}] ${scenario.name} ${spec.name}: ${brief(result.metrics)}`)
      } catch (err) {
        runs.push({ ...base, status: 'error', ms: Date.now() - t0, reason: err.message })
        progress(`[${round + 1}/${options.rounds}] ${scenario.name} ${spec.name}: ERROR ${err.message}`)
      }
    }
  }
}

async function main () {
  const options = parseOptions(process.argv.slice(2))
  const startedAt = Date.now()
  const version = nodeVersion(options.node)
  const processes = new Set()
  const track = (proc) => { processes.add(proc) }

  // Ctrl+C or a kill of the bench: take every process it started down with it.
  const onSignal = (signal) => {
    for (const proc of processes) for (const pid of proc.knownPids()) if (alive(pid)) try { process.kill(pid, 'SIGKILL') } catch {}
    process.stderr.write(`bench: ${signal}: stopped every process it started\n`)
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await bench(options, startedAt, version, track, processes)
  } finally {
    // A safety net: bench() stops everything itself and reports what it had to kill; this only acts if it threw.
    for (const proc of processes) for (const pid of proc.knownPids()) if (alive(pid)) try { process.kill(pid, 'SIGKILL') } catch {}
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function bench (options, startedAt, version, track, processes) {
  const machine = machineInfo({ node: options.node, nodeVersion: version, root: options.packageDir })
  // Smoke runs check that the bench works and stay short: no second load generator there.
  const wrk = options.smoke ? null : findWrk()
  const heartbeatTimeout = options.smoke ? 1000 : defaultHeartbeatTimeout(options.packageDir)
  const cli = cliPath(options.packageDir)
  const ctx = {
    node: options.node,
    cli,
    workers: options.workers,
    connections: options.connections,
    duration: options.duration,
    warmup: options.warmup,
    faultTimeout: options.smoke ? 1 : 2,
    idleSeconds: options.idleSeconds,
    heartbeatTimeout,
    clusterFlags: options.smoke ? ['--heartbeat-timeout', '1s', '--sample-interval', '250ms'] : [],
    pool: options.smoke ? new TargetPool((spec, o) => startTarget(spec, { node: options.node, cli, track, ...o })) : null,
    recoverWindow: options.smoke ? 3000 : 10_000,
    stuckSlack: options.smoke ? 1500 : 3000,
    rounds: options.rounds,
    smoke: options.smoke,
    round: 0,
    track,
    wrk
  }
  const notes = []
  if (options.smoke) notes.push('smoke run: wrk not used.')
  else if (wrk === null) notes.push('wrk is not on PATH: no second opinion on throughput (autocannon only); Debian/Ubuntu: apt-get install wrk.')
  else notes.push(`wrk (${wrk}) ran after autocannon in the throughput scenarios: column "wrk req/s".`)
  if (!nodeHasReusePort(version)) notes.push(`reusePort in cluster workers needs Node >= 22.12 or >= 23.1; targets ran on ${version}.`)
  notes.push(`The load generator (one autocannon thread) shares the ${machine.cores} cores with the target: ratios, not absolute numbers, carry over to other machines.`)

  progress(`bench: Node ${version} (${options.node}), ${options.rounds} round(s), ${options.duration} s loads, ` +
    `${options.connections} connections, ${options.workers} workers`)

  const unsupported = new Map()
  for (const spec of options.targets) {
    const reason = await checkSupport(spec, { node: options.node, workers: options.workers, version, cli, track })
    if (reason !== null) {
      unsupported.set(spec.name, reason)
      progress(`bench: ${spec.name} unsupported: ${reason}`)
    }
  }
  if (machine.tcpMigrateReq === 0 && options.targets.some((t) => t.name === 'fastify-cluster-reuseport' && !unsupported.has(t.name))) {
    notes.push('net.ipv4.tcp_migrate_req = 0: closing a reuse-port listener resets the connections still in its accept queue.')
  }

  const runs = []
  try {
    for (let round = 0; round < options.rounds; round++) {
      ctx.round = round
      await runRound(options, ctx, unsupported, runs)
    }
  } finally {
    await ctx.pool?.stopAll()
  }

  // Whatever a scenario left behind (it should be nothing) is named, then killed.
  const pids = [...new Set([...processes].flatMap((p) => p.knownPids()))]
  const leftoverPids = pids.filter(alive)
  for (const pid of leftoverPids) try { process.kill(pid, 'SIGKILL') } catch {}

  const targetNames = options.targets.map((t) => t.name)
  const summary = summarize(runs, options.scenarios, targetNames, BASELINE)
  const goals = judge(summary)
  const config = {
    smoke: options.smoke,
    rounds: options.rounds,
    duration: options.duration,
    warmup: options.warmup,
    connections: options.connections,
    workers: options.workers,
    idleSeconds: options.idleSeconds,
    faultTimeout: ctx.faultTimeout,
    heartbeatTimeout,
    clusterFlags: ctx.clusterFlags,
    sharedTargets: ctx.pool !== null,
    recoverWindow: ctx.recoverWindow,
    stuckSlack: ctx.stuckSlack,
    node: options.node,
    package: options.packageDir,
    label: options.label,
    targets: targetNames,
    scenarios: options.scenarios.map((s) => s.name)
  }
  const elapsedSeconds = Math.round((Date.now() - startedAt) / 1000)
  machine.loadAverageAtEnd = os.loadavg().map((n) => Math.round(n * 100) / 100)
  const targetInfo = Object.fromEntries(options.targets.map((t) => [t.name, {
    title: t.title, supported: !unsupported.has(t.name), reason: unsupported.get(t.name) ?? null
  }]))
  const md = markdown({
    machine, config, summary, goals, scenarios: options.scenarios, targets: targetNames, targetInfo, baseline: BASELINE, notes
  }) + `\nTook ${elapsedSeconds} s.\n`
  const doc = {
    schema: 1,
    machine,
    config,
    baseline: BASELINE,
    targets: targetInfo,
    goals,
    summary,
    runs,
    notes,
    pids,
    leftoverPids,
    elapsedSeconds
  }
  const files = write(options.out, doc, md)
  process.stdout.write(md)
  progress(`bench: wrote ${files.json} and ${files.md}`)

  const errors = runs.filter((r) => r.status === 'error').length
  const missed = goals.filter((g) => g.status === 'MISS')
  if (missed.length > 0) progress(`bench: ${missed.length} goal(s) missed: ${missed.map((g) => `${g.id} (${g.target})`).join(', ')}`)
  if (leftoverPids.length > 0) progress(`bench: processes left running (killed now): ${leftoverPids.join(', ')}`)
  if (errors > 0) progress(`bench: ${errors} run(s) failed`)
  return errors > 0 || leftoverPids.length > 0 || (options.strict && missed.length > 0) ? 1 : 0
}

main().then((code) => { process.exitCode = code }, (err) => {
  process.stderr.write(`bench: ${err.stack}\n`)
  process.exitCode = 1
})
