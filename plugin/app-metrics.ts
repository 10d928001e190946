/*
 * The worker's side of the app's metrics: answers the primary's requests with the app's prom-client metrics as
 * JSON, and (plugin option `clusterMetrics`) serves the cluster-wide aggregate on the app port by asking the
 * primary for it. This module never loads prom-client: it reads the registries the app itself uses.
 */
import type { FastifyInstance } from 'fastify'
import { FST_CLUSTER_INVALID_OPTION } from '../lib/shared/errors.js'
import { describeValue } from '../lib/shared/messages.js'
import {
  MessageTypes, buildAppMetrics, buildClusterMetricsRequest, type ClusterMetricsMessage
} from '../lib/shared/protocol.js'
import type { PrimaryChannel } from './channel.js'

/**
 * What fastify-cluster needs of a prom-client `Registry`. Structural, so a registry from any copy or version of
 * prom-client (>= 11) fits: the metrics cross the IPC channel as plain JSON.
 */
export interface MetricsRegistry {
  getMetricsAsJSON: () => Promise<object[]> | object[]
  /** Used outside a cluster, where the `clusterMetrics` route serves this process's registry as it is. */
  metrics?: () => Promise<string> | string
}

/** Options of the worker plugin for the app's metrics. */
export interface AppMetricsOptions {
  /**
   * The registry (or registries) whose metrics the primary aggregates over the workers.
   * @default the global registry of every copy of prom-client the worker has loaded
   */
  metricsRegistry?: MetricsRegistry | MetricsRegistry[]
  /**
   * Also serve the cluster-wide aggregate of the app's metrics on the app port, at `path`: the worker asks the
   * primary, which collects from every ready worker within `metricsTimeout`. `true` means `{ path: '/metrics' }`.
   * Outside a cluster the route serves this process's own registry. @default false
   */
  clusterMetrics?: boolean | { path?: string }
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
const PROM_CLIENT_ENTRY = /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/
/** Slack on top of the primary's metricsTimeout for rendering and the two IPC hops. */
const ANSWER_SLACK_MS = 2000
/** When the launch contract carries no timeout (an older primary). */
const DEFAULT_METRICS_TIMEOUT_MS = 1000

function isRegistry (value: unknown): value is MetricsRegistry {
  return typeof value === 'object' && value !== null && typeof (value as MetricsRegistry).getMetricsAsJSON === 'function'
}

/**
 * The global registry of every copy of prom-client this process has loaded (the app's, fastify-metrics' own,
 * a nested older version), found in the module cache without loading anything. An app that imports prom-client
 * as an ES module lands there too (prom-client is CommonJS).
 */
export function loadedRegistries (): MetricsRegistry[] {
  const found = new Set<MetricsRegistry>()
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!PROM_CLIENT_ENTRY.test(file)) continue
    const register: unknown = (mod?.exports as { register?: unknown } | undefined)?.register
    if (isRegistry(register)) found.add(register)
  }
  return [...found]
}

/** Checks the plugin's metrics options; throws a coded error naming the option and the value. */
export function validateMetricsOptions (opts: AppMetricsOptions): void {
  const registry = opts.metricsRegistry
  if (registry !== undefined && !(isRegistry(registry) || (Array.isArray(registry) && registry.length > 0 && registry.every(isRegistry)))) {
    throw new FST_CLUSTER_INVALID_OPTION('metricsRegistry', 'a prom-client Registry (or an array of them)', describeValue(registry))
  }
  const route = opts.clusterMetrics
  if (route === undefined || typeof route === 'boolean') return
  const path = typeof route === 'object' && route !== null && !Array.isArray(route) ? route.path : undefined
  if (typeof route !== 'object' || route === null || Array.isArray(route) ||
    Object.keys(route).some((k) => k !== 'path') || (path !== undefined && (typeof path !== 'string' || !/^\/[\w\-./]*$/.test(path)))) {
    throw new FST_CLUSTER_INVALID_OPTION('clusterMetrics', 'a boolean or { path: "/metrics" } (a path starting with "/")', describeValue(route))
  }
}

/** This worker's app metrics: which registries, the answers to the primary, the asks for the aggregate. */
export class WorkerMetrics {
  readonly #channel: PrimaryChannel | null
  #registries: MetricsRegistry[] | null = null
  #seq = 0
  readonly #waiting = new Map<number, (message: ClusterMetricsMessage) => void>()
  #off: (() => void) | null = null

  constructor (channel: PrimaryChannel | null) {
    this.#channel = channel
  }

  /** Answers the primary from now on (in a worker); `stop()` removes the listener. */
  start (): void {
    if (this.#channel === null || this.#off !== null) return
    const channel = this.#channel
    this.#off = channel.onMessage((message) => {
      if (message.type === MessageTypes.APP_METRICS_REQUEST) {
        // Serializing can throw too (a BigInt, a cycle in a custom collector): every failure becomes an answer.
        this.gather().then((metrics) => buildAppMetrics(message.id, metrics))
          .catch((err: unknown) => buildAppMetrics(message.id, err instanceof Error ? err : new Error(String(err))))
          .then((answer) => { channel.send(answer) }, () => {})
      } else if (message.type === MessageTypes.CLUSTER_METRICS) {
        this.#waiting.get(message.id)?.(message)
      }
    })
  }

  stop (): void {
    this.#off?.()
    this.#off = null
  }

  use (registry: MetricsRegistry | MetricsRegistry[]): void {
    this.#registries = Array.isArray(registry) ? [...registry] : [registry]
  }

  registries (): MetricsRegistry[] {
    return this.#registries ?? loadedRegistries()
  }

  /** This worker's metrics, every registry's in one list. */
  async gather (): Promise<unknown[]> {
    const lists = await Promise.all(this.registries().map(async (r) => await r.getMetricsAsJSON()))
    return lists.flat()
  }

  /** Asks the primary for the cluster-wide aggregate; rejects if it has not answered within its bound and some. */
  async aggregate (): Promise<string> {
    const channel = this.#channel
    if (channel === null) throw new Error('not a fastify-cluster worker')
    const timeout = (channel.launch.metricsTimeout ?? DEFAULT_METRICS_TIMEOUT_MS) + ANSWER_SLACK_MS
    this.#seq = (this.#seq + 1) % 2 ** 31
    const id = this.#seq
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`the primary did not answer within ${timeout} ms`))
      }, timeout)
      timer.unref()
      this.#waiting.set(id, (message) => {
        clearTimeout(timer)
        this.#waiting.delete(id)
        if (message.body !== undefined) resolve(message.body)
        else reject(new Error(message.error ?? 'no aggregate'))
      })
      channel.send(buildClusterMetricsRequest(id))
    })
  }
}

/** The `clusterMetrics` route on the app port. */
export function addClusterMetricsRoute (fastify: FastifyInstance, option: AppMetricsOptions['clusterMetrics'], metrics: WorkerMetrics,
  inCluster: boolean): void {
  if (option === undefined || option === false) return
  const path = option === true ? '/metrics' : (option.path ?? '/metrics')
  fastify.get(path, { logLevel: 'warn' }, async (_request, reply) => {
    reply.header('cache-control', 'no-store').type(CONTENT_TYPE)
    if (!inCluster) {
      const texts = await Promise.all(metrics.registries().map(async (r) => await r.metrics?.() ?? ''))
      return await reply.send(texts.join(''))
    }
    try {
      return await reply.send(await metrics.aggregate())
    } catch (err) {
      return await reply.code(503).send(`# fastify-cluster: no aggregate: ${(err as Error).message}\n`)
    }
  })
}
