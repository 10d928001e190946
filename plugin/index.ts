import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import cluster from 'node:cluster'
import inspector from 'node:inspector'
import fp from 'fastify-plugin'
import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import { buildHealth, buildReady, type HealthSample } from '../lib/shared/protocol.js'
import { parseDuration, type Duration } from '../lib/shared/units.js'
import { FST_CLUSTER_CONFLICTING_OPTIONS, FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_UNKNOWN_OPTION } from '../lib/shared/errors.js'
import { describeValue, didYouMean } from '../lib/shared/messages.js'
import type { ClusterOptions } from '../lib/shared/options.js'
import { connectToPrimary } from './channel.js'
import { addReadinessRoute } from './readiness-route.js'
import { HealthReporter } from './reporter.js'
import { ClusterState, type ClusterDecorator } from './state.js'
import { STATE, isUnderPressure, type Internal, type Pressure, type Registration } from './registration.js'
import { WorkerMetrics, addClusterMetricsRoute, validateMetricsOptions, type AppMetricsOptions } from './app-metrics.js'

export type { ClusterDecorator, PrimaryClusterView, WorkerClusterView } from './state.js'
export type { AppMetricsOptions, MetricsRegistry } from './app-metrics.js'

/** `start()` options that describe the app: with the plugin, the app's own code sets them. */
type AppDescribingOption = 'app' | 'appFile' | 'fastifyArgs' | 'appOptions' | 'serverOptions' | 'port' | 'host'

/**
 * Options of the plugin. Any cluster option `start()` takes (except those describing the app: the app is this
 * script, its port goes to `listen()`) makes `listen()` in a plain process launch the cluster: the workers run
 * this same script. Without any, the plugin runs in this one process (degraded: no workers). `metricsRegistry`
 * and `clusterMetrics`: see AppMetricsOptions.
 */
export interface ClusterPluginOptions extends Omit<ClusterOptions, AppDescribingOption>, AppMetricsOptions {
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

/** Keys only the plugin takes; every other key is a cluster option, resolved as start() resolves it. */
const PLUGIN_ONLY_KEYS = new Set(['underPressure', 'healthCheck', 'metricsRegistry', 'clusterMetrics'])
/** Registration options Fastify adds to what a plugin receives. */
const FASTIFY_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])
/**
 * Internal registration option of the worker runtime: decorate now, register under-pressure later, so the app's
 * own `register(clusterPlugin, { underPressure })` decides its thresholds (see `finishClusterSetup`).
 */
export const DEFER_UNDER_PRESSURE = Symbol.for('fastify-cluster.defer-under-pressure')


function validate (opts: ClusterPluginOptions): void {
  for (const key of Object.keys(opts)) {
    // A typo of a plugin-only key; anything else unknown is reported by the cluster options' resolver.
    const hint = PLUGIN_ONLY_KEYS.has(key) || FASTIFY_KEYS.has(key) ? '' : didYouMean(key, PLUGIN_ONLY_KEYS)
    if (hint !== '') throw new FST_CLUSTER_UNKNOWN_OPTION(key, hint)
  }
  if (opts.healthCheck !== undefined && typeof opts.healthCheck !== 'function') {
    throw new FST_CLUSTER_INVALID_OPTION('healthCheck', 'a function', describeValue(opts.healthCheck))
  }
  if (opts.underPressure !== undefined && (typeof opts.underPressure !== 'object' || opts.underPressure === null)) {
    throw new FST_CLUSTER_INVALID_OPTION('underPressure', 'an object', describeValue(opts.underPressure))
  }
  validateMetricsOptions(opts)
}

/**
 * The cluster options among the registration's (with `sampleInterval`, which both sides take), or `null` when
 * there are none: `sampleInterval` alone keeps the plugin in this process, as it always did.
 */
function clusterOptionsOf (opts: ClusterPluginOptions): Record<string, unknown> | null {
  const entries = Object.entries(opts).filter(([key]) => !PLUGIN_ONLY_KEYS.has(key) && !FASTIFY_KEYS.has(key))
  if (entries.every(([key]) => key === 'sampleInterval')) return null
  return Object.fromEntries(entries)
}

/** The same validation (and errors) as in the primary; loaded only when a registration has cluster options. */
async function checkClusterOptions (options: Record<string, unknown>): Promise<void> {
  (await import('../lib/shared/plugin-cluster-options.js')).checkClusterOptions(options)
}

