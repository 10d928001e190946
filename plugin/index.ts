import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import inspector from 'node:inspector'
import fp from 'fastify-plugin'
import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import { buildHealth, buildReady, type HealthSample } from '../lib/protocol.js'
import { parseDuration, type Duration } from '../lib/units.js'
import { FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_UNKNOWN_OPTION } from '../lib/errors.js'
import { describeValue, didYouMean } from '../lib/messages.js'
import { connectToPrimary } from './channel.js'
import { HealthReporter } from './reporter.js'
import { ClusterState, type ClusterDecorator } from './state.js'
import { WorkerMetrics, addClusterMetricsRoute, validateMetricsOptions, type AppMetricsOptions } from './app-metrics.js'

export type { ClusterDecorator } from './state.js'
export type { AppMetricsOptions, MetricsRegistry } from './app-metrics.js'

/** Options of the worker-side plugin (`metricsRegistry` and `clusterMetrics`: see AppMetricsOptions). */
export interface ClusterPluginOptions extends AppMetricsOptions {
  /**
   * How often a health sample is taken and, in a worker, sent to the primary. In a worker forked by
   * fastify-cluster the primary's `sampleInterval` wins so both sides agree.
   * @default "1s"
   */
  sampleInterval?: Duration
  /**
   * Options for `@fastify/under-pressure` when this plugin registers it (load shedding: 503 past these
   * thresholds). Ignored when the app registered under-pressure itself first.
   * @default { eventLoopUtilizationMode: "interval" }
   */
  underPressure?: FastifyUnderPressureOptions
  /**
   * Your own health check (database reachable, ...): resolve `true` when healthy. Run every sample, bounded by
   * the interval; its latest result is reported to the primary. It feeds readiness, not recycling.
   */
  healthCheck?: (fastify: FastifyInstance) => boolean | Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-cluster's view of this process: worker identity, draining, last health sample. */
    cluster: ClusterDecorator
  }
}

const KNOWN_KEYS = new Set(['sampleInterval', 'underPressure', 'healthCheck', 'metricsRegistry', 'clusterMetrics'])
/** Per instance, not per module: the state of a registration lives with the Fastify instance it decorates. */
const STATE = Symbol.for('fastify-cluster.state')
/**
 * Internal registration option of the worker runtime: decorate now, register under-pressure later, so the app's
 * own `register(clusterPlugin, { underPressure })` decides its thresholds (see `finishClusterSetup`).
 */
export const DEFER_UNDER_PRESSURE = Symbol.for('fastify-cluster.defer-under-pressure')

/** The instance where under-pressure is registered: its verdicts feed the samples and the readiness route. */
interface Pressure {
  eventLoopDelay: () => number
  isUnderPressure: () => boolean
}

interface Registration {
  state: ClusterState
  setHealthCheck: (fn: NonNullable<ClusterPluginOptions['healthCheck']>) => void
  pressure: Pressure | null
  interval: number
  metrics: WorkerMetrics
}
interface Internal { [STATE]?: Registration }

function validate (opts: ClusterPluginOptions): void {
  for (const key of Object.keys(opts)) {
    // Fastify adds its own registration options (prefix, logLevel, ...) to what a plugin receives.
    if (!KNOWN_KEYS.has(key) && !['prefix', 'logLevel', 'logSerializers'].includes(key)) {
      throw new FST_CLUSTER_UNKNOWN_OPTION(key, didYouMean(key, KNOWN_KEYS))
    }
  }
  if (opts.healthCheck !== undefined && typeof opts.healthCheck !== 'function') {
    throw new FST_CLUSTER_INVALID_OPTION('healthCheck', 'a function', describeValue(opts.healthCheck))
  }
  if (opts.underPressure !== undefined && (typeof opts.underPressure !== 'object' || opts.underPressure === null)) {
    throw new FST_CLUSTER_INVALID_OPTION('underPressure', 'an object', describeValue(opts.underPressure))
  }
  validateMetricsOptions(opts)
}

/** Registers under-pressure in this context (unless it is there already) and returns its accessors. */
async function registerPressure (fastify: FastifyInstance, interval: number, options: FastifyUnderPressureOptions | undefined): Promise<Pressure> {
  if (!fastify.hasDecorator('memoryUsage')) {
    await fastify.register(underPressure, { sampleInterval: interval, eventLoopUtilizationMode: 'interval', ...options })
  }
  return {
    eventLoopDelay: () => fastify.memoryUsage().eventLoopDelay,
    isUnderPressure: () => fastify.isUnderPressure()
  }
}

