/*
 * The IPC protocol between the primary and its workers: every message is built and parsed here.
 * Worker-to-primary messages are untrusted input: parsing checks namespace, version, type, field types and sizes,
 * copies only known fields into a fresh object, and never throws.
 */

export const PROTOCOL_NAMESPACE = 'fastify-cluster'
export const PROTOCOL_VERSION = 1

/** Message types, by direction. */
export const MessageTypes = {
  /** worker → primary: the server listens; carries the address and the first health sample. */
  READY: 'ready',
  /** worker → primary: a periodic health sample (also the heartbeat). */
  HEALTH: 'health',
  /** worker → primary: the app failed to boot; sent just before the worker exits. */
  BOOT_ERROR: 'boot-error',
  /** worker → primary: the app file loaded (the first worker's signal that the others may be forked). */
  LOADED: 'loaded',
  /** worker → primary: an uncaught exception or unhandled rejection is about to end this worker. */
  UNCAUGHT: 'uncaught',
  /** worker → primary: this worker was told to stop by someone else (SIGTERM to its pid) and is draining. */
  LEAVING: 'leaving',
  /**
   * worker → primary: this worker closed its listening socket. The primary answers with `unlisten-ack`; messages
   * keep their order, so by then every connection the primary handed this worker has arrived (and, with no
   * server left, been handed back). A worker that exits earlier strands those connections in the primary.
   */
  UNLISTEN: 'unlisten',
  /** primary → worker: stop taking work, serve `delay` ms more, then close Fastify and exit. */
  DRAIN: 'drain',
  /** primary → worker: answer to `unlisten`. */
  UNLISTEN_ACK: 'unlisten-ack',
  /** primary → worker: send the app's prom-client metrics (`getMetricsAsJSON()`), answering with this `id`. */
  APP_METRICS_REQUEST: 'app-metrics-request',
  /** worker → primary: the app's metrics as prom-client JSON, or why there are none. */
  APP_METRICS: 'app-metrics',
  /** worker → primary: send the cluster-wide aggregate of the app's metrics (served on the app port). */
  CLUSTER_METRICS_REQUEST: 'cluster-metrics-request',
  /** primary → worker: the aggregate as Prometheus text, or why there is none. */
  CLUSTER_METRICS: 'cluster-metrics',
  /**
   * primary → worker, with a socket (sticky sessions): serve this connection; `head` (base64) holds the bytes the
   * primary already read from it to find its key.
   */
  STICKY_CONNECTION: 'sticky-connection'
} as const

/** One health sample, taken by the worker every `sampleInterval`. */
export interface HealthSample {
  /** Mean event-loop delay over the interval, ms (from @fastify/under-pressure). */
  eventLoopDelay: number
  /** Event-loop utilisation over the interval (not cumulative), 0..1. */
  eventLoopUtilization: number
  heapUsed: number
  rss: number
  /** @fastify/under-pressure's verdict with its own thresholds. */
  underPressure: boolean
  /** The result of the user's `healthCheck`, or `null` when none is configured. */
  checkHealthy: boolean | null
}

export interface ReadyMessage {
  type: typeof MessageTypes.READY
  address: { address: string, port: number, family: string }
  sample: HealthSample
  /** The worker's inspector WebSocket URL on 127.0.0.1, when the primary asked for stuck diagnostics. */
  inspector?: string
}
export interface HealthMessage { type: typeof MessageTypes.HEALTH, sample: HealthSample }
/** Where a boot failed: loading the app file, the app's own boot (plugins, hooks), or binding the port. */
export type BootStage = 'load' | 'boot' | 'listen'
export const BOOT_STAGES: readonly BootStage[] = ['load', 'boot', 'listen']
export interface BootErrorMessage {
  type: typeof MessageTypes.BOOT_ERROR
  code: string
  message: string
  stage: BootStage
  /** The error as a person reads it (for a load error: file:line, the source line and a caret), bounded. */
  detail: string
}
export interface LoadedMessage { type: typeof MessageTypes.LOADED }
export interface UncaughtMessage { type: typeof MessageTypes.UNCAUGHT, message: string, frame: string | null }
export interface LeavingMessage { type: typeof MessageTypes.LEAVING }
export interface UnlistenMessage { type: typeof MessageTypes.UNLISTEN }
export interface DrainMessage { type: typeof MessageTypes.DRAIN, delay: number }
export interface UnlistenAckMessage { type: typeof MessageTypes.UNLISTEN_ACK }
export interface StickyConnectionMessage { type: typeof MessageTypes.STICKY_CONNECTION, head: Buffer | null }

