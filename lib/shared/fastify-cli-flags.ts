/*
 * fastify-cli's `fastify start` flags: what `fastify-cluster start` accepts and passes to each worker, where
 * fastify-cli's own parser reads them. The primary checks the values a worker would choke on (a port, a timeout,
 * a log level) before anything is forked, so a typo costs one coded error instead of a crash loop.
 */
import { parseArgs } from 'node:util'
import { FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_OPTION_OUT_OF_RANGE } from './errors.js'
import { describeValue } from './messages.js'
import { MAX_TIMER_MS, parseInteger } from './units.js'

/** One command-line flag of `fastify-cluster start`. */
export interface FlagSpec {
  /** Long name, kebab-case, without dashes. */
  name: string
  short?: string
  type: 'string' | 'boolean'
  /** Env vars read when the flag is absent, first wins. */
  env?: string[]
  /** Shown in --help. */
  default?: string
  description: string
  /** May be given more than once (`-r a -r b`). */
  repeatable?: boolean
  /** For a cluster flag: the `start()` option it sets. Flags without one are fastify-cli's and go to the workers. */
  option?: string
  /** Set when the flag is known but not available with workers yet: the reason, shown as the error. */
  unsupported?: string
}

/** pino's levels, the only ones a worker's logger knows without a logging module. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** `fastify start` flags of fastify-cli 8, handed to fastify-cli's own parser in each worker. */
export const FASTIFY_FLAGS: readonly FlagSpec[] = [
  { name: 'port', short: 'p', type: 'string', env: ['FASTIFY_PORT', 'PORT'], default: '3000', description: 'Port to listen on' },
  { name: 'address', short: 'a', type: 'string', env: ['FASTIFY_ADDRESS'], default: 'localhost (0.0.0.0 in a container)', description: 'Address to listen on' },
  { name: 'socket', short: 's', type: 'string', env: ['FASTIFY_SOCKET'], description: 'Unix socket to listen on' },
  { name: 'log-level', short: 'l', type: 'string', env: ['FASTIFY_LOG_LEVEL'], default: 'fatal', description: "Log level of the app's logger" },
  { name: 'require', short: 'r', type: 'string', env: ['FASTIFY_REQUIRE'], repeatable: true, description: 'Module to preload in each worker (repeatable)' },
  { name: 'import', short: 'i', type: 'string', env: ['FASTIFY_IMPORT'], repeatable: true, description: 'ES module to preload in each worker (repeatable)' },
  { name: 'logging-module', short: 'L', type: 'string', env: ['FASTIFY_LOGGING_MODULE'], description: 'Path to a logging configuration module' },
  { name: 'pretty-logs', short: 'P', type: 'boolean', env: ['FASTIFY_PRETTY_LOGS'], default: 'false', description: "Pretty-print the app's logs (needs pino-pretty)" },
  { name: 'options', short: 'o', type: 'boolean', env: ['FASTIFY_OPTIONS'], default: 'false', description: "Use the app file's exported `options`" },
  { name: 'prefix', short: 'x', type: 'string', env: ['FASTIFY_PREFIX'], description: 'Route prefix for the app' },
  { name: 'body-limit', type: 'string', env: ['FASTIFY_BODY_LIMIT'], description: 'Maximum request body size, bytes' },
  { name: 'plugin-timeout', short: 'T', type: 'string', env: ['FASTIFY_PLUGIN_TIMEOUT'], default: '10000', description: 'Maximum time a plugin may take to load, ms' },
  { name: 'close-grace-delay', short: 'g', type: 'string', env: ['FASTIFY_CLOSE_GRACE_DELAY'], description: 'Accepted for compatibility: when given (and --stop-timeout is not), sets the stop timeout' },
  { name: 'trust-proxy-enabled', type: 'boolean', env: ['FASTIFY_TRUST_PROXY_ENABLED'], description: 'Trust all proxies' },
  { name: 'trust-proxy-ips', type: 'string', env: ['FASTIFY_TRUST_PROXY_IPS'], description: 'Trust these proxy addresses' },
  { name: 'trust-proxy-hop', type: 'string', env: ['FASTIFY_TRUST_PROXY_HOP'], description: 'Trust this many proxy hops' },
  { name: 'config', short: 'c', type: 'string', env: ['FASTIFY_CONFIG'], description: 'Configuration file for the fastify-cli flags' },
  { name: 'watch', short: 'w', type: 'boolean', env: ['FASTIFY_WATCH'], description: 'Reload the workers one by one (rolling reload) when a file changes' },
  { name: 'ignore-watch', type: 'string', env: ['FASTIFY_IGNORE_WATCH'], description: 'Space-separated patterns not to watch, added to fastify-cli\'s defaults (node_modules build dist .git ...)' },
  { name: 'follow-watch', type: 'string', env: ['FASTIFY_FOLLOW_WATCH'], description: 'Directory to watch instead of the working directory' },
  { name: 'verbose-watch', short: 'V', type: 'boolean', env: ['FASTIFY_VERBOSE_WATCH'], description: 'Log every change the watcher sees' },
  { name: 'debug', short: 'd', type: 'boolean', env: ['FASTIFY_DEBUG'], description: 'Not available with workers', unsupported: '--debug is not supported with workers: run node --inspect on fastify-cluster (Node gives each worker its own inspector port)' },
  { name: 'debug-port', short: 'I', type: 'string', env: ['FASTIFY_DEBUG_PORT'], description: 'Not available with workers (goes with --debug)' },
  { name: 'debug-host', type: 'string', env: ['FASTIFY_DEBUG_HOST'], description: 'Not available with workers (goes with --debug)' },
  { name: 'help', short: 'h', type: 'boolean', description: 'Show this help' }
]

