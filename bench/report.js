'use strict'
/*
 * Turns the rounds into a summary (per scenario and target: median, min-max, ratio to the baseline), and the
 * summary into JSON and a Markdown table. Knows nothing of processes.
 */
const { execFileSync } = require('node:child_process')
const { mkdirSync, readFileSync, writeFileSync } = require('node:fs')
const os = require('node:os')
const { join } = require('node:path')
const { compare, summarize: summarizeValues } = require('./stats')

/** The machine and software the numbers come from. */
function machineInfo ({ node, nodeVersion, root }) {
  const cpus = os.cpus()
  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return null
    }
  }
  const version = (name) => {
    try {
      return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
    } catch {
      return null
    }
  }
  let migrateReq = null
  try {
    migrateReq = Number(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim())
  } catch {}
  const commit = git(['rev-parse', '--short', 'HEAD'])
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGB: Math.round(os.totalmem() / 1024 ** 3 * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: nodeVersion,
    nodePath: node,
    benchNode: process.version,
    fastify: version('fastify'),
    autocannon: version('autocannon'),
    commit: commit === null ? null : `${commit}${git(['status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : ''}`,
    tcpMigrateReq: migrateReq,
    loadAverageAtStart: os.loadavg().map((n) => Math.round(n * 100) / 100),
    date: new Date().toISOString()
  }
}

/**
 * summary[scenario][target] = { status: 'ok'|'unsupported'|'error', reason, rounds, metrics: { key: stats & ratio }, notes }
 * @param {Array<object>} runs  one per (round, scenario, target)
 * @param {Array<object>} scenarios
 * @param {string[]} targets
 * @param {string} baseline
 */
function summarize (runs, scenarios, targets, baseline) {
  const summary = {}
  for (const scenario of scenarios) {
    summary[scenario.name] = {}
    const base = runs.filter((r) => r.scenario === scenario.name && r.target === baseline && r.status === 'ok')
    for (const target of targets) {
      const mine = runs.filter((r) => r.scenario === scenario.name && r.target === target)
      if (mine.length === 0) continue
      const ok = mine.filter((r) => r.status === 'ok')
      const notes = [...new Set(mine.flatMap((r) => r.notes ?? []))]
      if (ok.length === 0) {
        const status = mine.some((r) => r.status === 'error') ? 'error' : 'unsupported'
        summary[scenario.name][target] = { status, reason: mine.find((r) => r.status === status).reason, rounds: mine.length, notes }
        continue
      }
      const metrics = {}
      for (const { key } of scenario.metrics) {
        const withKey = ok.filter((r) => key in r.metrics)
        if (withKey.length === 0) continue
        const stats = summarizeValues(withKey.map((r) => r.metrics[key]))
        if (target !== baseline && base.length > 0) {
          stats.ratio = compare(
            new Map(withKey.map((r) => [r.round, r.metrics[key]])),
            new Map(base.filter((r) => key in r.metrics).map((r) => [r.round, r.metrics[key]]))
          )
        }
        metrics[key] = stats
      }
      const errors = mine.filter((r) => r.status === 'error')
      const cell = { status: 'ok', rounds: ok.length, metrics, notes }
      if (errors.length > 0) cell.errors = errors.map((r) => `round ${r.round}: ${r.reason}`)
      const heartbeat = ok.map((r) => r.heartbeatTimeout).find((v) => v !== undefined)
      if (heartbeat !== undefined) cell.heartbeatTimeout = heartbeat
      summary[scenario.name][target] = cell
    }
  }
  return summary
}

/** One line of a (possibly multi-line) failure for a table cell: the coded error if there is one. */
function shortReason (text) {
  const lines = String(text).split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const line = lines.find((l) => /FST_[A-Z_]+/.test(l)) ?? lines[0] ?? ''
  return line.length > 200 ? `${line.slice(0, 197)}...` : line
}

