'use strict'
/*
 * Pure arithmetic over rounds: medians, ranges, ratios to the baseline. `null` is a value that never happened
 * (a worker never recovered): it is counted, never averaged.
 */

/** The median of finite numbers (mean of the two middle ones for an even count), or null for none. */
function median (values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** `a / b`, or null when either is missing or `b` is 0. */
function ratio (a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return a / b
}

/**
 * Summary of one metric over rounds.
 * @param {(number|null)[]} values  one per round (null: did not happen within the scenario's window)
 * @returns {{ n: number, missing: number, median: number|null, min: number|null, max: number|null, values: (number|null)[] }}
 */
function summarize (values) {
  const finite = values.filter(Number.isFinite)
  return {
    n: values.length,
    missing: values.length - finite.length,
    median: median(finite),
    min: finite.length === 0 ? null : Math.min(...finite),
    max: finite.length === 0 ? null : Math.max(...finite),
    values
  }
}

/**
 * A target's metric against the baseline's, over the same rounds.
 * @param {Map<number, number|null>} target  round -> value
 * @param {Map<number, number|null>} baseline  round -> value
 * @returns {{ ofMedians: number|null, medianOfRounds: number|null, perRound: (number|null)[] }}
 */
function compare (target, baseline) {
  const rounds = [...target.keys()].filter((r) => baseline.has(r)).sort((a, b) => a - b)
  const perRound = rounds.map((r) => ratio(target.get(r), baseline.get(r)))
  return {
    ofMedians: ratio(median(rounds.map((r) => target.get(r))), median(rounds.map((r) => baseline.get(r)))),
    medianOfRounds: median(perRound),
    perRound
  }
}

module.exports = { compare, median, ratio, summarize }
