import { availableParallelism } from 'node:os'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Logger, LoggerOptions } from 'pino'
import {
  FST_CLUSTER_CONFLICTING_OPTIONS, FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_OPTION_OUT_OF_RANGE,
  FST_CLUSTER_UNKNOWN_OPTION
} from './errors.js'
import { describeValue, didYouMean } from './messages.js'
import type {
  ClusterShutdownEvent, WorkerExitEvent, WorkerForkEvent, WorkerReadyEvent
} from './events.js'
import { MAX_TIMER_MS, parseDuration, parseInteger, parseSize, type Duration, type Size } from './units.js'
import type { Breach, RecycleReason } from './recycle-policy.js'
import type { ReloadResult } from './rolling-reload.js'

/** Upper bound on `workers`: more is a typo, not a plan. */
export const MAX_WORKERS = 1024

type Hook<T> = (event: T) => void | Promise<void>

/**
 * An inline app: a Fastify plugin, async (`async (fastify, opts) => {}`) or with a callback. One signature
 * rather than a union of both, so the parameters of an arrow function are typed from context.
 */
/** `node:cluster`'s scheduling policies, by the names of `NODE_CLUSTER_SCHED_POLICY`. */
export type SchedulingPolicy = 'rr' | 'none'

export type InlineApp = (fastify: FastifyInstance, opts: Record<string, any>, done: (err?: Error) => void) => void | Promise<void>

