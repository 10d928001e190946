import type { ClusterOptions } from './options.js'

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
  option?: keyof ClusterOptions
  /** Set when the flag is known but not available with workers yet: the reason, shown as the error. */
  unsupported?: string
}

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

/** Flags of the cluster itself; they resolve through `resolveOptions()` like the programmatic options. */
export const CLUSTER_FLAGS: readonly FlagSpec[] = [
  { name: 'workers', type: 'string', env: ['FASTIFY_WORKERS'], default: 'number of CPU cores', option: 'workers', description: 'Number of workers, or "max"' },
  { name: 'startup-timeout', type: 'string', env: ['FASTIFY_STARTUP_TIMEOUT'], default: '30s', option: 'startupTimeout', description: 'A worker not ready by then is killed and counts as a failed start' },
  { name: 'stop-timeout', type: 'string', env: ['FASTIFY_STOP_TIMEOUT'], default: '10s', option: 'workerStopTimeout', description: 'Time a draining worker has to close before SIGTERM, then SIGKILL' },
  { name: 'drain-delay', type: 'string', env: ['FASTIFY_DRAIN_DELAY'], default: '0', option: 'drainDelay', description: 'On shutdown, keep serving this long before closing' },
  { name: 'force-kill-delay', type: 'string', env: ['FASTIFY_FORCE_KILL_DELAY'], default: '1s', option: 'forceKillDelay', description: 'Time between SIGTERM and SIGKILL of a worker that would not stop' },
  { name: 'sample-interval', type: 'string', env: ['FASTIFY_SAMPLE_INTERVAL'], default: '1s', option: 'sampleInterval', description: 'How often each worker reports its health' },
  { name: 'restart-delay', type: 'string', env: ['FASTIFY_RESTART_DELAY'], default: '100ms', option: 'restartDelay', description: 'First delay before replacing a crashed worker (doubles per crash)' },
  { name: 'max-restart-delay', type: 'string', env: ['FASTIFY_MAX_RESTART_DELAY'], default: '15s', option: 'maxRestartDelay', description: 'Cap of the restart delay' },
  { name: 'stable-uptime', type: 'string', env: ['FASTIFY_STABLE_UPTIME'], default: '10s', option: 'stableUptime', description: 'Uptime after which a worker counts as stable' },
  { name: 'crash-loop-limit', type: 'string', env: ['FASTIFY_CRASH_LOOP_LIMIT'], default: '5', option: 'crashLoopLimit', description: 'Unstable exits within the window that stop the cluster' },
  { name: 'crash-loop-window', type: 'string', env: ['FASTIFY_CRASH_LOOP_WINDOW'], default: '60s', option: 'crashLoopWindow', description: 'Window in which unstable exits are counted' },
  { name: 'heartbeat-timeout', type: 'string', env: ['FASTIFY_HEARTBEAT_TIMEOUT'], default: '5s', option: 'heartbeatTimeout', description: 'A ready worker silent this long is stuck: killed and replaced (at least 2x --sample-interval)' },
  { name: 'max-heap-used', type: 'string', env: ['FASTIFY_MAX_HEAP_USED'], default: '0 (off)', option: 'maxHeapUsedBytes', description: 'Recycle a worker whose heap used stays above this (bytes or "512MB")' },
  { name: 'max-rss', type: 'string', env: ['FASTIFY_MAX_RSS'], default: '0 (off)', option: 'maxRssBytes', description: 'Recycle a worker whose RSS stays above this (bytes or "1GB")' },
  { name: 'max-event-loop-delay', type: 'string', env: ['FASTIFY_MAX_EVENT_LOOP_DELAY'], default: '0 (off)', option: 'maxEventLoopDelay', description: 'Recycle a worker whose event-loop delay stays above this (unless most workers do: overload)' },
  { name: 'max-event-loop-utilization', type: 'string', env: ['FASTIFY_MAX_EVENT_LOOP_UTILIZATION'], default: '0 (off)', option: 'maxEventLoopUtilization', description: 'Recycle a worker whose event-loop utilisation (0..1) stays above this (unless most workers do)' },
  { name: 'unhealthy-checks', type: 'string', env: ['FASTIFY_UNHEALTHY_CHECKS'], default: '3', option: 'unhealthyChecks', description: 'Consecutive bad samples before a threshold recycles' },
  { name: 'recycle-grace-period', type: 'string', env: ['FASTIFY_RECYCLE_GRACE_PERIOD'], default: '10s', option: 'recycleGracePeriod', description: 'No threshold recycle this soon after a worker became ready' },
  { name: 'max-concurrent-recycles', type: 'string', env: ['FASTIFY_MAX_CONCURRENT_RECYCLES'], default: '1', option: 'maxConcurrentRecycles', description: 'Workers being replaced at once, at most' },
  { name: 'reload-surge', type: 'string', env: ['FASTIFY_RELOAD_SURGE'], default: '25%', option: 'reloadSurge', description: 'Workers a rolling reload replaces at once: a count or a percentage of --workers (rounded up)' },
  { name: 'recycle-budget', type: 'string', env: ['FASTIFY_RECYCLE_BUDGET'], default: '3', option: 'recycleBudget', description: 'Threshold recycles allowed per --recycle-budget-window' },
  { name: 'recycle-budget-window', type: 'string', env: ['FASTIFY_RECYCLE_BUDGET_WINDOW'], default: '10m', option: 'recycleBudgetWindow', description: 'Window of --recycle-budget' },
  { name: 'recycle-on-health-check', type: 'boolean', env: ['FASTIFY_RECYCLE_ON_HEALTH_CHECK'], default: 'false', option: 'recycleOnHealthCheck', description: "Also recycle a worker whose own healthCheck keeps failing (by default it feeds readiness only)" },
  { name: 'stuck-diagnostics', type: 'boolean', env: ['FASTIFY_STUCK_DIAGNOSTICS'], default: 'false', option: 'stuckDiagnostics', description: 'Capture the JS stack of a stuck worker (inspector on 127.0.0.1) to a file before killing it; Node >= 22' },
  { name: 'health-port', type: 'string', env: ['FASTIFY_HEALTH_PORT'], default: 'off', option: 'healthPort', description: "Port of the primary's health server (/live, /ready, /status, /metrics)" },
  { name: 'health-address', type: 'string', env: ['FASTIFY_HEALTH_ADDRESS'], default: '127.0.0.1', option: 'healthHost', description: 'Address of the health server' },
  { name: 'health-status', type: 'boolean', env: ['FASTIFY_HEALTH_STATUS'], default: 'on for a loopback address', option: 'healthStatus', description: 'Serve /status (workers, pids, samples) on the health server' },
  { name: 'min-ready', type: 'string', env: ['FASTIFY_MIN_READY'], default: '1', option: 'minReady', description: '/ready is 200 while at least this many workers are ready' },
  { name: 'readiness-path', type: 'string', env: ['FASTIFY_READINESS_PATH'], default: '/health', option: 'readinessPath', description: 'Readiness route on the app port (503 while draining or under pressure); "false" disables it' },
  { name: 'reuse-port', type: 'boolean', env: ['FASTIFY_REUSE_PORT'], default: 'false', option: 'reusePort', description: 'Each worker binds its own socket (SO_REUSEPORT) and the kernel spreads connections; Node >= 22.12, Linux/FreeBSD' },
  { name: 'scheduling-policy', type: 'string', env: ['FASTIFY_SCHEDULING_POLICY'], default: "Node's (rr)", option: 'schedulingPolicy', description: 'Connection distribution without --reuse-port: rr (round-robin by the primary) or none (the OS decides)' },
  { name: 'cluster-log-level', type: 'string', env: ['FASTIFY_CLUSTER_LOG_LEVEL'], default: 'info', option: 'logger', description: "Level of the primary's own log (pino JSON on stdout)" }
]