function fmt (value, digits) {
  if (value === null || value === undefined) return '–'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** "median (min–max)", "never", or "median (min–max), never in k/n". */
function cell (stats, digits) {
  if (stats === undefined) return '–'
  if (stats.median === null) return stats.missing > 0 ? 'never' : '–'
  const range = stats.n > 1 ? ` (${fmt(stats.min, digits)}–${fmt(stats.max, digits)})` : ''
  return `${fmt(stats.median, digits)}${range}${stats.missing > 0 ? `, never in ${stats.missing}/${stats.n}` : ''}`
}

function ratioText (ratio) {
  if (ratio === undefined || ratio.medianOfRounds === null) return '–'
  const same = ratio.ofMedians !== null && Math.abs(ratio.ofMedians - ratio.medianOfRounds) < 0.005
  return `${fmt(ratio.medianOfRounds, 2)}x${same || ratio.ofMedians === null ? '' : ` (${fmt(ratio.ofMedians, 2)}x)`}`
}

/** The Markdown report: machine, goals, then one table per scenario. */
function markdown ({ machine, config, summary, goals, scenarios, targets, targetInfo, baseline, notes }) {
  const skipped = (name) => targetInfo[name]?.supported === false
  const out = []
  out.push(`# fastify-cluster benchmark${config.smoke ? ' (smoke run: too short to quote)' : ''}`, '')
  out.push(`${machine.date} · ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB · ${machine.os} · ` +
    `Node ${machine.node} · fastify ${machine.fastify} · autocannon ${machine.autocannon}` +
    `${machine.commit !== null ? ` · commit ${machine.commit}` : ''}${config.label ? ` · ${config.label}` : ''}`, '')
  out.push(`${config.rounds} round(s), targets in rotating order; ${config.workers} workers; load generator on the same machine ` +
    `(load average ${machine.loadAverageAtStart.join(' ')} at start, ${machine.loadAverageAtEnd?.join(' ') ?? '?'} at end). Cells: median (min–max) over rounds. ` +
    `Ratio: median of per-round ratios to \`${baseline}\` measured in the same round (ratio of medians in brackets when different).`, '')
  out.push('## Targets', '', '| target | what runs | here |', '|---|---|---|')
  for (const name of targets) {
    const info = targetInfo[name]
    out.push(`| ${name} | ${info.title} | ${info.supported ? (name === baseline ? 'baseline of every ratio' : 'ran') : `unsupported: ${shortReason(info.reason)}`} |`)
  }
  out.push('')
  if (goals.length > 0) {
    out.push('## Goals', '', '| goal | target | measured | limit | result |', '|---|---|---|---|---|')
    for (const g of goals) {
      const measured = skipped(g.target) ? 'target unsupported here' : g.value === null ? (shortReason(g.note) || '–') : `${fmt(g.value, g.digits)}${g.on === 'ratio' ? 'x' : ''} (${g.on === 'ratio' ? 'median ratio' : g.on})`
      out.push(`| ${g.text} | ${g.target} | ${measured} | ${g.limit ?? '–'} | ${g.status === 'MISS' ? '**MISS**' : g.status} |`)
    }
    out.push('')
  }
  for (const scenario of scenarios) {
    const rows = summary[scenario.name]
    if (rows === undefined) continue
    out.push(`## ${scenario.title}`, '', scenario.describe(config), '')
    const shown = scenario.metrics.filter((m) => Object.values(rows).some((c) => c.metrics?.[m.key] !== undefined))
    out.push(`| target | ${shown.map((m) => m.label).join(' | ')} | ratio (${shown.find((m) => m.key === scenario.primary)?.label ?? scenario.primary}) | goal |`)
    out.push(`|---|${shown.map(() => '---:').join('|')}|---:|---|`)
    for (const target of targets) {
      const c = rows[target]
      if (c === undefined) continue
      const verdicts = goals.filter((g) => g.scenario === scenario.name && g.target === target && g.status !== 'N/A')
        .map((g) => `${g.status === 'MISS' ? '**MISS**' : 'PASS'} ${g.limit}`).join('; ')
      if (c.status !== 'ok') {
        const reason = skipped(target) ? 'unsupported (see Targets)' : `${c.status}: ${shortReason(c.reason)}`.replace(/\|/g, '\\|')
        out.push(`| ${[target, reason, ...shown.slice(1).map(() => ''), '–', verdicts].join(' | ')} |`)
        continue
      }
      const values = shown.map((m) => cell(c.metrics[m.key], m.digits))
      out.push(`| ${target} | ${values.join(' | ')} | ${target === baseline ? '1.00x' : ratioText(c.metrics[scenario.primary]?.ratio)} | ${verdicts} |`)
    }
    const cellNotes = targets.flatMap((t) => (rows[t]?.notes ?? []).map((n) => `${t}: ${n}`))
    const cellErrors = targets.flatMap((t) => (rows[t]?.errors ?? []).map((n) => `${t}: ${shortReason(n)}`))
    for (const n of [...cellNotes, ...cellErrors]) out.push(`- ${n}`)
    out.push('')
  }
  if (notes.length > 0) {
    out.push('## Notes', '', ...notes.map((n) => `- ${n}`), '')
  }
  return out.join('\n')
}

/** Writes latest.json and latest.md into `dir`; returns their paths. */
function write (dir, doc, md) {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'latest.json')
  const mdPath = join(dir, 'latest.md')
  writeFileSync(json, `${JSON.stringify(doc, null, 2)}\n`)
  writeFileSync(mdPath, md)
  return { json, md: mdPath }
}

module.exports = { machineInfo, markdown, summarize, write }
