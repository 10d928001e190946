import { statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Logger, LoggerOptions } from 'pino'
import {
  FST_CLUSTER_CONFLICTING_OPTIONS, FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_OPTION_OUT_OF_RANGE,
  FST_CLUSTER_UNKNOWN_OPTION
} from './errors.js'
import { describeValue, didYouMean } from './messages.js'
import type {
  Breach, ClusterShutdownEvent, RecycleReason, ReloadResult, WorkerExitEvent, WorkerForkEvent, WorkerReadyEvent
} from './events.js'
import { LOG_LEVELS, checkFastifyCliValues, fastifyCliValues } from './fastify-cli-flags.js'
import { MAX_TIMER_MS, parseDuration, parseInteger, parseSize, type Duration, type Size } from './units.js'
import { parseSticky, type StickyMode, type StickySpec } from './sticky-mode.js'

/*
 * Every option of `start()` is one entry of OPTIONS below: how it parses, its default, its CLI flag and env var,
 * and its documentation (the TSDoc on the entry). The public types, DEFAULTS, the known keys, the CLI flags, the
 * --help text and docs/options.md all derive from it; tests check the README's tables and the TSDoc against it.
 */

/** Upper bound on `workers`: more is a typo, not a plan. */
export const MAX_WORKERS = 1024

type Hook<T> = (event: T) => void | Promise<void>

/** `node:cluster`'s scheduling policies, by the names of `NODE_CLUSTER_SCHED_POLICY`. */
export type SchedulingPolicy = 'rr' | 'none'

/**
 * An inline app: a Fastify plugin, async (`async (fastify, opts) => {}`) or with a callback. One signature
 * rather than a union of both, so the parameters of an arrow function are typed from context.
 */
export type InlineApp = (fastify: FastifyInstance, opts: Record<string, any>, done: (err?: Error) => void) => void | Promise<void>

/** The veto hook called before a threshold recycle. */
export type OnWorkerUnhealthy = (event: { id: number, pid: number, slot: number, reason: RecycleReason, breaches: Breach[] }) =>
boolean | undefined | void | Promise<boolean | undefined | void>

/** What a parser or a computed default sees besides the value. */
export interface OptionContext {
  readonly env: NodeJS.ProcessEnv
  readonly cores: number
  /** Options resolved before this one, in OPTIONS order (a default may depend on them). */
  readonly resolved: Readonly<Record<string, unknown>>
}

/** The `fastify-cluster start` side of an option. */
export interface OptionCli {
  /** Long flag name, kebab-case, without dashes. */
  flag: string
  /** The env var read when the flag is absent. */
  env: string
  /** A flag without a value (`--reuse-port`), also `--reuse-port=false` and true/false/1/0 in the env. */
  boolean?: true
  /** One line for `--help`. */
  help: string
  /** Turns the flag's text into the option's value (`--cluster-log-level debug` is `logger: { level: "debug" }`). */
  fromFlag?: (raw: string | boolean) => unknown
  /** The flag turns the option off (`--no-control`); the env var keeps the option's own sense. */
  negate?: true
  /** The default `--help` shows, where the flag's value differs in kind from the option's (a level, not a logger). */
  shownDefault?: string
}

/** One option: everything about it, written once. `In` is what users may pass, `Out` what the cluster uses. */
export interface OptionSpec<In, Out> {
  /** Validates a given value and resolves it; `name` is how the user spelled the input, for the error. */
  readonly parse: (value: unknown, name: string, ctx: OptionContext) => Out
  /** The value when the option is not given (listed in DEFAULTS unless `undefined`). */
  readonly default?: Out
  /** Computes the value when not given, from the environment or earlier options (instead of `default`). */
  readonly defaultFrom?: (ctx: OptionContext) => Out
  /** Applies only to an inline `app` or only to an `appFile`; given with the other, it is a conflict. */
  readonly only?: 'app' | 'appFile'
  readonly cli?: OptionCli
  /** How the docs show it (Markdown): the type, the default, and the flag and env cells where not just `--flag`. */
  readonly docs: { type: string, default: string, flag?: string, env?: string }
  /** Type-level only: the accepted input. */
  readonly input?: In
}

function option<In, Out> (spec: OptionSpec<In, Out>): OptionSpec<In, Out> {
  return spec
}

// Parsers: each names the input as the user spelled it and says what is allowed.

function parseWorkers (value: unknown, name: string, ctx: OptionContext): number {
  if (value === 'max') return ctx.cores
  const allowed = `a positive integer up to ${MAX_WORKERS} or "max"`
  if ((typeof value === 'string' && !/^-?\d+(\.\d+)?$/.test(value)) || (typeof value !== 'number' && typeof value !== 'string')) {
    throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  }
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  }
  return n
}

const parsePort = (value: unknown, name: string): number => parseInteger(name, value, 0, 65535)

