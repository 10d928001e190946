/*
 * Crash-loop decisions, pure: which exits count as unstable, when to stop forking, which boot errors every
 * worker would repeat, how soon a slot is refilled. The supervisor carries them out.
 */
import { restartDelay, type BackoffSettings } from './backoff.js'
import type { BootStage } from '../shared/protocol.js'

/**
 * Fatal: at first start (no worker has ever been ready) the app file cannot load or the port cannot be bound, so
 * no worker can serve and retrying repeats the failure. Decided by where the boot failed, never by an error code
 * alone: app code throws EACCES, EADDRNOTAVAIL or MODULE_NOT_FOUND too.
 */
export function isFatalBootError (stage: BootStage, everReady: boolean): boolean {
  return !everReady && (stage === 'load' || stage === 'listen')
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

/** What the supervisor knows when a worker it did not ask to stop has exited. */
export interface UnrequestedExit {
  readyAt: number | null
  exitAt: number
  stableUptime: number
  /** Other workers are serving (ready) right now. */
  othersServing: boolean
  /** The slot's consecutive unstable exits so far. */
  attempt: number
}

export interface RestartDecision {
  /** Counts toward the breaker. */
  counts: boolean
  /** The slot's backoff starts over (the worker had been up for stableUptime). */
  resetBackoff: boolean
  /** A boot failure while others serve: the cluster serves with fewer workers and retries at the ceiling. */
  degraded: boolean
  /** Delay before the slot's next fork. */
  delay: number
}

/**
 * The breaker rule: every unrequested exit that is unstable counts (a crash, a signal from elsewhere, a worker
 * exiting on its own, whatever it said before), except a boot failure while other workers serve: that slot is
 * degraded and retried at the backoff ceiling until its cause clears, and the cluster keeps serving.
 */
export function decideRestart (exit: UnrequestedExit, backoff: BackoffSettings, random: () => number = Math.random): RestartDecision {
  const unstable = isUnstableExit(exit.readyAt, exit.exitAt, exit.stableUptime)
  const degraded = exit.readyAt === null && exit.othersServing
  const attempt = unstable ? exit.attempt : 0
  return {
    counts: unstable && !degraded,
    resetBackoff: !unstable,
    degraded,
    delay: degraded ? backoff.max : restartDelay(attempt, backoff, random)
  }
}