/** Options of `start()`. The CLI's flags and env vars resolve through the same function. */
export interface ClusterOptions {
  /**
   * Path to the app module, in fastify-cli's format (a plugin as `module.exports` or `export default`,
   * optional `options` export). Workers load it; the primary never does. Exclusive with `app`.
   */
  appFile?: string
  /**
   * `fastify start` arguments for `appFile`: every fastify-cli flag (`-p`, `-a`, `-l`, `-o`, `-r`, ...) and
   * `--` plugin options. Workers parse them with fastify-cli itself.
   * @default []
   */
  fastifyArgs?: readonly string[]
  /**
   * The app as an inline Fastify plugin, for single-file programs: the same script runs in the primary and in
   * the workers, and `start()` knows which it is. Exclusive with `appFile`.
   */
  app?: InlineApp
  /** Options passed to the inline `app` plugin. @default {} */
  appOptions?: Record<string, unknown>
  /** Fastify server options for the inline `app` (each worker calls `Fastify(serverOptions)`). @default {} */
  serverOptions?: FastifyServerOptions
  /** Port for the inline `app`; 0 picks a free port shared by all workers. @default process.env.PORT or 3000 */
  port?: number | string
  /** Host for the inline `app`. @default "localhost" */
  host?: string
  /** Number of workers, or `"max"` for `os.availableParallelism()`. @default os.availableParallelism() */
  workers?: number | string
  /** A worker not ready (listening and reporting) within this is killed and counts as a failed start. @default "30s" */
  startupTimeout?: Duration
  /** Time a draining worker gets to close before it is sent SIGTERM, then SIGKILL. @default "10s" */
  workerStopTimeout?: Duration
  /** On shutdown, keep serving (marked draining) this long before closing: the load-balancer removal race. @default 0 */
  drainDelay?: Duration
  /** After SIGTERM, wait this long before SIGKILL. @default "1s" */
  forceKillDelay?: Duration
  /** How often each worker sends a health sample. @default "1s" */
  sampleInterval?: Duration
  /** First delay before replacing a crashed worker; doubles per consecutive crash of a slot (with jitter). @default 100 */
  restartDelay?: Duration
  /** Cap of the restart backoff. @default "15s" */
  maxRestartDelay?: Duration
  /** A worker up this long is stable: its slot's backoff resets and its exit is not counted by the breaker. @default "10s" */
  stableUptime?: Duration
  /** The breaker stops forking and closes the cluster after this many unstable exits within `crashLoopWindow`. @default 5 */
  crashLoopLimit?: number | string
  /** Window in which unstable exits are counted. @default "60s" */
  crashLoopWindow?: Duration
  /**
   * Watchdog: a ready worker that has not reported for this long is stuck (its event loop is blocked): it is
   * SIGTERMed, SIGKILLed `forceKillDelay` later, and replaced. At least 2 x `sampleInterval`. @default "5s"
   */
  heartbeatTimeout?: Duration
  /** Recycle a worker whose heap used stays above this (bytes or "512MB"); 0 = off. @default 0 */
  maxHeapUsedBytes?: Size
  /** Recycle a worker whose RSS stays above this (bytes or "1GB"); 0 = off. @default 0 */
  maxRssBytes?: Size
  /** Recycle a worker whose mean event-loop delay stays above this (ms or "200ms"); 0 = off. @default 0 */
  maxEventLoopDelay?: Duration
  /** Recycle a worker whose event-loop utilisation (0..1, over each interval) stays above this; 0 = off. @default 0 */
  maxEventLoopUtilization?: number | string
  /** Consecutive bad samples before a threshold recycles (hysteresis). @default 3 */
  unhealthyChecks?: number | string
  /** No threshold recycle during this long after a worker became ready. @default "10s" */
  recycleGracePeriod?: Duration
  /** At most this many workers are being replaced at once. @default 1 */
  maxConcurrentRecycles?: number | string
  /**
   * Workers a rolling reload replaces at once (as Kubernetes' `maxSurge`): a count, or a percentage of `workers`
   * (`"25%"`, rounded up). Each replacement is ready before its old worker drains, so up to `workers` +
   * `reloadSurge` workers run during a reload. @default "25%"
   */
  reloadSurge?: number | string
  /** At most this many threshold recycles within `recycleBudgetWindow` (a bad threshold cannot churn the cluster). @default 3 */
  recycleBudget?: number | string
  /** The window of `recycleBudget`. @default "10m" */
  recycleBudgetWindow?: Duration
  /** Also recycle a worker whose own `healthCheck` keeps failing (by default it feeds readiness only). @default false */
  recycleOnHealthCheck?: boolean
  /**
   * Before killing a stuck worker, capture the JavaScript stack it is stuck in (through the worker's inspector,
   * opened on 127.0.0.1 at boot; at most 1 s), write it to a JSON file in the OS temp directory and log its path.
   * Needs Node >= 22 (global WebSocket). Each worker then has a local debugging port: keep it off unless you
   * are hunting a hang. @default false
   */
  stuckDiagnostics?: boolean
  /**
   * Called before a threshold recycle (not for a stuck worker, which is always replaced). Return `false` to veto
   * this one; anything else approves. Settles within `workerStopTimeout` or the recycle goes ahead.
   */
  onWorkerUnhealthy?: (event: { id: number, pid: number, slot: number, reason: RecycleReason, breaches: Breach[] }) =>
  boolean | undefined | void | Promise<boolean | undefined | void>
  /**
   * Port of the primary's health server (`/live`, `/ready`, `/status`, `/metrics`), which answers even when every
   * worker is stuck. Off unless set; 0 picks a free port.
   */
  healthPort?: number | string
  /** Address of the health server. @default "127.0.0.1" */
  healthHost?: string
  /** Serve `/status` (workers, pids, samples) on the health server. @default true on a loopback address, else false */
  healthStatus?: boolean
  /** `/ready` answers 200 while at least this many workers are ready (and the cluster is not draining). @default 1 */
  minReady?: number | string
  /**
   * Readiness route each worker adds on the app's own port, for load balancers that only poll the traffic port:
   * 503 (with Retry-After) while the worker drains or is under pressure. `false` disables it; skipped with a log
   * line if the app defines the same route. @default "/health"
   */
  readinessPath?: string | false
  /** Called after each rolling reload pass with its result. */
  onReload?: Hook<ReloadResult>
  /**
   * Each worker binds its own listening socket with `SO_REUSEPORT` and the kernel spreads new connections, so the
   * primary is off the hot path. Needs Node >= 22.12 (22.x) or >= 23.1 on Linux, FreeBSD, Solaris or AIX; elsewhere
   * the default distribution is used with one warning. On Linux, set `net.ipv4.tcp_migrate_req=1` so connections
   * queued on a closing worker's socket move to the others instead of being reset. @default false
   */
  reusePort?: boolean
  /**
   * How `node:cluster` hands out connections when `reusePort` is off: `"rr"` (the primary accepts and deals them
   * round-robin) or `"none"` (every worker accepts on the shared socket; the OS decides). Process-wide and fixed
   * at the first fork. @default Node's: "rr", except on Windows, or `NODE_CLUSTER_SCHED_POLICY`
   */
  schedulingPolicy?: SchedulingPolicy
  /** Install SIGTERM/SIGINT (graceful shutdown, a second one forces) and SIGHUP (rolling reload) handlers. @default true */
  signals?: boolean
  /** Primary logger: `true` (pino JSON on stdout, level info), pino options, a pino logger, or `false`. @default true */
  logger?: boolean | LoggerOptions | Logger
  /** Called after a worker is forked. Errors are logged, never thrown. */
  onWorkerFork?: Hook<WorkerForkEvent>
  /** Called when a worker is ready. */
  onWorkerReady?: Hook<WorkerReadyEvent>
  /** Called when a worker exits, expected or not. */
  onWorkerExit?: Hook<WorkerExitEvent>
  /** Called when shutdown starts, before workers are told to drain. */
  onShutdown?: Hook<ClusterShutdownEvent>
}

