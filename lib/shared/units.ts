import { FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_OPTION_OUT_OF_RANGE } from './errors.js'
import { describeValue } from './messages.js'

/** Node timers overflow above this and fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A duration in milliseconds, or a string with a unit: `"500ms"`, `"10s"`, `"2m"`, `"1h"` (no unit: ms). */
export type Duration = number | string
/** A size in bytes, or a string with a unit: `"512MB"`, `"1GB"`, `"64KiB"` (KB = KiB = 1024 bytes). */
export type Size = number | string

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3
}
const QUANTITY = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/

interface Bounds { min: number, max: number }

function parseQuantity (name: string, value: unknown, units: Record<string, number>, bareUnit: string,
  allowed: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
    return value
  }
  if (typeof value !== 'string') throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  const match = QUANTITY.exec(value)
  const unit = match?.[2]?.toLowerCase() ?? ''
  const factor = units[unit === '' ? bareUnit : unit]
  if (match === null || factor === undefined) {
    throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  }
  return Number(match[1]) * factor
}

/**
 * Parses a duration into whole milliseconds within `bounds` (at most {@link MAX_TIMER_MS}).
 * `name` is how the user spelled the input (`drainDelay`, `--drain-delay`, `FASTIFY_DRAIN_DELAY`).
 */
export function parseDuration (name: string, value: unknown, bounds: Partial<Bounds> = {}): number {
  const min = bounds.min ?? 0
  const max = Math.min(bounds.max ?? MAX_TIMER_MS, MAX_TIMER_MS)
  const allowed = `a duration from ${min} to ${max} ms (a number of ms or a string like "500ms", "10s", "2m")`
  const ms = Math.round(parseQuantity(name, value, DURATION_UNITS, 'ms', allowed))
  if (ms < min || ms > max) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  return ms
}

/** Parses a size into whole bytes; `0` means "no limit" only where the caller allows `min: 0`. */
export function parseSize (name: string, value: unknown, bounds: Partial<Bounds> = {}): number {
  const min = bounds.min ?? 1
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER
  const allowed = `a size of at least ${min} bytes (a number of bytes or a string like "512MB", "1GB")`
  const bytes = Math.round(parseQuantity(name, value, SIZE_UNITS, 'b', allowed))
  if (bytes < min || bytes > max) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  return bytes
}

/** Parses an integer (a number, or a decimal string without blanks) within bounds. */
export function parseInteger (name: string, value: unknown, min: number, max: number): number {
  const allowed = `an integer from ${min} to ${max}`
  let n: number
  if (typeof value === 'number') n = value
  else if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) n = Number(value)
  else throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  }
  return n
}