/** prom-client's aggregation methods (`aggregator` of a metric), applied by the primary across workers. */
export const METRIC_AGGREGATORS = ['sum', 'first', 'min', 'max', 'average', 'omit'] as const
export const METRIC_TYPES = ['counter', 'gauge', 'histogram', 'summary'] as const

/** One sample of a metric, as prom-client's `getMetricsAsJSON()` gives it (exemplars and timestamps dropped). */
export interface MetricValue {
  value: number
  labels: Record<string, string | number>
  /** For histograms and summaries: the sample's own name (`x_bucket`, `x_sum`, `x_count`). */
  metricName?: string
}
/** One metric, as prom-client's `getMetricsAsJSON()` gives it. */
export interface MetricJSON {
  name: string
  help: string
  type: typeof METRIC_TYPES[number]
  aggregator: typeof METRIC_AGGREGATORS[number]
  values: MetricValue[]
}

/**
 * Largest app-metrics payload, in characters of JSON (worker → primary) or of Prometheus text (primary → worker).
 * A scrape is rare, so more than the usual small message; a registry past it is reported, not sent.
 */
export const MAX_METRICS_CHARS = 4 * 1024 * 1024
/** Budgets the primary checks while parsing one worker's metrics. */
const MAX_METRICS = 10_000
const MAX_METRIC_VALUES = 200_000
const MAX_LABELS = 32
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

export interface AppMetricsRequestMessage { type: typeof MessageTypes.APP_METRICS_REQUEST, id: number }
/**
 * Either `metrics` or `error`. `metrics` is still unchecked: the collector checks it with `parseMetrics` only for an
 * answer it asked for, so unsolicited payloads cost nothing to drop.
 */
export interface AppMetricsMessage { type: typeof MessageTypes.APP_METRICS, id: number, metrics?: UncheckedMetrics, error?: string }
/** A worker's metrics before `parseMetrics`. */
export interface UncheckedMetrics { readonly unchecked: unknown }
export interface ClusterMetricsRequestMessage { type: typeof MessageTypes.CLUSTER_METRICS_REQUEST, id: number }
/** Either `body` or `error`. */
export interface ClusterMetricsMessage { type: typeof MessageTypes.CLUSTER_METRICS, id: number, body?: string, error?: string }

/** The worker messages about app metrics, which the supervisor hands to lib/primary/app-metrics.ts. */
export type MetricsWorkerMessage = AppMetricsMessage | ClusterMetricsRequestMessage

export type WorkerMessage = ReadyMessage | HealthMessage | BootErrorMessage | LeavingMessage | UnlistenMessage |
  LoadedMessage | UncaughtMessage | MetricsWorkerMessage
export type PrimaryMessage = DrainMessage | UnlistenAckMessage | AppMetricsRequestMessage | ClusterMetricsMessage |
  StickyConnectionMessage

/** What parsing a message gave: ours and valid, ours and invalid (with why), or not ours. */
export type Parsed<M> =
  | { kind: 'ok', message: M }
  | { kind: 'invalid', reason: string }
  | { kind: 'foreign' }

const MAX_KEYS = 16
const MAX_STRING = 2048
/** A boot error's formatted text: a source excerpt and a few frames. */
export const MAX_DETAIL = 4096

type Envelope = Record<string, unknown>

function envelope (type: string, body: Record<string, unknown>): Envelope {
  return { ns: PROTOCOL_NAMESPACE, v: PROTOCOL_VERSION, type, ...body }
}