/** `ClusterOptions` after defaults and validation: complete, typed, frozen. */
export interface ResolvedOptions {
  readonly appFile: string | undefined
  readonly fastifyArgs: readonly string[]
  readonly app: InlineApp | undefined
  readonly appOptions: Readonly<Record<string, unknown>>
  readonly serverOptions: FastifyServerOptions | undefined
  readonly port: number
  readonly host: string
  readonly workers: number
  readonly startupTimeout: number
  readonly workerStopTimeout: number
  readonly drainDelay: number
  readonly forceKillDelay: number
  readonly sampleInterval: number
  readonly restartDelay: number
  readonly maxRestartDelay: number
  readonly stableUptime: number
  readonly crashLoopLimit: number
  readonly crashLoopWindow: number
  readonly heartbeatTimeout: number
  readonly maxHeapUsedBytes: number
  readonly maxRssBytes: number
  readonly maxEventLoopDelay: number
  readonly maxEventLoopUtilization: number
  readonly unhealthyChecks: number
  readonly recycleGracePeriod: number
  readonly maxConcurrentRecycles: number
  readonly reloadSurge: number
  readonly recycleBudget: number
  readonly recycleBudgetWindow: number
  readonly recycleOnHealthCheck: boolean
  readonly stuckDiagnostics: boolean
  readonly onWorkerUnhealthy: ClusterOptions['onWorkerUnhealthy']
  readonly healthPort: number | undefined
  readonly healthHost: string
  readonly healthStatus: boolean
  readonly minReady: number
  readonly readinessPath: string | false
  readonly onReload: Hook<ReloadResult> | undefined
  readonly reusePort: boolean
  readonly schedulingPolicy: SchedulingPolicy | undefined
  readonly signals: boolean
  readonly logger: boolean | LoggerOptions | Logger
  readonly onWorkerFork: Hook<WorkerForkEvent> | undefined
  readonly onWorkerReady: Hook<WorkerReadyEvent> | undefined
  readonly onWorkerExit: Hook<WorkerExitEvent> | undefined
  readonly onShutdown: Hook<ClusterShutdownEvent> | undefined
}

export const DEFAULTS = Object.freeze({
  fastifyArgs: [] as readonly string[],
  appOptions: {},
  host: 'localhost',
  startupTimeout: 30_000,
  workerStopTimeout: 10_000,
  drainDelay: 0,
  forceKillDelay: 1000,
  sampleInterval: 1000,
  restartDelay: 100,
  maxRestartDelay: 15_000,
  stableUptime: 10_000,
  crashLoopLimit: 5,
  crashLoopWindow: 60_000,
  heartbeatTimeout: 5000,
  maxHeapUsedBytes: 0,
  maxRssBytes: 0,
  maxEventLoopDelay: 0,
  maxEventLoopUtilization: 0,
  unhealthyChecks: 3,
  recycleGracePeriod: 10_000,
  maxConcurrentRecycles: 1,
  recycleBudget: 3,
  recycleBudgetWindow: 600_000,
  recycleOnHealthCheck: false,
  stuckDiagnostics: false,
  healthHost: '127.0.0.1',
  minReady: 1,
  readinessPath: '/health' as string | false,
  reusePort: false,
  signals: true,
  logger: true
})

