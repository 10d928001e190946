'use strict'
/*
 * The numbers fastify-cluster holds itself to (the targets), checked against one run's summary.
 * Ratio goals are judged on the median of per-round ratios (each round's target against the baseline measured
 * in the same round); zero-failure and time-limit goals must hold in every round (judged on the worst round).
 */

const FASTIFY_CLUSTER = ['fastify-cluster', 'fastify-cluster-reuseport']

/**
 * @typedef {object} Goal
 * @property {string} id
 * @property {string} text        what is promised, for the report
 * @property {string} scenario
 * @property {string[]} targets
 * @property {string} metric
 * @property {number} digits     shown in the report
 * @property {'ratio'|'max'|'median'} on   which number of the summary is judged
 * @property {(value: number, cell: object) => { ok: boolean, limit: string }} check
 */

/** @type {Goal[]} */
const GOALS = [
  {
    id: 'keepalive-ratio',
    text: 'keep-alive throughput with health reporting on >= 0.98x node:cluster',
    scenario: 'keepalive',
    targets: ['fastify-cluster'],
    metric: 'rps',
    digits: 2,
    on: 'ratio',
    check: (v) => ({ ok: v >= 0.98, limit: '>= 0.98x' })
  },
  {
    id: 'close-reuseport-ratio',
    text: 'Connection-close throughput with reusePort (Node 24) >= 1.5x node:cluster',
    scenario: 'close',
    targets: ['fastify-cluster-reuseport'],
    metric: 'rps',
    digits: 2,
    on: 'ratio',
    check: (v) => ({ ok: v >= 1.5, limit: '>= 1.5x' })
  },
  {
    id: 'reload-zero-failed',
    text: 'rolling reload under keep-alive load: 0 failed requests',
    scenario: 'reload',
    targets: FASTIFY_CLUSTER,
    metric: 'failed',
    digits: 0,
    on: 'max',
    check: (v) => ({ ok: v === 0, limit: '0 in every round' })
  },
  {
    id: 'stuck-replaced',
    text: 'stuck worker replaced within heartbeatTimeout + 1 s',
    scenario: 'stuck',
    targets: FASTIFY_CLUSTER,
    metric: 'replacedMs',
    digits: 0,
    on: 'max',
    check: (v, cell) => {
      const limit = cell.heartbeatTimeout + 1000
      return { ok: v <= limit, limit: `<= ${limit} ms` }
    }
  },
  {
    id: 'coldstart-scale',
    text: 'cold start of N workers within 1.5x the time of one',
    scenario: 'coldstart',
    targets: FASTIFY_CLUSTER,
    metric: 'scale',
    digits: 2,
    on: 'median',
    check: (v) => ({ ok: v <= 1.5, limit: '<= 1.5x' })
  },
  {
    id: 'idle-cpu',
    text: 'primary idle: under 1% of a core',
    scenario: 'idle',
    targets: FASTIFY_CLUSTER,
    metric: 'cpuPct',
    digits: 2,
    on: 'max',
    check: (v) => ({ ok: v < 1, limit: '< 1 %' })
  },
  {
    id: 'idle-rss',
    text: 'primary RSS under 80 MB',
    scenario: 'idle',
    targets: FASTIFY_CLUSTER,
    metric: 'rssMB',
    digits: 1,
    on: 'max',
    check: (v) => ({ ok: v < 80, limit: '< 80 MB' })
  }
]

/**
 * Judges every goal whose scenario and target ran.
 * @param {object} summary  summary[scenario][target] from report.summarize()
 * @returns {Array<{ id: string, text: string, scenario: string, target: string, status: 'PASS'|'MISS'|'N/A',
 *   value: number|null, limit: string|null, note: string }>}
 */
function judge (summary) {
  const verdicts = []
  for (const goal of GOALS) {
    for (const target of goal.targets) {
      const cell = summary[goal.scenario]?.[target]
      if (cell === undefined) continue
      const base = { id: goal.id, text: goal.text, scenario: goal.scenario, target, metric: goal.metric, on: goal.on, digits: goal.digits }
      if (cell.status !== 'ok') {
        verdicts.push({ ...base, status: 'N/A', value: null, limit: null, note: `${cell.status}: ${cell.reason}` })
        continue
      }
      const m = cell.metrics[goal.metric]
      const value = goal.on === 'ratio' ? m?.ratio?.medianOfRounds : goal.on === 'max' ? m?.max : m?.median
      if (m !== undefined && m.missing > 0) {
        // A time that never came (no replacement within the window) misses any time limit.
        const limit = goal.check(Number.POSITIVE_INFINITY, cell).limit
        verdicts.push({ ...base, status: 'MISS', value: null, limit, note: `did not happen in ${m.missing} of ${m.n} rounds` })
        continue
      }
      if (value === null || value === undefined) {
        verdicts.push({ ...base, status: 'N/A', value: null, limit: null, note: goal.on === 'ratio' ? 'no baseline in the same rounds' : 'no value' })
        continue
      }
      const { ok, limit } = goal.check(value, cell)
      verdicts.push({ ...base, status: ok ? 'PASS' : 'MISS', value, limit, note: '' })
    }
  }
  return verdicts
}

module.exports = { GOALS, judge }