function parseHost (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new FST_CLUSTER_INVALID_OPTION(name, 'a non-empty host name or IP address', describeValue(value))
  }
  return value
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

function parseReadinessPath (value: unknown, name: string): string | false {
  if (value === false) return false
  if (typeof value !== 'string' || !/^\/[\w\-./]*$/.test(value)) {
    throw new FST_CLUSTER_INVALID_OPTION(name, 'false or a path starting with "/"', describeValue(value))
  }
  return value
}

/** A ratio from 0 to 1 (a number or a decimal string); 0 means "off". */
/** A count from 1 to `workers`, or a percentage of `workers` ("25%", rounded up, at least 1). */
function parseSurge (value: unknown, name: string, workers: number): number {
  const percent = typeof value === 'string' ? /^(\d+(?:\.\d+)?)%$/.exec(value.trim()) : null
  if (percent !== null) {
    const p = Number(percent[1])
    if (p <= 0 || p > 100) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, 'a percentage above 0% and up to 100%', describeValue(value))
    return Math.max(1, Math.ceil((p / 100) * workers))
  }
  const allowed = 'a positive integer or a percentage of workers ("25%")'
  if (typeof value !== 'number' && (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value.trim()))) {
    throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  }
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  // More than the worker count adds nothing: every slot is already being replaced.
  return Math.min(n, workers)
}

function parseRatio (value: unknown, name: string): number {
  const allowed = 'a number from 0 to 1 (0 = off)'
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value
  if (typeof n !== 'number') throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(name, allowed, describeValue(value))
  return n
}

function parseSchedulingPolicy (value: unknown, name: string): SchedulingPolicy {
  if (value !== 'rr' && value !== 'none') {
    throw new FST_CLUSTER_INVALID_OPTION(name, '"rr" (round-robin by the primary) or "none" (the OS decides)', describeValue(value))
  }
  return value
}

function parseBoolean (value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new FST_CLUSTER_INVALID_OPTION(name, 'true or false', describeValue(value))
  return value
}

function parseObject (value: unknown, name: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FST_CLUSTER_INVALID_OPTION(name, 'an object', describeValue(value))
  }
  return value as Record<string, unknown>
}

function isLogger (value: object): boolean {
  return typeof (value as Logger).child === 'function' && typeof (value as Logger).info === 'function'
}

/** A level pino does not know throws an uncoded error when the primary's logger is built: check it here. */
function parseLogger (value: unknown, name: string): boolean | LoggerOptions | Logger {
  if (typeof value === 'boolean') return value
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FST_CLUSTER_INVALID_OPTION(name, 'a boolean, pino options or a pino logger', describeValue(value))
  }
  if (isLogger(value)) return value as Logger
  const options = value as LoggerOptions
  const levels = [...LOG_LEVELS, ...Object.keys(options.customLevels ?? {})]
  if (options.level !== undefined && !levels.includes(options.level)) {
    throw new FST_CLUSTER_INVALID_OPTION(name === 'logger' ? 'logger.level' : name, `one of ${levels.join(', ')}`,
      describeValue(options.level))
  }
  return options
}

/** The operator's directory for stuck reports: it must exist now, so a typo fails before any fork. */
function parseDirectory (value: unknown, name: string): string {
  const allowed = 'the path of an existing directory'
  if (typeof value !== 'string' || value.trim() === '') throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  const path = resolvePath(value)
  let isDirectory = false
  try { isDirectory = statSync(path).isDirectory() } catch {}
  if (!isDirectory) throw new FST_CLUSTER_INVALID_OPTION(name, allowed, describeValue(value))
  return path
}

function hook<T> (type = '(event) => void | Promise<void>'): OptionSpec<T, T | undefined> {
  return option<T, T | undefined>({
    parse: (value, name) => {
      if (typeof value !== 'function') throw new FST_CLUSTER_INVALID_OPTION(name, 'a function', describeValue(value))
      return value as T
    },
    docs: { type, default: '' }
  })
}

const duration = (min: number, def: number, docs: OptionSpec<Duration, number>['docs'], cli?: OptionCli): OptionSpec<Duration, number> =>
  option<Duration, number>({ parse: (value, name) => parseDuration(name, value, { min }), default: def, docs, ...(cli === undefined ? {} : { cli }) })

const integer = (min: number, max: number, def: number, docs: OptionSpec<number | string, number>['docs'], cli: OptionCli): OptionSpec<number | string, number> =>
  option<number | string, number>({ parse: (value, name) => parseInteger(name, value, min, max), default: def, docs, cli })

const size = (def: number, docs: OptionSpec<Size, number>['docs'], cli: OptionCli): OptionSpec<Size, number> =>
  option<Size, number>({ parse: (value, name) => parseSize(name, value, { min: 0 }), default: def, docs, cli })