export function buildReady (address: ReadyMessage['address'], sample: HealthSample, inspector?: string): Envelope {
  return envelope(MessageTypes.READY, { address, sample, ...(inspector === undefined ? {} : { inspector }) })
}
export function buildHealth (sample: HealthSample): Envelope {
  return envelope(MessageTypes.HEALTH, { sample })
}
export function buildBootError (code: string, message: string, stage: BootStage, detail: string): Envelope {
  return envelope(MessageTypes.BOOT_ERROR, {
    code: code.slice(0, 128), message: message.slice(0, MAX_STRING), stage, detail: detail.slice(0, MAX_DETAIL)
  })
}
export function buildLoaded (): Envelope {
  return envelope(MessageTypes.LOADED, {})
}
export function buildUncaught (message: string, frame: string | null): Envelope {
  return envelope(MessageTypes.UNCAUGHT, { message: message.slice(0, MAX_STRING), frame: frame?.slice(0, 512) ?? null })
}
export function buildLeaving (): Envelope {
  return envelope(MessageTypes.LEAVING, {})
}
export function buildUnlisten (): Envelope {
  return envelope(MessageTypes.UNLISTEN, {})
}
export function buildUnlistenAck (): Envelope {
  return envelope(MessageTypes.UNLISTEN_ACK, {})
}
export function buildDrain (delay: number): Envelope {
  return envelope(MessageTypes.DRAIN, { delay })
}
export function buildAppMetricsRequest (id: number): Envelope {
  return envelope(MessageTypes.APP_METRICS_REQUEST, { id })
}
/**
 * The worker's answer: its metrics (any JSON prom-client gave; the primary validates), or an error when gathering
 * failed or the result is over MAX_METRICS_CHARS. Measuring means serializing once more: a scrape is rare.
 */
export function buildAppMetrics (id: number, metrics: unknown[] | Error): Envelope {
  if (metrics instanceof Error) return envelope(MessageTypes.APP_METRICS, { id, error: metrics.message.slice(0, MAX_STRING) })
  const size = JSON.stringify(metrics).length
  if (size > MAX_METRICS_CHARS) {
    return envelope(MessageTypes.APP_METRICS, { id, error: `the metrics are ${size} characters of JSON, over the ${MAX_METRICS_CHARS} limit` })
  }
  return envelope(MessageTypes.APP_METRICS, { id, metrics })
}
export function buildClusterMetricsRequest (id: number): Envelope {
  return envelope(MessageTypes.CLUSTER_METRICS_REQUEST, { id })
}
export function buildClusterMetrics (id: number, body: string | Error): Envelope {
  if (body instanceof Error) return envelope(MessageTypes.CLUSTER_METRICS, { id, error: body.message.slice(0, MAX_STRING) })
  if (body.length > MAX_METRICS_CHARS) {
    return envelope(MessageTypes.CLUSTER_METRICS, { id, error: `the aggregate is ${body.length} characters, over the ${MAX_METRICS_CHARS} limit` })
  }
  return envelope(MessageTypes.CLUSTER_METRICS, { id, body })
}
/** Sent with the socket as the handle; base64 because the channel is JSON. */
export function buildStickyConnection (head: Buffer | null): Envelope {
  return envelope(MessageTypes.STICKY_CONNECTION, head === null || head.length === 0 ? {} : { head: head.toString('base64') })
}

/**
 * Largest `head` a sticky-connection message carries, as base64: the primary stops reading at 16 KiB, but one read
 * may bring up to 64 KiB more.
 */
const MAX_STICKY_HEAD = 4 * Math.ceil((80 * 1024) / 3)
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

class Invalid extends Error {}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function field (obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

function object (obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = field(obj, key)
  if (!isPlainObject(value) || Object.keys(value).length > MAX_KEYS) throw new Invalid(`${key} is not a small object`)
  return value
}

function number (obj: Record<string, unknown>, key: string, min: number, max: number): number {
  const value = field(obj, key)
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new Invalid(`${key} is not a number from ${min} to ${max}`)
  }
  return value
}

const INSPECTOR_URL = /^ws:\/\/127\.0\.0\.1:\d{1,5}\/[\w-]{1,64}$/

function string (obj: Record<string, unknown>, key: string, max = MAX_STRING): string {
  const value = field(obj, key)
  if (typeof value !== 'string' || value.length > max) throw new Invalid(`${key} is not a short string`)
  return value
}

function boolean (obj: Record<string, unknown>, key: string): boolean {
  const value = field(obj, key)
  if (typeof value !== 'boolean') throw new Invalid(`${key} is not a boolean`)
  return value
}

/** A request id: a non-negative integer. */
function requestId (obj: Record<string, unknown>): number {
  const id = number(obj, 'id', 0, 2 ** 31 - 1)
  if (!Number.isInteger(id)) throw new Invalid('id is not an integer')
  return id
}

function oneOf<T extends string> (value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new Invalid(`${what} is not one of ${allowed.join(', ')}`)
  return value as T
}