/** A value fastify-cli will use, and how the user gave it (`--port`, `FASTIFY_PORT`). */
export interface GivenValue {
  name: string
  value: string
}

/**
 * The string values fastify-cli will see for its flags, as its parser takes them: the last occurrence in `args`
 * (before `--`), else the env var. A `-c` config file is read by fastify-cli in the worker, not here.
 */
export function fastifyCliValues (args: readonly string[], env: NodeJS.ProcessEnv): Map<string, GivenValue> {
  const dashDash = args.indexOf('--')
  const own = dashDash === -1 ? [...args] : args.slice(0, dashDash)
  const { tokens } = parseArgs({
    args: own,
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(FASTIFY_FLAGS.map((f) => [f.name, {
      type: f.type, multiple: true, ...(f.short === undefined ? {} : { short: f.short })
    }]))
  })
  const byShort = new Map(FASTIFY_FLAGS.filter((f) => f.short !== undefined).map((f) => [f.short as string, f.name]))
  const values = new Map<string, GivenValue>()
  for (const token of tokens) {
    if (token.kind !== 'option' || typeof token.value !== 'string') continue
    const name = token.name.length === 1 ? byShort.get(token.name) : token.name
    if (name !== undefined) values.set(name, { name: `--${name}`, value: token.value })
  }
  for (const flag of FASTIFY_FLAGS) {
    if (flag.type !== 'string' || values.has(flag.name)) continue
    const key = flag.env?.find((k) => env[k] !== undefined && (k !== 'PORT' || env[k] !== ''))
    if (key !== undefined) values.set(flag.name, { name: key, value: env[key] as string })
  }
  return values
}

/** fastify-cli turns these into numbers with `Number()`; anything else reaches Fastify as a string and throws. */
function cliNumber (given: GivenValue, min: number, max: number, unit: string): void {
  const allowed = `an integer from ${min} to ${max} (${unit})`
  const n = given.value.trim() === '' ? Number.NaN : Number(given.value)
  if (Number.isNaN(n)) throw new FST_CLUSTER_INVALID_OPTION(given.name, allowed, describeValue(given.value))
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FST_CLUSTER_OPTION_OUT_OF_RANGE(given.name, allowed, describeValue(given.value))
  }
}

/**
 * Checks the fastify-cli values a worker would fail on at boot, before any fork. Returns the app port fastify-cli
 * will use (with how it was given), or `null` for a Unix socket. The address is resolved later (asynchronously,
 * still before any fork) by the preflight.
 */
export function checkFastifyCliValues (values: ReadonlyMap<string, GivenValue>): { port: number, name: string } | null {
  const port = values.get('port')
  const portNumber = port === undefined ? 3000 : parseInteger(port.name, port.value, 0, 65535)
  const timeout = values.get('plugin-timeout')
  if (timeout !== undefined) cliNumber(timeout, 0, MAX_TIMER_MS, 'milliseconds')
  const bodyLimit = values.get('body-limit')
  if (bodyLimit !== undefined) cliNumber(bodyLimit, 1, Number.MAX_SAFE_INTEGER, 'bytes')
  const level = values.get('log-level')
  // A logging module brings its own logger (and maybe its own levels): fastify-cli ignores --log-level then.
  if (level !== undefined && !values.has('logging-module') && !LOG_LEVELS.includes(level.value)) {
    throw new FST_CLUSTER_INVALID_OPTION(level.name, `one of ${LOG_LEVELS.join(', ')}`, describeValue(level.value))
  }
  const address = values.get('address')
  if (address !== undefined && address.value.trim() === '') {
    throw new FST_CLUSTER_INVALID_OPTION(address.name, 'an IP address or a host name', describeValue(address.value))
  }
  if (values.has('socket')) return null
  return { port: portNumber, name: port?.name ?? 'the app port (default 3000)' }
}
