import type { ReloadResult, SlotReplacement } from './events.js'

export type { ReloadResult }

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
 * Rolling reload: replaces every slot's worker, `concurrency` slots at a time, each surge first (the new worker
 * is ready before the old one drains), so capacity never drops below the worker count. The first replacement
 * that fails to become ready aborts the pass; the remaining old workers keep serving. Requests made while a pass
 * runs are coalesced into one more pass after it, never run in parallel.
 */
export class RollingReload {
  readonly #target: ReloadTarget
  readonly #concurrency: number
  readonly #observer: ReloadObserver
  readonly #now: () => number
  #running: Promise<ReloadResult> | null = null
  #queued: Promise<ReloadResult> | null = null

  constructor (target: ReloadTarget, concurrency: number, observer: ReloadObserver, now: () => number = Date.now) {
    this.#target = target
    this.#concurrency = concurrency
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
      for (let first = 0; first < this.#target.slotCount; first += this.#concurrency) {
        if (!this.#target.isRunning()) {
          result.aborted = 'shutdown'
          break
        }
        const batch = Array.from({ length: Math.min(this.#concurrency, this.#target.slotCount - first) }, (_, i) => first + i)
        const outcomes = await Promise.all(batch.map(async (slot) => await this.#target.replaceSlot(slot)))
        for (const outcome of outcomes) {
          if (outcome.ok) result.replaced.push(outcome)
          else result.failed ??= outcome
        }
        if (result.failed !== null) {
          result.aborted = this.#target.isRunning() ? 'failure' : 'shutdown'
          break
        }
      }
    } finally {
      this.#target.pauseRecycles(false)
    }
    result.durationMs = this.#now() - started
    this.#observer.done(result)
    return result
  }
}
