/*
 * The app's own metrics, for the whole cluster: the primary asks every ready worker for its prom-client metrics
 * (as JSON) and waits at most `timeout`; a worker that has not answered by then (its loop is blocked, it is
 * dying) is reported missing and the scrape goes on without it. No prom-client here: aggregating and rendering
 * are lib/primary/metrics.ts's, loaded only when something is rendered.
 */
import {
  MessageTypes, buildAppMetricsRequest, buildClusterMetrics, parseMetrics, type MetricJSON, type MetricsWorkerMessage
} from '../shared/protocol.js'

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
  /**
   * Counters and histograms carried so the cluster-wide sums never go down: those of missing workers as of their
   * last answer, and those of workers gone since (exited, replaced). A decrease would read as a counter reset to
   * Prometheus, and `rate()` would count the survivors' whole totals again.
   */
  carried: MetricJSON[][]
  missing: MissingWorker[]
  /** Workers asked. */
  asked: number
  durationMs: number
}

export interface CollectorDeps {
  /** The workers to ask: the ready ones. */
  targets: () => MetricsTarget[]
  /** Ids of every live worker, ready or not: a worker no longer among them has gone, and its counts are carried. */
  alive: () => Set<number>
  /** Sends to a worker by id; a worker that is gone is skipped. */
  send: (id: number, message: object) => void
  timeout: number
  now?: () => number
}

interface Round {
  readonly id: number
  readonly startedAt: number
  readonly waiting: Map<number, MetricsTarget>
  readonly answered: Set<number>
  readonly collection: Collection
  readonly finish: () => void
}

/** Answers to one worker that are still being prepared: a worker asking faster than that is not served more. */
const MAX_PENDING_ANSWERS = 8
/** Series the ledger carries for gone workers, at most (labels with unbounded values must not grow it forever). */
const MAX_CARRIED_SERIES = 100_000

function monotonic (m: MetricJSON): boolean {
  return (m.type === 'counter' || m.type === 'histogram') && m.aggregator === 'sum'
}

function seriesKey (m: MetricJSON, v: MetricJSON['values'][number]): string {
  const labels = Object.keys(v.labels).sort().map((k) => [k, v.labels[k]])
  return `${v.metricName ?? m.name}\u0000${JSON.stringify(labels)}`
}

/**
 * Keeps the cluster's counters monotonic across workers that stop answering or go away: each worker's counters
 * and histograms as of its last answer, and the sums of those of the workers that are gone. Pure: no timers.
 */
export class CounterLedger {
  readonly #lastSeen = new Map<number, MetricJSON[]>()
  readonly #gone = new Map<string, { metric: MetricJSON, values: Map<string, MetricJSON['values'][number]> }>()
  #series = 0

  /** A worker's answer: remember its monotonic metrics. */
  record (workerId: number, metrics: MetricJSON[]): void {
    this.#lastSeen.set(workerId, metrics.filter(monotonic))
  }

  /**
   * The last counts of the live workers that did not answer this time: missing ones, and draining ones that are
   * no longer asked but still count until they are gone.
   */
  silent (answered: Set<number>): MetricJSON[][] {
    return [...this.#lastSeen].filter(([id, metrics]) => !answered.has(id) && metrics.length > 0).map(([, metrics]) => metrics)
  }

  /** Folds the last counts of every remembered worker that is no longer alive into the carried sums. */
  retire (alive: Set<number>): void {
    for (const [id, metrics] of this.#lastSeen) {
      if (alive.has(id)) continue
      this.#lastSeen.delete(id)
      for (const m of metrics) {
        let entry = this.#gone.get(m.name)
        if (entry === undefined) {
          entry = { metric: { name: m.name, help: m.help, type: m.type, aggregator: 'sum', values: [] }, values: new Map() }
          this.#gone.set(m.name, entry)
        }
        // New code may have changed the type: the old counts no longer fit.
        if (entry.metric.type !== m.type) continue
        for (const v of m.values) {
          const key = seriesKey(m, v)
          const seen = entry.values.get(key)
          if (seen !== undefined) seen.value += v.value
          else if (this.#series < MAX_CARRIED_SERIES) {
            this.#series++
            entry.values.set(key, { ...v, labels: { ...v.labels } })
          }
        }
      }
    }
  }

  /** The carried sums of the workers that are gone, as one more worker's metrics. */
  gone (): MetricJSON[] {
    return [...this.#gone.values()].map(({ metric, values }) => ({ ...metric, values: [...values.values()] }))
  }
}

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
  readonly #ledger = new CounterLedger()
  /** The last rendered aggregate: every worker asking during one round gets the same text, rendered once. */
  #rendered: { collection: Collection, body: Promise<string> } | null = null
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
    this.#ledger.retire(this.#deps.alive())
    this.#seq = (this.#seq + 1) % 2 ** 31
    const startedAt = this.#now()
    const round: Round = {
      id: this.#seq,
      startedAt,
      waiting: new Map(targets.map((t) => [t.id, t])),
      answered: new Set(),
      collection: { metrics: [], carried: [], missing: [], asked: targets.length, durationMs: 0 },
      finish: () => {
        if (this.#round !== round) return
        this.#round = null
        this.#inflight = null
        if (this.#timer !== null) clearTimeout(this.#timer)
        this.#timer = null
        for (const t of round.waiting.values()) round.collection.missing.push({ ...t, reason: `no answer within ${this.#deps.timeout} ms` })
        round.waiting.clear()
        round.collection.carried.push(...this.#ledger.silent(round.answered))
        const gone = this.#ledger.gone()
        if (gone.length > 0) round.collection.carried.push(gone)
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
   * through `render` (lib/primary/metrics.ts), after the round it joins.
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
    const parsed = message.metrics === undefined ? null : parseMetrics(message.metrics)
    if (parsed?.ok === true) {
      round.collection.metrics.push(parsed.metrics)
      round.answered.add(workerId)
      this.#ledger.record(workerId, parsed.metrics)
    } else if (parsed !== null) {
      round.collection.missing.push({ ...target, reason: `its metrics are malformed: ${parsed.reason}` })
    } else {
      round.collection.missing.push({ ...target, reason: `the worker could not read its metrics: ${message.error ?? 'unknown error'}` })
    }
    if (round.waiting.size === 0) round.finish()
  }

  #answer (workerId: number, requestId: number, render: (collection: Collection) => Promise<string>): void {
    const pending = this.#answering.get(workerId) ?? 0
    if (pending >= MAX_PENDING_ANSWERS) return
    this.#answering.set(workerId, pending + 1)
    this.collect().then(async (collection) => {
      if (this.#rendered?.collection !== collection) this.#rendered = { collection, body: render(collection) }
      return await this.#rendered.body
    }).then(
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
