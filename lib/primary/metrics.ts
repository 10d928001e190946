import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { Collection } from './app-metrics.js'
import type { WorkerInfo, WorkerState } from '../shared/events.js'
import type { MetricJSON } from '../shared/protocol.js'

/** What the metrics read at scrape time. */
export interface MetricsSource {
  workers: () => WorkerInfo[]
  /** Told once per metric name the app's aggregate had to leave out. */
  log?: Pick<Logger, 'warn'>
  /** A slot cannot boot a worker while others serve. */
  degraded?: () => boolean
}

/** The cluster's own metric names start with this; an app metric under it would clash and is left out. */
export const RESERVED_PREFIX = 'fastify_cluster_'

const STATES: readonly WorkerState[] = ['starting', 'ready', 'draining', 'stopping']

/**
 * Prometheus metrics of the cluster, in a registry of its own (never the process-wide default, so two clusters or
 * an app's own prom-client do not collide). Gauges are computed at scrape time from the supervisor's snapshot;
 * counters are incremented by the launcher as events happen.
 */
export class ClusterMetrics {
  readonly registry = new Registry()
  readonly exits: Counter<'reason'>
  readonly recycles: Counter<'reason'>
  readonly reloads: Counter<'outcome'>
  readonly #log: Pick<Logger, 'warn'> | undefined
  readonly #warned = new Set<string>()

  constructor (source: MetricsSource) {
    this.#log = source.log
    const registers = [this.registry]
    const perWorker = (name: string, help: string, read: (w: WorkerInfo) => number | undefined): void => {
      // eslint-disable-next-line no-new -- registering is the side effect we want
      new Gauge({
        name,
        help,
        labelNames: ['slot', 'pid'] as const,
        registers,
        collect () {
          this.reset()
          for (const w of source.workers()) {
            const value = read(w)
            if (value !== undefined) this.set({ slot: String(w.slot), pid: String(w.pid) }, value)
          }
        }
      })
    }
    // eslint-disable-next-line no-new -- registering is the side effect we want
    new Gauge({
      name: 'fastify_cluster_workers',
      help: 'Live workers by state',
      labelNames: ['state'] as const,
      registers,
      collect () {
        const workers = source.workers()
        for (const state of STATES) this.set({ state }, workers.filter((w) => w.state === state).length)
      }
    })
    // eslint-disable-next-line no-new -- registering is the side effect we want
    new Gauge({
      name: 'fastify_cluster_degraded',
      help: '1 while a slot cannot boot a worker and the others serve',
      registers,
      collect () { this.set(source.degraded?.() === true ? 1 : 0) }
    })
    perWorker('fastify_cluster_worker_event_loop_delay_milliseconds', 'Mean event-loop delay over the last sample interval',
      (w) => w.lastHealth?.eventLoopDelay)
    perWorker('fastify_cluster_worker_event_loop_utilization', 'Event-loop utilisation over the last sample interval (0..1)',
      (w) => w.lastHealth?.eventLoopUtilization)
    perWorker('fastify_cluster_worker_heap_used_bytes', 'V8 heap used', (w) => w.lastHealth?.heapUsed)
    perWorker('fastify_cluster_worker_rss_bytes', 'Resident set size', (w) => w.lastHealth?.rss)
    perWorker('fastify_cluster_worker_uptime_seconds', 'Seconds since the worker was forked', (w) => w.uptime / 1000)
    this.exits = new Counter({ name: 'fastify_cluster_worker_exits_total', help: 'Worker exits by reason', labelNames: ['reason'] as const, registers })
    this.recycles = new Counter({ name: 'fastify_cluster_recycles_total', help: 'Workers replaced for their health, by reason', labelNames: ['reason'] as const, registers })
    this.reloads = new Counter({ name: 'fastify_cluster_reloads_total', help: 'Rolling reload passes by outcome', labelNames: ['outcome'] as const, registers })
  }

  /**
   * The exposition for a scrape: the cluster's own metrics (`withCluster`; the health server, not the app port:
   * they name pids), how the collection went, and the app's metrics aggregated over the workers that answered
   * with prom-client's own rules (`AggregatorRegistry.aggregate`: by each metric's `aggregator`, `sum` unless the
   * app chose another). A missing worker is a gauge and a comment line, never an error.
   */
  async render (collection: Collection, withCluster: boolean): Promise<string> {
    const dropped = new Map<string, string>()
    const types = new Map<string, string>()
    for (const list of collection.metrics) {
      for (const m of list) {
        const seen = types.get(m.name)
        if (m.name.startsWith(RESERVED_PREFIX)) dropped.set(m.name, `the ${RESERVED_PREFIX} prefix is the cluster's own`)
        else if (seen === undefined) types.set(m.name, m.type)
        // During a reload old and new code may disagree; summing a gauge into a histogram means nothing.
        else if (seen !== m.type) dropped.set(m.name, `its type differs between workers (${seen}, ${m.type})`)
      }
    }
    const live: MetricJSON[][] = dropped.size === 0 ? collection.metrics : collection.metrics.map((list) => list.filter((m) => !dropped.has(m.name)))
    // Carried counts count where their type still is the live one (new code may have changed it).
    const carried = collection.carried.map((list) => list.filter((m) => {
      if (dropped.has(m.name) || m.name.startsWith(RESERVED_PREFIX)) return false
      const type = types.get(m.name)
      if (type === undefined) types.set(m.name, m.type)
      return type === undefined || type === m.type
    }))
    const lists = [...live, ...carried]
    const parts: string[] = []
    if (withCluster) parts.push(await this.registry.metrics())
    parts.push([
      '# HELP fastify_cluster_metrics_missing_workers Ready workers whose own metrics are missing from this scrape (no answer within metricsTimeout, or an error)',
      '# TYPE fastify_cluster_metrics_missing_workers gauge',
      `fastify_cluster_metrics_missing_workers ${collection.missing.length}`,
      '# HELP fastify_cluster_metrics_collect_seconds Time taken to collect the workers\' own metrics for this scrape',
      '# TYPE fastify_cluster_metrics_collect_seconds gauge',
      `fastify_cluster_metrics_collect_seconds ${collection.durationMs / 1000}`,
      ...collection.missing.map((w) => `# fastify-cluster: worker ${w.id} (pid ${w.pid}, slot ${w.slot}) is missing: ${oneLine(w.reason)}`),
      ...[...dropped].map(([name, why]) => `# fastify-cluster: left out the app's metric ${name}: ${why}`),
      ''
    ].join('\n'))
    for (const [name, why] of dropped) {
      if (this.#warned.has(name) || this.#warned.size >= 100) continue
      this.#warned.add(name)
      this.#log?.warn({ event: 'metrics:app-metric-dropped', name, why }, `the app's metric ${name} is left out of /metrics: ${why}`)
    }
    if (lists.some((list) => list.length > 0)) {
      try {
        parts.push(await AggregatorRegistry.aggregate(lists as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics())
      } catch (err) {
        parts.push(`# fastify-cluster: the app's metrics could not be aggregated: ${oneLine((err as Error).message)}\n`)
      }
    }
    return parts.join('')
  }
}

/** Text safe for one comment line. */
function oneLine (text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 500)
}