const flag = (value: boolean, docs: OptionSpec<boolean, boolean>['docs'], cli?: OptionCli): OptionSpec<boolean, boolean> =>
  option<boolean, boolean>({ parse: parseBoolean, default: value, docs, ...(cli === undefined ? {} : { cli }) })

const cli = (name: string, help: string, extra: Partial<OptionCli> = {}): OptionCli =>
  ({ flag: name, env: `FASTIFY_${name.toUpperCase().replace(/-/g, '_')}`, help, ...extra })

const DURATION = 'Duration'
const NUMBER_OR_STRING = 'number | string'

/** Every option of `start()`, in the order they resolve (a default may depend on an earlier option). */
export const OPTIONS = {
  /**
   * Path to the app module in fastify-cli's format (a plugin as `module.exports` or `export default`, optional
   * `options` export). Workers load it; the primary only checks that it exists. Exclusive with `app`; one of the
   * two is required.
   */
  appFile: option<string, string | undefined>({
    parse: (value, name) => {
      if (typeof value !== 'string' || value.trim() === '') throw new FST_CLUSTER_INVALID_OPTION(name, 'a non-empty path', describeValue(value))
      return value
    },
    docs: { type: 'string', default: '', flag: '`<app-file>` (positional)' }
  }),
  /**
   * `fastify start` arguments for `appFile`: every fastify-cli flag (`-p`, `-a`, `-l`, `-o`, `-r`, ...) and `--`
   * plugin options, parsed by fastify-cli in each worker. The values a worker would fail on (port, address,
   * plugin timeout, body limit, log level) are checked before any fork.
   * @default `[]`
   */
  fastifyArgs: option<readonly string[], readonly string[]>({
    parse: (value, name) => {
      if (!Array.isArray(value) || !value.every((a) => typeof a === 'string')) {
        throw new FST_CLUSTER_INVALID_OPTION(name, 'an array of strings', describeValue(value))
      }
      return Object.freeze([...value] as string[])
    },
    default: Object.freeze([]),
    only: 'appFile',
    docs: { type: 'string[]', default: '`[]`', flag: 'every `fastify start` flag, and `--` plugin options', env: '`FASTIFY_*` of fastify-cli' }
  }),
  /**
   * Inline app for single-file programs: a Fastify plugin; the same script runs in the primary and in the
   * workers, and `start()` knows which it is. Exclusive with `appFile`.
   */
  app: option<InlineApp, InlineApp | undefined>({
    parse: (value, name) => {
      if (typeof value !== 'function') throw new FST_CLUSTER_INVALID_OPTION(name, 'a Fastify plugin function', describeValue(value))
      return value as InlineApp
    },
    docs: { type: 'Fastify plugin', default: '' }
  }),
  /**
   * Options passed to the inline `app`.
   * @default `{}`
   */
  appOptions: option<Record<string, unknown>, Readonly<Record<string, unknown>>>({
    parse: (value, name) => Object.freeze({ ...parseObject(value, name) }),
    default: Object.freeze({}),
    only: 'app',
    docs: { type: 'object', default: '`{}`' }
  }),
  /**
   * Server options of the inline `app`: each worker calls `Fastify(serverOptions)`.
   * @default `{}`
   */
  serverOptions: option<FastifyServerOptions, FastifyServerOptions | undefined>({
    parse: (value, name) => parseObject(value, name) as FastifyServerOptions,
    only: 'app',
    docs: { type: 'FastifyServerOptions', default: '`{}`' }
  }),
  /**
   * Port of the inline `app`; `0` picks a free port shared by all workers. With `appFile`, use `-p` in
   * `fastifyArgs`.
   * @default `PORT` env var, else `3000`
   */
  port: option<number | string, number>({
    parse: parsePort,
    default: 3000,
    defaultFrom: ({ env }) => env.PORT !== undefined && env.PORT !== '' ? parsePort(env.PORT, 'PORT') : 3000,
    only: 'app',
    docs: { type: NUMBER_OR_STRING, default: '`PORT` env var, else `3000`', env: '`PORT`' }
  }),
  /**
   * Host of the inline `app`. With `appFile`, use `-a` in `fastifyArgs`. Resolved before any fork.
   * @default `"localhost"`
   */
  host: option<string, string>({ parse: parseHost, default: 'localhost', only: 'app', docs: { type: 'string', default: '`"localhost"`' } }),
  /**
   * Number of workers (1 to 1024), or `"max"` for `os.availableParallelism()`.
   * @default `os.availableParallelism()`
   */
  workers: option<number | string, number>({
    parse: parseWorkers,
    defaultFrom: ({ cores }) => cores,
    cli: cli('workers', 'Number of workers, or "max"'),
    docs: { type: NUMBER_OR_STRING, default: '`os.availableParallelism()`' }
  }),
  /**
   * A worker not ready (listening and reporting) within this is killed and counts as a failed start.
   * @default `"30s"`
   */
  startupTimeout: duration(1, 30_000, { type: DURATION, default: '`"30s"`' },
    cli('startup-timeout', 'A worker not ready by then is killed and counts as a failed start')),
  /**
   * Time a draining worker gets, after `drainDelay`, to close before it is sent SIGTERM, then SIGKILL. Also
   * bounds `onShutdown`.
   * @default `"10s"`
   */
  workerStopTimeout: duration(1, 10_000, {
    type: DURATION,
    default: '`"10s"`',
    flag: '`--stop-timeout` (or `-g, --close-grace-delay` when it is absent)',
    env: '`FASTIFY_STOP_TIMEOUT` (or `FASTIFY_CLOSE_GRACE_DELAY`)'
  }, cli('stop-timeout', 'Time a draining worker has to close before SIGTERM, then SIGKILL')),
  /**
   * On shutdown, keep serving (marked draining) this long before closing: the load-balancer removal race.
   * @default `0`
   */
  drainDelay: duration(0, 0, { type: DURATION, default: '`0`' }, cli('drain-delay', 'On shutdown, keep serving this long before closing')),
  /**
   * After SIGTERM, wait this long before SIGKILL.
   * @default `"1s"`
   */
  forceKillDelay: duration(1, 1000, { type: DURATION, default: '`"1s"`' },
    cli('force-kill-delay', 'Time between SIGTERM and SIGKILL of a worker that would not stop')),
  /**
   * How often each worker sends a health sample (at least 10 ms).
   * @default `"1s"`
   */
  sampleInterval: duration(10, 1000, { type: DURATION, default: '`"1s"`' }, cli('sample-interval', 'How often each worker reports its health')),
  /**
   * First delay before replacing a crashed worker; doubles per consecutive crash of a slot, with jitter.
   * @default `100` (ms)
   */
  restartDelay: duration(0, 100, { type: DURATION, default: '`100` (ms)' },
    cli('restart-delay', 'First delay before replacing a crashed worker (doubles per crash)')),
  /**
   * Cap of the restart backoff; at least `restartDelay`.
   * @default `"15s"`
   */
  maxRestartDelay: duration(0, 15_000, { type: DURATION, default: '`"15s"`' }, cli('max-restart-delay', 'Cap of the restart delay')),
  /**
   * A worker up this long after ready is stable: its slot's backoff resets and its exit is not counted by the
   * breaker.
   * @default `"10s"`
   */
  stableUptime: duration(1, 10_000, { type: DURATION, default: '`"10s"`' }, cli('stable-uptime', 'Uptime after which a worker counts as stable')),
  /**
   * The breaker stops forking and closes the cluster after this many unstable exits within `crashLoopWindow`
   * (1 to 10000).
   * @default `5`
   */
  crashLoopLimit: integer(1, 10_000, 5, { type: NUMBER_OR_STRING, default: '`5`' },
    cli('crash-loop-limit', 'Unstable exits within the window that stop the cluster')),
  /**
   * Window in which unstable exits are counted.
   * @default `"60s"`
   */
  crashLoopWindow: duration(1, 60_000, { type: DURATION, default: '`"60s"`' }, cli('crash-loop-window', 'Window in which unstable exits are counted')),
  /**
   * Watchdog: a ready worker that sent no health report for this long is stuck: SIGTERM, SIGKILL after
   * `forceKillDelay`, replaced at once. At least 2 × `sampleInterval`.
   * @default `"5s"` (when unset: `"5s"` or 2 × `sampleInterval`, whichever is longer)
   */
  heartbeatTimeout: option<Duration, number>({
    parse: (value, name) => parseDuration(name, value, { min: 20 }),
    default: 5000,
    // Unset, it grows with a long sampleInterval instead of failing the 2x rule the user never touched.
    defaultFrom: ({ resolved }) => Math.min(MAX_TIMER_MS, Math.max(5000, 2 * (resolved.sampleInterval as number))),
    cli: cli('heartbeat-timeout', 'A ready worker silent this long is stuck: killed and replaced (at least 2x --sample-interval)'),
    docs: { type: DURATION, default: '`"5s"` (when unset: `"5s"` or 2 × `sampleInterval`, whichever is longer)' }
  }),
  /**
   * Recycle a worker whose V8 heap used stays above this.
   * @default `0` (off)
   */
  maxHeapUsedBytes: size(0, { type: 'Size', default: '`0` (off)' },
    cli('max-heap-used', 'Recycle a worker whose heap used stays above this (bytes or "512MB")')),
  /**
   * Recycle a worker whose RSS stays above this.
   * @default `0` (off)
   */
  maxRssBytes: size(0, { type: 'Size', default: '`0` (off)' }, cli('max-rss', 'Recycle a worker whose RSS stays above this (bytes or "1GB")')),
  /**
   * Recycle a worker whose mean event-loop delay stays above this, unless a majority of workers do (overload).
   * @default `0` (off)
   */
  maxEventLoopDelay: duration(0, 0, { type: DURATION, default: '`0` (off)' },
    cli('max-event-loop-delay', 'Recycle a worker whose event-loop delay stays above this (unless most workers do: overload)')),
  /**
   * Recycle a worker whose event-loop utilisation (0 to 1, per interval) stays above this, unless a majority of
   * workers do (overload).
   * @default `0` (off)
   */
  maxEventLoopUtilization: option<number | string, number>({
    parse: parseRatio,
    default: 0,
    cli: cli('max-event-loop-utilization', 'Recycle a worker whose event-loop utilisation (0..1) stays above this (unless most workers do)'),
    docs: { type: NUMBER_OR_STRING, default: '`0` (off)' }
  }),
  /**
   * Consecutive samples past a threshold before it recycles (hysteresis; 1 to 1000).
   * @default `3`
   */
  unhealthyChecks: integer(1, 1000, 3, { type: NUMBER_OR_STRING, default: '`3`' },
    cli('unhealthy-checks', 'Consecutive bad samples before a threshold recycles')),
  /**
   * No threshold recycle this soon after a worker became ready.
   * @default `"10s"`
   */
  recycleGracePeriod: duration(0, 10_000, { type: DURATION, default: '`"10s"`' },
    cli('recycle-grace-period', 'No threshold recycle this soon after a worker became ready')),
  /**
   * At most this many threshold recycles in progress at once (1 to 1024); one lasts until the old worker has
   * exited. A rolling reload's pace is `reloadSurge`.
   * @default `1`
   */
  maxConcurrentRecycles: integer(1, MAX_WORKERS, 1, { type: NUMBER_OR_STRING, default: '`1`' },
    cli('max-concurrent-recycles', 'Threshold recycles in progress at once, at most')),
  /**
   * Workers a rolling reload replaces at once, as Kubernetes' `maxSurge`: a count, or a percentage of `workers`
   * (`"25%"`), rounded up, at least 1 and at most `workers`. Each replacement is ready before its old worker
   * drains, so up to `workers` + this many workers run during a reload.
   * @default `"25%"` of `workers`, rounded up
   */
  reloadSurge: option<number | string, number>({
    parse: (value, name, { resolved }) => parseSurge(value, name, resolved.workers as number),
    // A share of the worker count, resolved to a count: not in DEFAULTS, which holds resolved values.
    defaultFrom: ({ resolved }) => parseSurge('25%', 'reloadSurge', resolved.workers as number),
    cli: cli('reload-surge', 'Workers a rolling reload replaces at once: a count or a percentage of --workers (rounded up)'),
    docs: { type: NUMBER_OR_STRING, default: '`"25%"` of `workers`, rounded up' }
  }),
  /**
   * At most this many threshold recycles within `recycleBudgetWindow` (0 to 1000000; `0` allows none).
   * @default `3`
   */
  recycleBudget: integer(0, 1_000_000, 3, { type: NUMBER_OR_STRING, default: '`3`' },
    cli('recycle-budget', 'Threshold recycles allowed per --recycle-budget-window')),
  /**
   * The sliding window of `recycleBudget`.
   * @default `"10m"`
   */
  recycleBudgetWindow: duration(1, 600_000, { type: DURATION, default: '`"10m"`' }, cli('recycle-budget-window', 'Window of --recycle-budget')),
  /**
   * Also recycle a worker whose own `healthCheck` keeps failing; by default its result is only reported.
   * @default `false`
   */
  recycleOnHealthCheck: flag(false, { type: 'boolean', default: '`false`' },
    cli('recycle-on-health-check', 'Also recycle a worker whose own healthCheck keeps failing (by default it feeds readiness only)', { boolean: true })),
  /**
   * Before killing a stuck worker, capture its JavaScript stack through its inspector (at most 1 s), write it to
   * a JSON file (mode 0600, created exclusively, in a new private directory under the OS temp directory, or in
   * `stuckDiagnosticsDir`) and log the path. Each worker opens an inspector on 127.0.0.1 at boot. Node >= 22.
   * @default `false`
   */
  stuckDiagnostics: flag(false, { type: 'boolean', default: '`false`' },
    cli('stuck-diagnostics', 'Capture the JS stack of a stuck worker (inspector on 127.0.0.1) to a file before killing it; Node >= 22', { boolean: true })),
  /**
   * Directory for the stuck-worker reports instead of a new private one under the OS temp directory; it must
   * exist. Reports are still created exclusively with mode 0600: a file or link already at the name is never
   * followed or overwritten.
   * @default a new private directory (mode 0700) per report, under the OS temp directory
   */
  stuckDiagnosticsDir: option<string, string | undefined>({
    parse: parseDirectory,
    cli: cli('stuck-diagnostics-dir', 'Directory for stuck-worker reports (must exist); default: a new private one in the temp directory'),
    docs: { type: 'string', default: 'a new private directory (mode 0700) per report, under the OS temp directory' }
  }),
  /**
   * Port of the primary's health server (`/live`, `/ready`, `/status`, `/metrics`), which answers even when
   * every worker is stuck; `0` picks a free port (see `handle.healthPort` and the `health:listening` log line).
   * Must differ from the app port.
   * @default off
   */
  healthPort: option<number | string, number | undefined>({
    parse: parsePort,
    cli: cli('health-port', "Port of the primary's health server (/live, /ready, /status, /metrics)"),
    docs: { type: NUMBER_OR_STRING, default: 'off' }
  }),
  /**
   * Address of the health server; `0.0.0.0` for probes from outside the host or pod. Resolved before any fork.
   * @default `"127.0.0.1"`
   */
  healthHost: option<string, string>({
    parse: parseHost,
    default: '127.0.0.1',
    cli: cli('health-address', 'Address of the health server', { env: 'FASTIFY_HEALTH_ADDRESS' }),
    docs: { type: 'string', default: '`"127.0.0.1"`' }
  }),
  /**
   * Serve `/status` (workers, pids, health samples) on the health server.
   * @default `true` when `healthHost` is loopback (`localhost`, `127.*`, `::1`), else `false`
   */
  healthStatus: option<boolean, boolean>({
    parse: parseBoolean,
    defaultFrom: ({ resolved }) => isLoopback(resolved.healthHost as string),
    cli: cli('health-status', 'Serve /status (workers, pids, samples) on the health server', { boolean: true }),
    docs: { type: 'boolean', default: '`true` when `healthHost` is loopback (`localhost`, `127.*`, `::1`), else `false`' }
  }),
  /**
   * Longest wait for the workers' own prom-client metrics when `/metrics` (or a worker's `clusterMetrics` route)
   * aggregates them (10 ms to 60 s); a worker that has not answered by then is reported missing and the scrape
   * answers. See docs/metrics.md.
   * @default `"1s"`
   */
  metricsTimeout: option<Duration, number>({
    parse: (value, name) => parseDuration(name, value, { min: 10, max: 60_000 }),
    default: 1000,
    cli: cli('metrics-timeout', "Longest wait for the workers' own metrics on /metrics; a worker past it is reported missing"),
    docs: { type: DURATION, default: '`"1s"`' }
  }),
  /**
   * `/ready` answers 200 while at least this many workers are ready (1 to `workers`).
   * @default `1`
   */
  minReady: option<number | string, number>({
    parse: (value, name, { resolved }) => parseInteger(name, value, 1, resolved.workers as number),
    default: 1,
    cli: cli('min-ready', '/ready is 200 while at least this many workers are ready'),
    docs: { type: NUMBER_OR_STRING, default: '`1`' }
  }),
  /**
   * Path of the readiness route each worker adds on the app's port (503 with Retry-After while it drains or is
   * under pressure); `false` (`--readiness-path false`) disables it. Letters, digits, `_`, `-`, `.` and `/`,
   * starting with `/`.
   * @default `"/health"`
   */
  readinessPath: option<string | false, string | false>({
    parse: parseReadinessPath,
    default: '/health',
    cli: cli('readiness-path', 'Readiness route on the app port (503 while draining or under pressure); "false" disables it', {
      fromFlag: (raw) => raw === 'false' ? false : raw
    }),
    docs: { type: 'string | false', default: '`"/health"`' }
  }),
  /**
   * Each worker binds its own `SO_REUSEPORT` socket and the kernel spreads new connections: the primary is off
   * the hot path. Node >= 22.12 (22.x) or >= 23.1, on Linux, FreeBSD, Solaris or AIX; elsewhere one warning and
   * the shared socket. On Linux, set `net.ipv4.tcp_migrate_req=1` so connections queued on a closing worker's
   * socket move to the others instead of being reset.
   * @default `false`
   */
  reusePort: flag(false, { type: 'boolean', default: '`false`' },
    cli('reuse-port', 'Each worker binds its own socket (SO_REUSEPORT) and the kernel spreads connections; Node >= 22.12, Linux/FreeBSD', { boolean: true })),
  /**
   * Without `reusePort`: `"rr"`, the primary accepts and deals connections round-robin; `"none"`, every worker
   * accepts on the shared socket. Process-wide, fixed at the first fork. `NODE_CLUSTER_SCHED_POLICY`, when set,
   * must be one of these too.
   * @default Node's (`"rr"` except on Windows, or `NODE_CLUSTER_SCHED_POLICY`)
   */
  schedulingPolicy: option<SchedulingPolicy, SchedulingPolicy | undefined>({
    parse: parseSchedulingPolicy,
    // node:cluster reads it silently and ignores a value it does not know: say so instead.
    defaultFrom: ({ env }) => {
      const policy = env.NODE_CLUSTER_SCHED_POLICY
      return policy === undefined || policy === '' ? undefined : parseSchedulingPolicy(policy, 'NODE_CLUSTER_SCHED_POLICY')
    },
    cli: cli('scheduling-policy', 'Connection distribution without --reuse-port: rr (round-robin by the primary) or none (the OS decides)'),
    docs: { type: '"rr" | "none"', default: 'Node\'s (`"rr"` except on Windows, or `NODE_CLUSTER_SCHED_POLICY`)' }
  }),
  /**
   * Sticky sessions: the primary listens on the app port and hands each new connection to one slot's worker,
   * chosen by `"ip"` (the client address), `"header:<name>"` (e.g. `"header:x-forwarded-for"` behind a proxy) or
   * `"cookie:<name>"` of its first request (by address when absent); a slot's replacement inherits its clients.
   * Not with `reusePort` or a Unix socket. See docs/sticky-sessions.md.
   * @default `false`
   */
  sticky: option<StickySpec | false, StickyMode | null>({
    parse: (value, name) => parseSticky(name, value),
    default: null,
    cli: cli('sticky', 'Sticky sessions: route each connection by ip (client address), header:<name> or cookie:<name> of its first request (e.g. header:x-forwarded-for behind a proxy)'),
    docs: { type: '"ip" | "header:<name>" | "cookie:<name>" | false', default: '`false`' }
  }),
  /**
   * Install the primary's signal handlers: SIGTERM/SIGINT (graceful shutdown; a second signal forces), SIGUSR2
   * (rolling reload), and SIGHUP: a graceful shutdown when one of the primary's standard streams is a terminal at
   * start (the terminal closed), else a rolling reload (systemd's ExecReload).
   * @default `true`
   */
  signals: flag(true, { type: 'boolean', default: '`true`' }),
  /**
   * This cluster's name for `fastify-cluster ls`, `status`, `reload` and `stop`: 1 to 64 letters, digits, ".",
   * "_" or "-", starting with a letter or digit.
   * @default the nearest package.json's `name` (without scope), else the app file's base name
   */
  name: option<string, string | undefined>({
    parse: (value, name) => {
      if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
        throw new FST_CLUSTER_INVALID_OPTION(name, 'a name of 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit', describeValue(value))
      }
      return value
    },
    cli: cli('name', 'Name of this cluster for ls, status, reload, stop (letters, digits, . _ -; at most 64)', { env: 'FASTIFY_CLUSTER_NAME' }),
    docs: { type: 'string', default: 'the nearest package.json\'s `name` (without scope), else the app file\'s base name' }
  }),
  /**
   * Open the control socket that `fastify-cluster ls`, `status`, `reload` and `stop` talk to: owner-only (0600,
   * in a per-user 0700 directory under `$XDG_RUNTIME_DIR` or the temp directory). `false` writes nothing to disk.
   * @default `true`
   */
  control: flag(true, { type: 'boolean', default: '`true`', flag: '`--no-control`', env: '`FASTIFY_CLUSTER_CONTROL` (`false` turns it off)' },
    cli('no-control', 'No control socket: nothing on disk; ls, status, reload and stop cannot reach this cluster',
      { env: 'FASTIFY_CLUSTER_CONTROL', boolean: true, negate: true })),
  /**
   * The primary's logger: `true` (pino JSON on stdout, level info), pino options, a pino logger, or `false`.
   * @default `true`
   */
  logger: option<boolean | LoggerOptions | Logger, boolean | LoggerOptions | Logger>({
    parse: parseLogger,
    default: true,
    cli: cli('cluster-log-level', "Level of the primary's own log (pino JSON on stdout)", { fromFlag: (raw) => ({ level: raw }), shownDefault: 'info' }),
    docs: { type: 'boolean | LoggerOptions | Logger', default: '`true`', flag: '`--cluster-log-level` (sets the level)' }
  }),
  /** Called after a worker is forked, with the `worker:fork` payload. Errors are logged, never thrown. */
  onWorkerFork: hook<Hook<WorkerForkEvent>>(),
  /** Called when a worker is ready, with the `worker:ready` payload. */
  onWorkerReady: hook<Hook<WorkerReadyEvent>>(),
  /** Called when a worker exits, expected or not, with the `worker:exit` payload. */
  onWorkerExit: hook<Hook<WorkerExitEvent>>(),
  /**
   * Called after each rolling reload pass, completed or stopped early, with its `ReloadResult`. Errors are
   * logged, never thrown.
   */
  onReload: hook<Hook<ReloadResult>>('(result) => void | Promise<void>'),
  /**
   * Called before each threshold recycle (never for a stuck worker) with `{ id, pid, slot, reason, breaches }`.
   * Return `false` to veto it; anything else, a throw, or no answer within `workerStopTimeout` lets it go ahead.
   */
  onWorkerUnhealthy: hook<OnWorkerUnhealthy>('(event) => boolean | void | Promise<boolean | void>'),
  /**
   * Called when shutdown starts, before workers are told to drain; workers drain when it settles or after
   * `workerStopTimeout`.
   */
  onShutdown: hook<Hook<ClusterShutdownEvent>>()
} as const