/**
 * The app defining the readiness route itself would be Fastify's duplicate-route error in every worker: fail at
 * once, in the primary too (before any fork), saying what to change.
 */
function guardReadinessPath (fastify: FastifyInstance, path: string | false, addsRoute: boolean): void {
  if (path === false) return
  let ours = addsRoute
  fastify.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    if (route.url !== path || !methods.includes('GET')) return
    if (ours) {
      ours = false
      return
    }
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(`the app defines GET ${path}, which is also readinessPath (the readiness route each worker adds): pass readinessPath: false or another path to register(clusterPlugin)`)
  })
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
    const ignored = clusterOptionsOf(opts)
    if (ignored !== null) {
      await checkClusterOptions(ignored)
      // Registered again by the app in a worker of the CLI or start(): the launcher's options made this cluster.
      fastify.log.warn({ options: Object.keys(ignored) }, 'fastify-cluster: this worker was started by the fastify-cluster CLI or start(), whose options apply; the cluster options given to register() are ignored here')
    }
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

  const clusterOptions = clusterOptionsOf(opts)
  const channel = connectToPrimary()
  if (channel === null && !cluster.isWorker && clusterOptions !== null) {
    // The primary of a cluster this app launches: listen() forks the workers; this process serves nothing.
    // Loaded here only: workers never load the launcher (it costs them ~150 ms and a few MB at boot).
    const { launchFromPlugin } = await import('../lib/primary/plugin-primary.js')
    const { DEFAULTS } = await import('../lib/shared/options.js')
    const view = launchFromPlugin(fastify, clusterOptions)
    fastify.decorate('cluster', { getter: () => view as ClusterDecorator })
    const path = clusterOptions.readinessPath
    guardReadinessPath(fastify, path === undefined ? DEFAULTS.readinessPath : path as string | false, false)
    return
  }
  if (clusterOptions !== null) await checkClusterOptions(clusterOptions)
  if (channel === null && !cluster.isWorker) {
    fastify.log.info('fastify-cluster: running in this one process; to run on every core, register it with ' +
      '{ workers: "max" } (listen() then forks the workers), or start the app with the fastify-cluster CLI')
  }
  const interval = channel?.launch.sampleInterval ?? parseDuration('sampleInterval', opts.sampleInterval ?? 1000, { min: 10 })
  const state = new ClusterState(channel !== null, channel?.workerId ?? null, channel?.launch.slot ?? null)
  let healthCheck = opts.healthCheck
  const deferred = (opts as Record<symbol, unknown>)[DEFER_UNDER_PRESSURE] === true
  const registration: Registration = {
    state,
    setHealthCheck: (fn) => { healthCheck = healthCheck ?? fn },
    pressure: deferred ? null : await registerPressure(fastify, interval, opts.underPressure),
    interval,
    metrics: new WorkerMetrics(channel),
    announce: () => {}
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
  registration.announce = (address) => {
    if (channel === null) return
    const sample = reporter.sample()
    state.recordSample(sample)
    channel.send(buildReady(address, sample, channel.launch.inspect === true ? inspector.url() : undefined))
  }
  fastify.addHook('onListen', async () => {
    const raw = fastify.server.address()
    registration.announce(typeof raw === 'string' || raw === null
      ? { address: String(raw), port: 0, family: 'unix' }
      : { address: raw.address, port: raw.port, family: raw.family })
  })
  fastify.addHook('onClose', async () => {
    reporter.stop()
    registration.metrics.stop()
  })

  if (channel !== null && !deferred) {
    // The first registration in a worker, and not the launcher's: this app launched the cluster itself.
    const { adoptSelfLaunchedWorker } = await import('./self-launched-worker.js')
    adoptSelfLaunchedWorker(fastify, channel)
    guardReadinessPath(fastify, channel.launch.readinessPath, true)
    if (channel.launch.readinessPath !== false) addReadinessRoute(fastify, channel.launch.readinessPath, isUnderPressure)
  }
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

export { isUnderPressure, announceReady, clusterStateOf } from './registration.js'

/**
 * The fastify-cluster worker plugin: registers `@fastify/under-pressure` (unless already there), decorates
 * `fastify.cluster`, and in a fastify-cluster worker reports readiness and health to the primary. In a plain
 * process it runs degraded: under-pressure and the decorator, no IPC.
 */
export const fastifyCluster = fp(clusterPlugin, { fastify: '5.x', name: 'fastify-cluster' })
export default fastifyCluster