const clusterPlugin: FastifyPluginAsync<ClusterPluginOptions> = async function fastifyCluster (fastify, opts) {
  validate(opts)
  const root = fastify as FastifyInstance & Internal
  const existing = root[STATE]
  if (fastify.hasDecorator('cluster') && existing !== undefined) {
    // Registered twice (the launcher does it, and so does the app): the app's health check and, while the
    // launcher has deferred it, the app's under-pressure thresholds apply; anything else was decided already.
    if (opts.healthCheck !== undefined) existing.setHealthCheck(opts.healthCheck)
    if (opts.metricsRegistry !== undefined) existing.metrics.use(opts.metricsRegistry)
    addClusterMetricsRoute(fastify, opts.clusterMetrics, existing.metrics, existing.state.isWorker)
    if (existing.pressure === null) {
      existing.pressure = await registerPressure(fastify, existing.interval, opts.underPressure)
    } else if (opts.underPressure !== undefined) {
      fastify.log.warn('fastify-cluster: registered a second time after under-pressure was set up; its underPressure options are ignored')
    }
    return
  }

  const channel = connectToPrimary()
  const interval = channel?.launch.sampleInterval ?? parseDuration('sampleInterval', opts.sampleInterval ?? 1000, { min: 10 })
  const state = new ClusterState(channel !== null, channel?.workerId ?? null, channel?.launch.slot ?? null)
  let healthCheck = opts.healthCheck
  const deferred = (opts as Record<symbol, unknown>)[DEFER_UNDER_PRESSURE] === true
  const registration: Registration = {
    state,
    setHealthCheck: (fn) => { healthCheck = healthCheck ?? fn },
    pressure: deferred ? null : await registerPressure(fastify, interval, opts.underPressure),
    interval,
    metrics: new WorkerMetrics(channel)
  }
  if (opts.metricsRegistry !== undefined) registration.metrics.use(opts.metricsRegistry)
  registration.metrics.start()
  addClusterMetricsRoute(fastify, opts.clusterMetrics, registration.metrics, channel !== null)
  fastify.decorate('cluster', { getter: () => state })
  Object.defineProperty(root, STATE, { value: registration })

  let checkErrorLogged = false
  const reporter = new HealthReporter(interval, {
    eventLoopDelay: () => registration.pressure?.eventLoopDelay() ?? 0,
    underPressure: () => registration.pressure?.isUnderPressure() ?? false,
    healthCheck: () => {
      const check = healthCheck
      return check === undefined ? undefined : () => check(fastify)
    },
    onCheckError: (err) => {
      if (!checkErrorLogged) fastify.log.error({ err }, 'fastify-cluster: the health check threw; reporting unhealthy')
      checkErrorLogged = true
    }
  }, (sample: HealthSample) => {
    state.recordSample(sample)
    channel?.send(buildHealth(sample))
  })

  fastify.addHook('onReady', async () => { reporter.start() })
  fastify.addHook('onListen', async () => {
    if (channel === null) return
    const raw = fastify.server.address()
    const address = typeof raw === 'string' || raw === null
      ? { address: String(raw), port: 0, family: 'unix' }
      : { address: raw.address, port: raw.port, family: raw.family }
    const sample = reporter.sample()
    state.recordSample(sample)
    channel.send(buildReady(address, sample, channel.launch.inspect === true ? inspector.url() : undefined))
  })
  fastify.addHook('onClose', async () => {
    reporter.stop()
    registration.metrics.stop()
  })
}

/**
 * Internal, for the worker runtime, after the app is registered: if the app did not register the plugin with
 * its own under-pressure options, register under-pressure with the defaults now.
 */
export const finishClusterSetup = fp(async function finishClusterSetup (fastify: FastifyInstance) {
  const registration = (fastify as FastifyInstance & Internal)[STATE]
  if (registration !== undefined && registration.pressure === null) {
    registration.pressure = await registerPressure(fastify, registration.interval, undefined)
  }
}, { fastify: '5.x', name: 'fastify-cluster-finish', dependencies: ['fastify-cluster'] })

/** Internal: this process's under-pressure verdict, wherever under-pressure was registered. */
export function isUnderPressure (fastify: FastifyInstance): boolean {
  return (fastify as FastifyInstance & Internal)[STATE]?.pressure?.isUnderPressure() ?? false
}

/** Internal: the state object behind `fastify.cluster`, for the worker runtime to mark draining. */
export function clusterStateOf (fastify: FastifyInstance): ClusterState | undefined {
  return (fastify as FastifyInstance & Internal)[STATE]?.state
}

/**
 * The fastify-cluster worker plugin: registers `@fastify/under-pressure` (unless already there), decorates
 * `fastify.cluster`, and in a fastify-cluster worker reports readiness and health to the primary. In a plain
 * process it runs degraded: under-pressure and the decorator, no IPC.
 */
export const fastifyCluster = fp(clusterPlugin, { fastify: '5.x', name: 'fastify-cluster' })
export default fastifyCluster
