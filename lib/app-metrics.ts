/*
 * The app's own metrics, for the whole cluster: the primary asks every ready worker for its prom-client metrics
 * (as JSON) and waits at most `timeout`; a worker that has not answered by then (its loop is blocked, it is
 * dying) is reported missing and the scrape goes on without it. No prom-client here: aggregating and rendering
 * are lib/metrics.ts's, loaded only when something is rendered.
 */
import {
  MessageTypes, buildAppMetricsRequest, buildClusterMetrics, type MetricJSON, type MetricsWorkerMessage
} from './protocol.js'

/** A worker asked for its metrics. */
export interface MetricsTarget {
  id: number
  pid: number
  slot: number
}

/** Why a worker's metrics are not in a collection. */
export interface MissingWorker extends MetricsTarget {
  reason: string
}

/** One collection round: what the ready workers answered within the bound. */
export interface Collection {
  /** One list per worker that answered, in no particular order. */
  metrics: MetricJSON[][]
  missing: MissingWorker[]
  /** Workers asked. */
  asked: number
  durationMs: number
}

export interface CollectorDeps {
  /** The workers to ask: the ready ones. */
  targets: () => MetricsTarget[]
  /** Sends to a worker by id; a worker that is gone is skipped. */
  send: (id: number, message: object) => void
  timeout: number
  now?: () => number
}

interface Round {
  readonly id: number
  readonly startedAt: number
  readonly waiting: Map<number, MetricsTarget>
  readonly collection: Collection
  readonly finish: () => void
}

/** Answers to one worker that are still being prepared: a worker asking faster than that is not served more. */
const MAX_PENDING_ANSWERS = 8

/**
 * Asks the ready workers for their metrics. One round at a time: scrapes (and workers serving the aggregate on
 * the app port) arriving while a round runs share its result. Identity comes from the channel: an answer counts
 * only from a worker asked in the current round, once.
 */
export class AppMetricsCollector {
  readonly #deps: CollectorDeps
  readonly #now: () => number
  #seq = 0
  #round: Round | null = null
  #inflight: Promise<Collection> | null = null
  #timer: NodeJS.Timeout | null = null
  readonly #answering = new Map<number, number>()
  #closed = false

  constructor (deps: CollectorDeps) {
    this.#deps = deps
    this.#now = deps.now ?? Date.now
  }

  /** Collects from every ready worker, within the timeout; resolves with what arrived and who is missing. */
  async collect (): Promise<Collection> {
    if (this.#inflight !== null) return await this.#inflight
    let resolve!: (collection: Collection) => void
    const inflight = new Promise<Collection>((done) => { resolve = done })
    this.#inflight = inflight
    const targets = this.#closed ? [] : this.#deps.targets()
    this.#seq = (this.#seq + 1) % 2 ** 31
    const startedAt = this.#now()
    const round: Round = {
      id: this.#seq,
      startedAt,
      waiting: new Map(targets.map((t) => [t.id, t])),
      collection: { metrics: [], missing: [], asked: targets.length, durationMs: 0 },
      finish: () => {
        if (this.#round !== round) return
        this.#round = null
        this.#inflight = null
        if (this.#timer !== null) clearTimeout(this.#timer)
        this.#timer = null
        for (const t of round.waiting.values()) round.collection.missing.push({ ...t, reason: `no answer within ${this.#deps.timeout} ms` })
        round.waiting.clear()
        round.collection.durationMs = this.#now() - startedAt
        resolve(round.collection)
      }
    }
    this.#round = round
    if (targets.length === 0) {
      round.finish()
    } else {
      this.#timer = setTimeout(round.finish, this.#deps.timeout)
      this.#timer.unref()
      for (const t of targets) this.#deps.send(t.id, buildAppMetricsRequest(round.id))
    }
    return await inflight
  }

  /**
   * A metrics message from worker `workerId` (the supervisor's hook). A request for the aggregate is answered
   * through `render` (lib/metrics.ts), after the round it joins.
   */
  receive (workerId: number, message: MetricsWorkerMessage, render: (collection: Collection) => Promise<string>): void {
    if (message.type === MessageTypes.CLUSTER_METRICS_REQUEST) {
      this.#answer(workerId, message.id, render)
      return
    }
    const round = this.#round
    if (round === null || message.id !== round.id) return
    const target = round.waiting.get(workerId)
    if (target === undefined) return
    round.waiting.delete(workerId)
    if (message.metrics !== undefined) round.collection.metrics.push(message.metrics)
    else round.collection.missing.push({ ...target, reason: `the worker could not read its metrics: ${message.error ?? 'unknown error'}` })
    if (round.waiting.size === 0) round.finish()
  }

  #answer (workerId: number, requestId: number, render: (collection: Collection) => Promise<string>): void {
    const pending = this.#answering.get(workerId) ?? 0
    if (pending >= MAX_PENDING_ANSWERS) return
    this.#answering.set(workerId, pending + 1)
    this.collect().then(render).then(
      (body) => { this.#deps.send(workerId, buildClusterMetrics(requestId, body)) },
      (err: unknown) => { this.#deps.send(workerId, buildClusterMetrics(requestId, err instanceof Error ? err : new Error(String(err)))) }
    ).finally(() => {
      const left = (this.#answering.get(workerId) ?? 1) - 1
      if (left <= 0) this.#answering.delete(workerId)
      else this.#answering.set(workerId, left)
    })
  }

  /** Ends the current round now (whoever has not answered is missing); later collections ask no one. */
  close (): void {
    this.#closed = true
    this.#round?.finish()
  }
}