/**
 * A worker's metrics, copied field by field into fresh objects within fixed budgets. Names must be valid
 * Prometheus names, since they are written into the exposition unescaped; help and label values are escaped by
 * prom-client. A value JSON could not carry (NaN, Infinity arrive as null) is dropped.
 */
function metricsList (raw: unknown): MetricJSON[] {
  if (!Array.isArray(raw) || raw.length > MAX_METRICS) throw new Invalid(`metrics is not an array of at most ${MAX_METRICS}`)
  let budget = MAX_METRIC_VALUES
  // Names already checked: a histogram repeats the same few across thousands of values.
  const names = new Set<string>()
  const checkName = (value: unknown, pattern: RegExp, what: string): string => {
    if (typeof value !== 'string' || value.length > MAX_STRING) throw new Invalid(`${what} is not a short string`)
    if (!names.has(value)) {
      if (!pattern.test(value)) throw new Invalid(`${what} is not a ${pattern === LABEL_NAME ? 'label' : 'metric'} name`)
      names.add(value)
    }
    return value
  }
  return raw.map((m: unknown, i): MetricJSON => {
    if (!isPlainObject(m)) throw new Invalid(`metrics[${i}] is not an object`)
    const name = checkName(field(m, 'name'), METRIC_NAME, `metrics[${i}].name`)
    const values = field(m, 'values')
    if (!Array.isArray(values) || values.length > budget) throw new Invalid(`metrics[${i}].values is not an array within ${MAX_METRIC_VALUES} values in all`)
    budget -= values.length
    const aggregator = field(m, 'aggregator')
    const checked: MetricValue[] = []
    for (const v of values as unknown[]) {
      if (!isPlainObject(v)) throw new Invalid(`a value of ${name} is not an object`)
      const value = field(v, 'value')
      if (value === null) continue
      if (typeof value !== 'number') throw new Invalid(`a value of ${name} is not a number`)
      const rawLabels = field(v, 'labels') ?? {}
      if (!isPlainObject(rawLabels)) throw new Invalid(`labels of ${name} are not a small object`)
      const keys = Object.keys(rawLabels)
      if (keys.length > MAX_LABELS) throw new Invalid(`labels of ${name} are not a small object`)
      const labels: Record<string, string | number> = Object.create(null)
      for (const key of keys) {
        checkName(key, LABEL_NAME, `a label of ${name}`)
        const label = rawLabels[key]
        if (!(typeof label === 'string' && label.length <= MAX_STRING) && typeof label !== 'number') throw new Invalid(`label ${key} of ${name} is not a short string or a number`)
        labels[key] = label
      }
      const metricName = field(v, 'metricName')
      if (metricName === undefined) checked.push({ value, labels })
      else checked.push({ value, labels, metricName: checkName(metricName, METRIC_NAME, `a metricName of ${name}`) })
    }
    return {
      name,
      help: string(m, 'help'),
      type: oneOf(field(m, 'type'), METRIC_TYPES, `metrics[${i}].type`),
      // prom-client's own default, for a registry too old to say.
      aggregator: aggregator === undefined ? 'sum' : oneOf(aggregator, METRIC_AGGREGATORS, `metrics[${i}].aggregator`),
      values: checked
    }
  })
}

/** Checks a worker's metrics (see `metricsList`). Never throws. */
export function parseMetrics (metrics: UncheckedMetrics): { ok: true, metrics: MetricJSON[] } | { ok: false, reason: string } {
  try {
    return { ok: true, metrics: metricsList(metrics.unchecked) }
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message }
    throw err
  }
}

function sample (raw: Record<string, unknown>): HealthSample {
  const s = object(raw, 'sample')
  const check = field(s, 'checkHealthy')
  if (check !== null && typeof check !== 'boolean') throw new Invalid('sample.checkHealthy is not a boolean or null')
  return {
    eventLoopDelay: number(s, 'eventLoopDelay', 0, Number.MAX_SAFE_INTEGER),
    eventLoopUtilization: number(s, 'eventLoopUtilization', 0, 1),
    heapUsed: number(s, 'heapUsed', 0, Number.MAX_SAFE_INTEGER),
    rss: number(s, 'rss', 0, Number.MAX_SAFE_INTEGER),
    underPressure: boolean(s, 'underPressure'),
    checkHealthy: check
  }
}