type Options = typeof OPTIONS
type InputOf<S> = S extends OptionSpec<infer In, any> ? In : never
type OutputOf<S> = S extends OptionSpec<any, infer Out> ? Out : never

/** Options of `start()`. The CLI's flags and env vars resolve through the same function. */
export type ClusterOptions = { [K in keyof Options]?: InputOf<Options[K]> }

/** `ClusterOptions` after defaults and validation: complete, typed, frozen. */
export type ResolvedOptions = { readonly [K in keyof Options]: OutputOf<Options[K]> }

/** The option keys, in resolution order. */
export const OPTION_KEYS = Object.freeze(Object.keys(OPTIONS) as Array<keyof ClusterOptions>)

const KNOWN_KEYS: ReadonlySet<string> = new Set(OPTION_KEYS)

/**
 * The fixed defaults. Options whose default depends on the machine (`workers`) or on other options
 * (`healthStatus`) are not listed; `port` and `heartbeatTimeout` list their base value.
 */
export const DEFAULTS: Readonly<Omit<ResolvedOptions, 'workers' | 'healthStatus'>> = Object.freeze(Object.fromEntries(
  OPTION_KEYS.map((key) => [key, (OPTIONS[key] as OptionSpec<unknown, unknown>).default])
    .filter(([, value]) => value !== undefined))) as ResolvedOptions