export const ALL_FLAGS: readonly FlagSpec[] = [...FASTIFY_FLAGS, ...CLUSTER_FLAGS]

function row (flag: FlagSpec): string {
  const names = `${flag.short === undefined ? '    ' : `-${flag.short}, `}--${flag.name}${flag.type === 'string' ? ' <value>' : ''}`
  const extras = [
    flag.env === undefined ? '' : `env: ${flag.env.join(' or ')}`,
    flag.default === undefined ? '' : `default: ${flag.default}`
  ].filter((s) => s !== '').join('; ')
  return `  ${names}\n      ${flag.description}${extras === '' ? '' : ` [${extras}]`}`
}

/** The text of `fastify-cluster start --help`. */
export function startHelp (): string {
  return [
    'Usage: fastify-cluster start [options] <app-file> [--] [<plugin-options>]',
    '',
    'Runs a Fastify app (fastify-cli format) on several worker processes and keeps them healthy.',
    'Durations take ms or a unit ("500ms", "10s", "2m"). Options after -- are passed to the app plugin.',
    '',
    'Cluster options:',
    ...CLUSTER_FLAGS.map(row),
    '',
    'fastify start options (fastify-cli 8, same meaning):',
    ...FASTIFY_FLAGS.map(row),
    '',
    'Signals: SIGTERM or SIGINT drains every worker and exits 0 (1 if a worker had to be killed);',
    'a second signal kills the workers and exits 1. SIGHUP reloads the workers one by one (rolling reload).',
    '',
    'Examples:',
    '  fastify-cluster start --workers 4 -p 8080 app.js',
    '  FASTIFY_WORKERS=max fastify-cluster start --drain-delay 5s app.js -- --my-plugin-option 1',
    ''
  ].join('\n')
}

/** The text of `fastify-cluster --help`. */
export function mainHelp (): string {
  return [
    'Usage: fastify-cluster <command> [options]',
    '',
    'Commands:',
    '  start <app-file>   run the app on several workers (fastify-cluster start --help for options)',
    '  status             show a running cluster\'s workers (fastify-cluster status --help)',
    '  help               show this help',
    ''
  ].join('\n')
}
