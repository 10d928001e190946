import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import type { HealthSample } from '../lib/shared/protocol.js'
import { MAX_TIMER_MS } from '../lib/shared/units.js'

/** What the reporter reads each interval. */
export interface SampleSources {
  /** Mean event-loop delay over the interval, ms (under-pressure's histogram). */
  eventLoopDelay: () => number
  underPressure: () => boolean
  /** The user's current check, or `undefined` when there is none (one may be added after start). */
  healthCheck: () => (() => boolean | Promise<boolean>) | undefined
  onCheckError: (err: unknown) => void
}

/**
 * Takes a health sample every `interval` and hands it to `publish` (which sends it to the primary in a worker).
 * One `setTimeout` refreshed after each tick: ticks never pile up under load. The user's check runs in the
 * background, bounded by the interval, and the latest result goes in the next sample.
 */
export class HealthReporter {
  readonly #interval: number
  readonly #sources: SampleSources
  readonly #publish: (sample: HealthSample) => void
  #timer: NodeJS.Timeout | null = null
  #lastElu: EventLoopUtilization = performance.eventLoopUtilization()
  #checkHealthy: boolean | null = null
  #checkRunning = false

  constructor (interval: number, sources: SampleSources, publish: (sample: HealthSample) => void) {
    this.#interval = interval
    this.#sources = sources
    this.#publish = publish
  }

  start (): void {
    if (this.#timer !== null) return
    this.#timer = setTimeout(() => { this.#tick() }, this.#interval)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Takes a sample now (the ELU covers the time since the previous one). */
  sample (): HealthSample {
    const elu = performance.eventLoopUtilization()
    const utilization = performance.eventLoopUtilization(elu, this.#lastElu).utilization
    this.#lastElu = elu
    const delay = this.#sources.eventLoopDelay()
    const memory = process.memoryUsage()
    return {
      // under-pressure reports Infinity when the loop was blocked for the whole interval.
      eventLoopDelay: Number.isFinite(delay) ? Math.max(0, delay) : MAX_TIMER_MS,
      eventLoopUtilization: Number.isFinite(utilization) ? Math.min(1, Math.max(0, utilization)) : 0,
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      underPressure: this.#sources.underPressure(),
      checkHealthy: this.#checkHealthy
    }
  }

  #tick (): void {
    this.#runCheck()
    this.#publish(this.sample())
    this.#timer?.refresh()
  }

  #runCheck (): void {
    const check = this.#sources.healthCheck()
    if (check === undefined || this.#checkRunning) return
    this.#checkRunning = true
    let timeout: NodeJS.Timeout | undefined
    const expired = new Promise<boolean>((resolve) => {
      timeout = setTimeout(resolve, this.#interval, false)
      timeout.unref()
    })
    Promise.race([Promise.resolve().then(check), expired])
      .then((ok) => { this.#checkHealthy = ok === true }, (err: unknown) => {
        this.#checkHealthy = false
        this.#sources.onCheckError(err)
      })
      .finally(() => {
        clearTimeout(timeout)
        this.#checkRunning = false
      })
  }
}