/**
 * How each option was spelled where the user wrote it (`--workers`, `FASTIFY_WORKERS`), so errors name the
 * input the user actually typed. Defaults to the option's own name.
 */
export type OptionNames = Partial<Record<keyof ClusterOptions, string>>

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
  const given = (key: keyof ClusterOptions): unknown => input[key]

  if (given('appFile') === undefined && given('app') === undefined) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS('one of appFile (a path to the app module) or app (an inline plugin) is required')
  }
  if (given('appFile') !== undefined && given('app') !== undefined) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS('appFile and app cannot be used together: pick one way to name the app')
  }
  const kind = given('app') === undefined ? 'appFile' : 'app'
  for (const key of OPTION_KEYS) {
    const only = (OPTIONS[key] as OptionSpec<unknown, unknown>).only
    if (only === undefined || only === kind || given(key) === undefined) continue
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(only === 'app'
      ? `${n(key)} applies to an inline app only; with appFile, pass fastify-cli flags in fastifyArgs (e.g. ["-p", "3000"])`
      : `${n(key)} applies to appFile only; with an inline app use port, host and serverOptions`)
  }

  const resolved: Record<string, unknown> = {}
  const ctx: OptionContext = { env, cores, resolved }
  for (const key of OPTION_KEYS) {
    const spec = OPTIONS[key] as OptionSpec<unknown, unknown>
    const value = given(key)
    if (value !== undefined) resolved[key] = spec.parse(value, n(key), ctx)
    else resolved[key] = spec.defaultFrom === undefined ? spec.default : spec.defaultFrom(ctx)
  }
  const options = resolved as ResolvedOptions
  checkRelations(options, n, given, env)
  return Object.freeze(options)
}