function open (raw: unknown): Parsed<never> | { kind: 'envelope', type: string, body: Record<string, unknown> } {
  if (!isPlainObject(raw) || field(raw, 'ns') !== PROTOCOL_NAMESPACE) return { kind: 'foreign' }
  if (Object.keys(raw).length > MAX_KEYS) return { kind: 'invalid', reason: 'too many keys' }
  const v = field(raw, 'v')
  if (v !== PROTOCOL_VERSION) return { kind: 'invalid', reason: `unsupported protocol version ${String(v).slice(0, 32)}` }
  const type = field(raw, 'type')
  if (typeof type !== 'string') return { kind: 'invalid', reason: 'type is not a string' }
  return { kind: 'envelope', type, body: raw }
}

/** Parses a message a worker sent. Never throws. */
export function parseWorkerMessage (raw: unknown): Parsed<WorkerMessage> {
  const opened = open(raw)
  if (opened.kind !== 'envelope') return opened
  const { type, body } = opened
  try {
    switch (type) {
      case MessageTypes.HEALTH:
        return { kind: 'ok', message: { type, sample: sample(body) } }
      case MessageTypes.READY: {
        const a = object(body, 'address')
        const address = { address: string(a, 'address'), port: number(a, 'port', 0, 65535), family: string(a, 'family') }
        // Only a loopback inspector URL: the primary connects to it, so it must not be pointed anywhere else.
        const inspector = body.inspector === undefined ? undefined : string(body, 'inspector')
        if (inspector !== undefined && !INSPECTOR_URL.test(inspector)) throw new Invalid('inspector must be a ws://127.0.0.1 URL')
        return { kind: 'ok', message: { type, address, sample: sample(body), ...(inspector === undefined ? {} : { inspector }) } }
      }
      case MessageTypes.BOOT_ERROR: {
        const stage = field(body, 'stage')
        if (!BOOT_STAGES.includes(stage as BootStage)) throw new Invalid('stage is not load, boot or listen')
        return {
          kind: 'ok',
          message: {
            type, code: string(body, 'code', 128), message: string(body, 'message'), stage: stage as BootStage, detail: string(body, 'detail', MAX_DETAIL)
          }
        }
      }
      case MessageTypes.UNCAUGHT: {
        const frame = field(body, 'frame')
        if (frame !== null && typeof frame !== 'string') throw new Invalid('frame is not a string or null')
        return { kind: 'ok', message: { type, message: string(body, 'message'), frame: frame === null ? null : string(body, 'frame', 512) } }
      }
      case MessageTypes.LEAVING:
      case MessageTypes.UNLISTEN:
      case MessageTypes.LOADED:
        return { kind: 'ok', message: { type } }
      case MessageTypes.APP_METRICS: {
        const id = requestId(body)
        if (body.error !== undefined) return { kind: 'ok', message: { type, id, error: string(body, 'error') } }
        return { kind: 'ok', message: { type, id, metrics: { unchecked: field(body, 'metrics') } } }
      }
      case MessageTypes.CLUSTER_METRICS_REQUEST:
        return { kind: 'ok', message: { type, id: requestId(body) } }
      default:
        return { kind: 'invalid', reason: `unknown type ${JSON.stringify(type.slice(0, 64))}` }
    }
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', reason: `${type}: ${err.message}` }
    throw err
  }
}

/** Parses a message the primary sent. Never throws. */
export function parsePrimaryMessage (raw: unknown): Parsed<PrimaryMessage> {
  const opened = open(raw)
  if (opened.kind !== 'envelope') return opened
  const { type, body } = opened
  try {
    if (type === MessageTypes.DRAIN) {
      return { kind: 'ok', message: { type, delay: number(body, 'delay', 0, 2 ** 31 - 1) } }
    }
    if (type === MessageTypes.UNLISTEN_ACK) return { kind: 'ok', message: { type } }
    if (type === MessageTypes.STICKY_CONNECTION) {
      const head = field(body, 'head')
      if (head === undefined) return { kind: 'ok', message: { type, head: null } }
      if (typeof head !== 'string' || head.length > MAX_STICKY_HEAD || !BASE64.test(head)) throw new Invalid('head is not short base64')
      return { kind: 'ok', message: { type, head: Buffer.from(head, 'base64') } }
    }
    if (type === MessageTypes.APP_METRICS_REQUEST) return { kind: 'ok', message: { type, id: requestId(body) } }
    if (type === MessageTypes.CLUSTER_METRICS) {
      const id = requestId(body)
      if (body.error !== undefined) return { kind: 'ok', message: { type, id, error: string(body, 'error') } }
      const text = field(body, 'body')
      if (typeof text !== 'string' || text.length > MAX_METRICS_CHARS) throw new Invalid(`body is not a string of at most ${MAX_METRICS_CHARS} characters`)
      return { kind: 'ok', message: { type, id, body: text } }
    }
    return { kind: 'invalid', reason: `unknown type ${JSON.stringify(type.slice(0, 64))}` }
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', reason: `${type}: ${err.message}` }
    throw err
  }
}

