import type { ReloadResult, SlotReplacement } from '../shared/events.js'

/** What a reload needs from the pool. */
export interface ReloadTarget {
  readonly slotCount: number
  isRunning: () => boolean
  replaceSlot: (index: number) => Promise<SlotReplacement>
  pauseRecycles: (paused: boolean) => void
}

export interface ReloadObserver {
  start: (pass: { slots: number }) => void
  done: (result: ReloadResult) => void
}

/**
 * Rolling reload: replaces every slot's worker, up to `surge` slots at a time (a sliding window: the next slot
 * starts as soon as one finishes), each surge first (the new worker is ready before the old one drains), so
 * capacity never drops below the worker count. The first replacement that fails to become ready stops the pass
 * from starting more (those in progress finish); the remaining old workers keep serving. Requests made while a
 * pass runs are coalesced into one more pass after it, never run in parallel.
 */
export class RollingReload {
  readonly #target: ReloadTarget
  readonly #surge: number
  readonly #observer: ReloadObserver
  readonly #now: () => number
  #running: Promise<ReloadResult> | null = null
  #queued: Promise<ReloadResult> | null = null

  constructor (target: ReloadTarget, surge: number, observer: ReloadObserver, now: () => number = Date.now) {
    this.#target = target
    this.#surge = Math.max(1, surge)
    this.#observer = observer
    this.#now = now
  }

  get running (): boolean { return this.#running !== null }

  /** Starts a pass, or joins the one queued behind the running pass. */
  request (): Promise<ReloadResult> {
    if (this.#running === null) return this.#begin()
    this.#queued ??= this.#running.then(() => {
      this.#queued = null
      return this.#begin()
    })
    return this.#queued
  }

  #begin (): Promise<ReloadResult> {
    const pass = this.#pass().finally(() => { this.#running = null })
    this.#running = pass
    return pass
  }

  async #pass (): Promise<ReloadResult> {
    const started = this.#now()
    const result: ReloadResult = { replaced: [], failed: null, aborted: null, durationMs: 0 }
    this.#observer.start({ slots: this.#target.slotCount })
    this.#target.pauseRecycles(true)
    try {
      let next = 0
      const lane = async (): Promise<void> => {
        while (next < this.#target.slotCount && result.failed === null && result.aborted === null) {
          if (!this.#target.isRunning()) {
            result.aborted = 'shutdown'
            return
          }
          const outcome = await this.#target.replaceSlot(next++)
          if (outcome.ok) result.replaced.push(outcome)
          else {
            result.failed ??= outcome
            result.aborted ??= this.#target.isRunning() ? 'failure' : 'shutdown'
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(this.#surge, this.#target.slotCount) }, lane))
      result.replaced.sort((a, b) => a.slot - b.slot)
    } finally {
      this.#target.pauseRecycles(false)
    }
    result.durationMs = this.#now() - started
    this.#observer.done(result)
    return result
  }
}
