/*
 * Crash-loop decisions, pure: which exits count as unstable, when to stop forking, which boot errors every
 * worker would repeat. The supervisor carries them out.
 */

/** Boot error codes that do not depend on the worker: retrying forks N identical failures, so the first is final. */
const FATAL_BOOT_CODES: ReadonlySet<string> = new Set([
  'EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'EPERM', 'FST_CLUSTER_APP_NOT_FOUND', 'FST_CLUSTER_APP_NOT_PLUGIN',
  'ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND', 'ERR_REQUIRE_ESM', 'ERR_UNKNOWN_FILE_EXTENSION'
])

/** True when a worker's boot error would repeat in every worker (config, not luck). */
export function isFatalBootError (code: string): boolean {
  return FATAL_BOOT_CODES.has(code)
}

/** True when an exit counts against the breaker: the worker never became ready, or was not up long enough. */
export function isUnstableExit (readyAt: number | null, exitAt: number, stableUptime: number): boolean {
  return readyAt === null || exitAt - readyAt < stableUptime
}

/** Counts unstable exits in a sliding window; trips at `limit`. Holds no timers: time comes with each call. */
export class CrashLoopBreaker {
  readonly #limit: number
  readonly #window: number
  #exits: number[] = []

  constructor (limit: number, window: number) {
    this.#limit = limit
    this.#window = window
  }

  /** Records an unstable exit at `now`; returns true when the breaker trips. */
  record (now: number): boolean {
    this.#exits = this.#exits.filter((t) => now - t < this.#window)
    this.#exits.push(now)
    return this.#exits.length >= this.#limit
  }

  /** Unstable exits currently inside the window. */
  count (now: number): number {
    return this.#exits.filter((t) => now - t < this.#window).length
  }
}