/** The rules between options; each has one error code, whichever way the options were given. */
function checkRelations (resolved: ResolvedOptions, n: (key: keyof ClusterOptions) => string,
  given: (key: keyof ClusterOptions) => unknown, env: NodeJS.ProcessEnv): void {
  if (resolved.maxRestartDelay < resolved.restartDelay) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(n('maxRestartDelay'),
      `at least ${n('restartDelay')} (${resolved.restartDelay} ms)`, describeValue(given('maxRestartDelay') ?? resolved.maxRestartDelay))
  }
  // fastify-cli's values a worker would fail on, and the app port as workers will bind it.
  const appPort = resolved.appFile !== undefined
    ? checkFastifyCliValues(fastifyCliValues(resolved.fastifyArgs, env))
    : { port: resolved.port, name: n('port') }
  if (resolved.healthPort !== undefined && resolved.healthPort !== 0 && appPort !== null &&
    resolved.healthPort === appPort.port) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(
      `${n('healthPort')} and ${appPort.name} are both ${appPort.port}: the health server needs its own port`)
  }
  if (resolved.sticky !== null && resolved.reusePort) {
    throw new FST_CLUSTER_CONFLICTING_OPTIONS(`${n('sticky')} and ${n('reusePort')} cannot be used together: with sticky sessions the primary owns the listening socket`)
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
}
