import { Counter, Gauge, Registry } from 'prom-client'
import type { WorkerInfo, WorkerState } from './events.js'

/** What the metrics read at scrape time. */
export interface MetricsSource {
  workers: () => WorkerInfo[]
  /** A slot cannot boot a worker while others serve. */
  degraded?: () => boolean
}

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

  constructor (source: MetricsSource) {
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
}
