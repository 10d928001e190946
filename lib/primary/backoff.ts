/** Settings of the per-slot restart backoff. */
export interface BackoffSettings {
  /** Delay before the first restart of a slot, ms. */
  initial: number
  /** Cap, ms. */
  max: number
}

/**
 * Delay before restarting a slot after `attempt` consecutive unstable exits (0 for the first): exponential,
 * capped, with ±20% jitter so slots that crashed together do not restart in lockstep. `random` is injectable.
 */
export function restartDelay (attempt: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const base = Math.min(settings.max, settings.initial * 2 ** Math.min(attempt, 30))
  const jittered = base * (0.8 + 0.4 * random())
  return Math.round(Math.min(settings.max, jittered))
}