/*
 * The launch contract: the primary tells a worker who it is and how to run through one env var, so nothing
 * lands in argv (visible in `ps`). Only the primary writes it; only the worker runtime reads it.
 */
export const WORKER_ENV = 'FASTIFY_CLUSTER_WORKER'

export interface WorkerLaunch {
  v: typeof PROTOCOL_VERSION
  slot: number
  sampleInterval: number
  drainDelay: number
  /** The readiness route each worker adds on the app port, or `false`. */
  readinessPath: string | false
  /** Present for an app file: the `fastify start` arguments (flags, the file, `--` plugin options). */
  fastifyArgs?: string[]
  /** Bind this worker's own socket with SO_REUSEPORT instead of sharing the primary's. */
  reusePort?: boolean
  /** With `reusePort`: the port to use where the app asks for port 0, so every worker binds the same one. */
  listenPort?: number
  /** Open the inspector on 127.0.0.1 at boot and report its URL, for stuck-worker diagnostics. */
  inspect?: boolean
  /**
   * Sticky sessions: the primary listens at this address and sends each connection; the worker does not listen
   * and reports this address as its own.
   */
  sticky?: { address: string, port: number, family: string }
  /** The primary's bound on collecting app metrics, ms: a worker serving the aggregate waits a little longer. */
  metricsTimeout?: number
}

export function encodeLaunch (launch: WorkerLaunch): string {
  return JSON.stringify(launch)
}

/** Reads the launch contract, or `null` when this process was not forked by fastify-cluster. */
export function decodeLaunch (env: NodeJS.ProcessEnv): WorkerLaunch | null {
  const raw = env[WORKER_ENV]
  if (raw === undefined) return null
  let value: unknown
  try { value = JSON.parse(raw) } catch { return null }
  if (!isPlainObject(value) || value.v !== PROTOCOL_VERSION) return null
  const args = value.fastifyArgs
  if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === 'string'))) return null
  if (typeof value.slot !== 'number' || typeof value.sampleInterval !== 'number' ||
    typeof value.drainDelay !== 'number') return null
  const readinessPath = value.readinessPath
  if (readinessPath !== false && typeof readinessPath !== 'string') return null
  const { reusePort, listenPort, inspect, metricsTimeout, sticky } = value
  if (metricsTimeout !== undefined && !(typeof metricsTimeout === 'number' && metricsTimeout > 0 && metricsTimeout < 2 ** 31)) return null
  if (sticky !== undefined && !(isPlainObject(sticky) && typeof sticky.address === 'string' &&
    typeof sticky.family === 'string' && Number.isInteger(sticky.port))) return null
  if (reusePort !== undefined && typeof reusePort !== 'boolean') return null
  if (inspect !== undefined && typeof inspect !== 'boolean') return null
  if (listenPort !== undefined && !(Number.isInteger(listenPort) && (listenPort as number) > 0 && (listenPort as number) <= 65535)) return null
  return {
    v: PROTOCOL_VERSION,
    slot: value.slot,
    sampleInterval: value.sampleInterval,
    drainDelay: value.drainDelay,
    readinessPath,
    ...(args === undefined ? {} : { fastifyArgs: args as string[] }),
    ...(reusePort === true ? { reusePort } : {}),
    ...(listenPort === undefined ? {} : { listenPort: listenPort as number }),
    ...(inspect === true ? { inspect } : {}),
    ...(metricsTimeout === undefined ? {} : { metricsTimeout: metricsTimeout as number }),
    ...(sticky === undefined ? {} : { sticky: { address: sticky.address as string, port: sticky.port as number, family: sticky.family as string } })
  }
}