const KNOWN_KEYS: ReadonlySet<string> = new Set<keyof ClusterOptions>([
  'appFile', 'fastifyArgs', 'app', 'appOptions', 'serverOptions', 'port', 'host', 'workers', 'startupTimeout',
  'workerStopTimeout', 'drainDelay', 'forceKillDelay', 'sampleInterval', 'restartDelay', 'maxRestartDelay',
  'stableUptime', 'crashLoopLimit', 'crashLoopWindow', 'signals', 'logger', 'onWorkerFork', 'onWorkerReady',
  'onWorkerExit', 'onShutdown', 'heartbeatTimeout', 'maxHeapUsedBytes', 'maxRssBytes', 'maxEventLoopDelay',
  'maxEventLoopUtilization', 'unhealthyChecks', 'recycleGracePeriod', 'maxConcurrentRecycles', 'reloadSurge', 'recycleBudget',
  'recycleBudgetWindow', 'recycleOnHealthCheck', 'stuckDiagnostics', 'onWorkerUnhealthy', 'healthPort', 'healthHost', 'healthStatus',
  'minReady', 'readinessPath', 'onReload', 'reusePort', 'schedulingPolicy'
])

/**
 * How each option was spelled where the user wrote it (`--workers`, `FASTIFY_WORKERS`), so errors name the
 * input the user actually typed. Defaults to the option's own name.
 */
export type OptionNames = Partial<Record<keyof ClusterOptions, string>>

function parseWorkers (name: string, value: unknown, cores: number): number {
  if (value === 'max') return cores
  const allowed = `a positive integer up to ${MAX_WORKERS} or "max"`
  if (typeof value === 'string' && !/^-?\d+(\.\d+)?$/.test(value)) {
    throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  }
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  }
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  }
  return n
}

function parsePort (name: string, value: unknown): number {
  return parseInteger(name, value, 0, 65535)
}

/** `reloadSurge` when unset: a share of `workers`, resolved to a count (so not in DEFAULTS, which holds resolved values). */
const RELOAD_SURGE_DEFAULT = '25%'

/** A count from 1 to `workers`, or a percentage of `workers` ("25%", rounded up, at least 1). */
function parseSurge (name: string, value: unknown, workers: number): number {
  const allowed = `a positive integer or a percentage of workers ("25%")`
  const percent = typeof value === 'string' ? /^(\d+(?:\.\d+)?)%$/.exec(value.trim()) : null
  if (percent !== null) {
    const p = Number(percent[1])
    if (p <= 0 || p > 100) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, 'a percentage above 0% and up to 100%', describeValue(value))
    return Math.max(1, Math.ceil((p / 100) * workers))
  }
  if (typeof value !== 'number' && (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value.trim()))) {
    throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  }
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  // More than the worker count adds nothing: every slot is already being replaced.
  return Math.min(n, workers)
}

function parseHost (name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new FST_CLUSTER_INVALID_OPTION(name, 'a non-empty host name or IP address', describeValue(value))
  }
  return value
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

function parseReadinessPath (name: string, value: unknown): string | false {
  if (value === false) return false
  if (typeof value !== 'string' || !/^\/[\w\-./]*$/.test(value)) {
    throw new FST_CLUSTER_INVALID_OPTION(name, 'false or a path starting with "/"', describeValue(value))
  }
  return value
}

/** A ratio from 0 to 1 (a number or a decimal string); 0 means "off". */
function parseRatio (name: string, value: unknown): number {
  const allowed = 'a number from 0 to 1 (0 = off)'
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value
  if (typeof n !== 'number') throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  return n
}

function parseSchedulingPolicy (name: string, value: unknown): SchedulingPolicy | undefined {
  if (value === undefined) return undefined
  if (value !== 'rr' && value !== 'none') {
    throw new FST_CLUSTER_INVALID_OPTION(name, '"rr" (round-robin by the primary) or "none" (the OS decides)', describeValue(value))
  }
  return value
}

function hook<T> (name: string, value: unknown): Hook<T> | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw new FST_CLUSTER_INVALID_OPTION(name, 'a function', describeValue(value))
  return value as Hook<T>
}

function bool (name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new FST_CLUSTER_INVALID_OPTION(name, 'true or false', describeValue(value))
  return value
}

/**
 * Resolves user options once: rejects unknown keys, applies defaults, validates every value and the relations
 * between them, and returns a frozen object. Throws the first problem as a coded error; forks nothing.
 */
export function resolveOptions (input: ClusterOptions, names: OptionNames = {},
  env: NodeJS.ProcessEnv = process.env, cores: number = availableParallelism()): ResolvedOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new FST_CLUSTER_INVALID_OPTION('options', 'an object', describeValue(input))
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) throw new FST_CLUSTER_UNKNOWN_OPTION(key, didYouMean(key, KNOWN_KEYS))
  }
  const n = (key: keyof ClusterOptions): string => names[key] ?? key
  // Only `undefined` means "not given": `null` is a value, and gets validated (and rejected) like any other.
  const given = <K extends keyof ClusterOptions>(key: K): ClusterOptions[K] | undefined => input[key]

  const appFile = given('appFile')
  const app = given('app')
  if (appFile === undefined && app === undefined) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS('one of appFile (a path to the app module) or app (an inline plugin) is required')
  }
  if (appFile !== undefined && app !== undefined) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS('appFile and app cannot be used together: pick one way to name the app')
  }
  if (appFile !== undefined && (typeof appFile !== 'string' || appFile.trim() === '')) {
    throw new FST_CLUSTER_INVALID_OPTION(n('appFile'), 'a non-empty path', describeValue(appFile))
  }
  if (app !== undefined && typeof app !== 'function') {
    throw new FST_CLUSTER_INVALID_OPTION(n('app'), 'a Fastify plugin function', describeValue(app))
  }
  if (appFile !== undefined) {
    for (const key of ['port', 'host', 'appOptions', 'serverOptions'] as const) {
      if (given(key) !== undefined) {
        throw new FST_CLUSTER_CONFLICTING_OPTIONS(`${n(key)} applies to an inline app only; with appFile, pass fastify-cli flags in fastifyArgs (e.g. ["-p", "3000"])`)
      }
    }
  }
  if (app !== undefined && given('fastifyArgs') !== undefined) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(`${n('fastifyArgs')} applies to appFile only; with an inline app use port, host and serverOptions`)
  }
  const fastifyArgs = given('fastifyArgs') ?? DEFAULTS.fastifyArgs
  if (!Array.isArray(fastifyArgs) || !fastifyArgs.every((a) => typeof a === 'string')) {
    throw new FST_CLUSTER_INVALID_OPTION(n('fastifyArgs'), 'an array of strings', describeValue(fastifyArgs))
  }
  for (const key of ['appOptions', 'serverOptions'] as const) {
    const value = given(key)
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new FST_CLUSTER_INVALID_OPTION(n(key), 'an object', describeValue(value))
    }
  }
  const host = parseHost(n('host'), given('host') === undefined ? DEFAULTS.host : given('host'))
  const logger: unknown = given('logger') === undefined ? DEFAULTS.logger : given('logger')
  if (typeof logger !== 'boolean' && (typeof logger !== 'object' || logger === null)) {
    throw new FST_CLUSTER_INVALID_OPTION(n('logger'), 'a boolean, pino options or a pino logger', describeValue(logger))
  }
  const orDefault = <K extends keyof ClusterOptions & keyof typeof DEFAULTS>(key: K): unknown =>
    given(key) === undefined ? DEFAULTS[key] : given(key)
  const duration = (key: keyof ClusterOptions & keyof typeof DEFAULTS, min: number): number =>
    parseDuration(n(key), orDefault(key), { min })

  const sampleInterval = duration('sampleInterval', 10)
  const workers = parseWorkers(n('workers'), given('workers') === undefined ? cores : given('workers'), cores)
  const resolved: ResolvedOptions = {
    appFile,
    fastifyArgs: Object.freeze([...fastifyArgs]),
    app,
    appOptions: Object.freeze({ ...(given('appOptions') ?? DEFAULTS.appOptions) }),
    serverOptions: given('serverOptions'),
    port: given('port') !== undefined
      ? parsePort(n('port'), given('port'))
      : parsePort('PORT', env.PORT !== undefined && env.PORT !== '' ? env.PORT : 3000),
    host,
    workers,
    startupTimeout: duration('startupTimeout', 1),
    workerStopTimeout: duration('workerStopTimeout', 1),
    drainDelay: duration('drainDelay', 0),
    forceKillDelay: duration('forceKillDelay', 1),
    sampleInterval,
    restartDelay: duration('restartDelay', 0),
    maxRestartDelay: duration('maxRestartDelay', 0),
    stableUptime: duration('stableUptime', 1),
    crashLoopLimit: parseInteger(n('crashLoopLimit'), orDefault('crashLoopLimit'), 1, 10_000),
    crashLoopWindow: duration('crashLoopWindow', 1),
    // Unset, it grows with a long sampleInterval instead of failing the 2x rule the user never touched.
    heartbeatTimeout: given('heartbeatTimeout') === undefined
      ? Math.min(MAX_TIMER_MS, Math.max(DEFAULTS.heartbeatTimeout, 2 * sampleInterval))
      : duration('heartbeatTimeout', 20),
    maxHeapUsedBytes: parseSize(n('maxHeapUsedBytes'), orDefault('maxHeapUsedBytes'), { min: 0 }),
    maxRssBytes: parseSize(n('maxRssBytes'), orDefault('maxRssBytes'), { min: 0 }),
    maxEventLoopDelay: duration('maxEventLoopDelay', 0),
    maxEventLoopUtilization: parseRatio(n('maxEventLoopUtilization'), orDefault('maxEventLoopUtilization')),
    unhealthyChecks: parseInteger(n('unhealthyChecks'), orDefault('unhealthyChecks'), 1, 1000),
    recycleGracePeriod: duration('recycleGracePeriod', 0),
    maxConcurrentRecycles: parseInteger(n('maxConcurrentRecycles'), orDefault('maxConcurrentRecycles'), 1, MAX_WORKERS),
    reloadSurge: parseSurge(n('reloadSurge'), given('reloadSurge') === undefined ? RELOAD_SURGE_DEFAULT : given('reloadSurge'), workers),
    recycleBudget: parseInteger(n('recycleBudget'), orDefault('recycleBudget'), 0, 1_000_000),
    recycleBudgetWindow: duration('recycleBudgetWindow', 1),
    recycleOnHealthCheck: bool(n('recycleOnHealthCheck'), orDefault('recycleOnHealthCheck')),
    stuckDiagnostics: bool(n('stuckDiagnostics'), orDefault('stuckDiagnostics')),
    onWorkerUnhealthy: hook(n('onWorkerUnhealthy'), given('onWorkerUnhealthy')) as ClusterOptions['onWorkerUnhealthy'],
    healthPort: given('healthPort') === undefined ? undefined : parsePort(n('healthPort'), given('healthPort')),
    healthHost: parseHost(n('healthHost'), orDefault('healthHost')),
    healthStatus: given('healthStatus') === undefined
      ? isLoopback(String(orDefault('healthHost')))
      : bool(n('healthStatus'), given('healthStatus')),
    minReady: parseInteger(n('minReady'), orDefault('minReady'), 1, workers),
    readinessPath: parseReadinessPath(n('readinessPath'), orDefault('readinessPath')),
    onReload: hook(n('onReload'), given('onReload')),
    reusePort: bool(n('reusePort'), orDefault('reusePort')),
    schedulingPolicy: parseSchedulingPolicy(n('schedulingPolicy'), given('schedulingPolicy')),
    signals: bool(n('signals'), orDefault('signals')),
    logger,
    onWorkerFork: hook(n('onWorkerFork'), given('onWorkerFork')),
    onWorkerReady: hook(n('onWorkerReady'), given('onWorkerReady')),
    onWorkerExit: hook(n('onWorkerExit'), given('onWorkerExit')),
    onShutdown: hook(n('onShutdown'), given('onShutdown'))
  }

  if (resolved.maxRestartDelay < resolved.restartDelay) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(n('maxRestartDelay'),
      `at least ${n('restartDelay')} (${resolved.restartDelay} ms)`, describeValue(given('maxRestartDelay') ?? resolved.maxRestartDelay))
  }
  if (resolved.healthPort !== undefined && resolved.healthPort !== 0 && resolved.app !== undefined &&
    resolved.healthPort === resolved.port) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(`${n('healthPort')} and ${n('port')} are both ${resolved.port}: the health server needs its own port`)
  }
  if (resolved.heartbeatTimeout < 2 * resolved.sampleInterval) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(n('heartbeatTimeout'),
      `at least twice ${n('sampleInterval')} (${2 * resolved.sampleInterval} ms), or one late sample looks like a stuck worker`,
      describeValue(given('heartbeatTimeout') ?? resolved.heartbeatTimeout))
  }
  if (resolved.drainDelay + resolved.workerStopTimeout + resolved.forceKillDelay > MAX_TIMER_MS) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(`${n('drainDelay')} + ${n('workerStopTimeout')} + ${n('forceKillDelay')}`,
      `at most ${MAX_TIMER_MS} ms in total`,
      String(resolved.drainDelay + resolved.workerStopTimeout + resolved.forceKillDelay))
  }
  return Object.freeze(resolved)
}
