import createError from '@fastify/error'

/** The optional last argument of an error that wraps another: `new FST_CLUSTER_X(..., { cause })`. */
type Cause = { cause: unknown }

/*
 * Every error fastify-cluster throws or reports. Codes are stable API: the README's errors table is checked
 * against this module by a test. Messages quote what was received and say what is allowed.
 */

/** An option, flag or env var has the wrong type. `%s` are: name, what is allowed, the value received. */
export const FST_CLUSTER_INVALID_OPTION = createError<[string, string, string, Cause?]>(
  'FST_CLUSTER_INVALID_OPTION', '%s must be %s, received %s', 500, TypeError)

/** An option, flag or env var is of the right type but outside what is allowed. */
export const FST_CLUSTER_OPTION_OUT_OF_RANGE = createError<[string, string, string]>(
  'FST_CLUSTER_OPTION_OUT_OF_RANGE', '%s must be %s, received %s', 500, RangeError)

/** An option key that does not exist (usually a typo). */
export const FST_CLUSTER_UNKNOWN_OPTION = createError<[string, string]>(
  'FST_CLUSTER_UNKNOWN_OPTION', 'unknown option "%s"%s', 500, TypeError)

/** Two options that cannot be used together, or a required one missing. */
export const FST_CLUSTER_CONFLICTING_OPTIONS = createError<[string]>(
  'FST_CLUSTER_CONFLICTING_OPTIONS', '%s', 500, TypeError)

/** A command-line flag that `fastify-cluster` does not know. */
export const FST_CLUSTER_UNKNOWN_FLAG = createError<[string, string]>(
  'FST_CLUSTER_UNKNOWN_FLAG', 'unknown flag "%s"%s; run with --help to list every flag', 500, TypeError)

/** A command-line flag that needs a value was given none, or a flag that takes none was given one. */
export const FST_CLUSTER_FLAG_VALUE = createError<[string]>(
  'FST_CLUSTER_FLAG_VALUE', '%s', 500, TypeError)

/** A command-line flag that may appear once was repeated. */
export const FST_CLUSTER_FLAG_REPEATED = createError<[string, string]>(
  'FST_CLUSTER_FLAG_REPEATED', 'flag %s may be given once, received it %s times', 500, TypeError)

/** The first positional argument is not a command. */
export const FST_CLUSTER_UNKNOWN_COMMAND = createError<[string, string]>(
  'FST_CLUSTER_UNKNOWN_COMMAND', 'unknown command "%s"%s; commands: start, ls, status, reload, stop, help', 500, TypeError)

/** The app file is missing or does not exist. */
export const FST_CLUSTER_APP_NOT_FOUND = createError<[string, Cause?]>(
  'FST_CLUSTER_APP_NOT_FOUND', '%s', 500, TypeError)

/** The app file loaded but does not export a Fastify plugin function. */
export const FST_CLUSTER_APP_NOT_PLUGIN = createError<[string, string, Cause?]>(
  'FST_CLUSTER_APP_NOT_PLUGIN',
  'app file "%s" must export a Fastify plugin (a function, as module.exports or export default), received %s',
  500, TypeError)

/** `NODE_UNIQUE_ID` is set but this process is not a worker forked by fastify-cluster. */
export const FST_CLUSTER_UNEXPECTED_WORKER_ENV = createError<[string]>(
  'FST_CLUSTER_UNEXPECTED_WORKER_ENV',
  'NODE_UNIQUE_ID is set to "%s" but this process was not forked by fastify-cluster; ' +
  'unset NODE_UNIQUE_ID before starting the launcher', 500, Error)

/** Workers must run this process's script again (an inline app, or the plugin's door), and there is none. */
export const FST_CLUSTER_NO_ENTRY_SCRIPT = createError<[string]>(
  'FST_CLUSTER_NO_ENTRY_SCRIPT',
  'workers run the same script as this process, and it has none (%s): start it from a file, e.g. node server.js',
  500, Error)

/** `start()` called a second time inside a worker. */
export const FST_CLUSTER_ALREADY_STARTED = createError<[]>(
  'FST_CLUSTER_ALREADY_STARTED', 'start() was already called in this worker process', 500, Error)

/** Workers keep dying before they are stable: the crash-loop breaker stopped forking. */
export const FST_CLUSTER_CRASH_LOOP = createError<[number, number, string]>(
  'FST_CLUSTER_CRASH_LOOP',
  'workers keep exiting before they are stable (%d unstable exits within %d ms); stopped forking. Last worker error: %s',
  500, Error)

/** A worker failed to boot in a way every worker would repeat (port taken, permission denied, bad app file). */
export const FST_CLUSTER_FATAL_BOOT = createError<[string, string, string]>(
  'FST_CLUSTER_FATAL_BOOT',
  'a worker cannot start (%s: %s); not retrying because every worker would fail the same way%s', 500, Error)

/** The app threw while a worker was loading or starting it. Wraps the original as `cause`. */
export const FST_CLUSTER_WORKER_BOOT = createError<[string, Cause?]>(
  'FST_CLUSTER_WORKER_BOOT', 'the app failed to start in a worker: %s', 500, Error)

/** `ready` rejected because the cluster closed before every worker became ready. */
export const FST_CLUSTER_NOT_READY = createError<[string]>(
  'FST_CLUSTER_NOT_READY', 'the cluster closed before it was ready: %s', 500, Error)


/** `reload()` while the cluster is not running with every worker ready (still starting, or closing). */
export const FST_CLUSTER_RELOAD_UNAVAILABLE = createError<[string]>(
  'FST_CLUSTER_RELOAD_UNAVAILABLE', 'cannot reload: %s', 500, Error)

/** The health server could not listen (port taken, permission denied). Wraps the original as `cause`. */
export const FST_CLUSTER_HEALTH_LISTEN = createError<[string, string, Cause?]>(
  'FST_CLUSTER_HEALTH_LISTEN', 'the health server cannot listen on %s: %s', 500, Error)

/** Sticky sessions: the primary could not listen on the app's address. Wraps the original as `cause`. */
export const FST_CLUSTER_STICKY_LISTEN = createError<[string, string, Cause?]>(
  'FST_CLUSTER_STICKY_LISTEN', 'sticky sessions: the primary cannot listen on %s: %s', 500, Error)

/** `fastify-cluster status` found no fastify-cluster health server at the URL. */
export const FST_CLUSTER_STATUS_UNREACHABLE = createError<[string, string]>(
  'FST_CLUSTER_STATUS_UNREACHABLE', 'no fastify-cluster answers at %s: %s', 500, Error)

/** A control-socket request that is not valid (not JSON, too long, wrong protocol version, unknown field). */
export const FST_CLUSTER_CONTROL_BAD_REQUEST = createError<[string]>(
  'FST_CLUSTER_CONTROL_BAD_REQUEST', 'bad control request: %s', 400, TypeError)

/** A control-socket request names a command the cluster does not answer. */
export const FST_CLUSTER_CONTROL_UNKNOWN_COMMAND = createError<[string, string]>(
  'FST_CLUSTER_CONTROL_UNKNOWN_COMMAND', 'unknown control command %s; commands: %s', 400, TypeError)

/** The per-user control directory is unsafe or unusable (not ours, loose permissions, path too long). */
export const FST_CLUSTER_CONTROL_DIR = createError<[string, string]>(
  'FST_CLUSTER_CONTROL_DIR', 'the control directory "%s" cannot be used: %s', 500, Error)

/** A running cluster's control socket did not answer (or answered something else). */
export const FST_CLUSTER_CONTROL_UNREACHABLE = createError<[string, string]>(
  'FST_CLUSTER_CONTROL_UNREACHABLE', 'cluster %s does not answer on its control socket: %s', 500, Error)

/** `fastify-cluster status|reload|stop` found no running cluster of this user matching the name or pid. */
export const FST_CLUSTER_NO_CLUSTER = createError<[string]>(
  'FST_CLUSTER_NO_CLUSTER', '%s', 500, Error)

/** Several clusters of this user run (or share the name): the command needs a name or primary pid. */
export const FST_CLUSTER_SEVERAL_CLUSTERS = createError<[string, string]>(
  'FST_CLUSTER_SEVERAL_CLUSTERS', '%s; name one: %s', 500, Error)

/** A `.ts` app file on a Node that cannot load TypeScript (no type stripping, no loader preloaded). */
export const FST_CLUSTER_TYPESCRIPT_UNSUPPORTED = createError<[string, string]>(
  'FST_CLUSTER_TYPESCRIPT_UNSUPPORTED',
  'app file "%s" is TypeScript and Node %s does not strip types: build it with tsc and start the .js file, ' +
  'use Node >= 22.18 (or 23.6), or preload a loader with -i tsx', 500, TypeError)

/** A `-c` config file sets a cluster setting; fastify-cli reads that file in each worker, for its own flags only. */
export const FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING = createError<[string, string, string]>(
  'FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING',
  'config file "%s" sets the cluster setting "%s", which a -c file cannot hold (it is read by fastify-cli in each ' +
  'worker, for the fastify start flags only): use %s, or the start() option', 500, TypeError)

/** Workers of a dead primary still hold the app's port and could not be stopped. */
export const FST_CLUSTER_ORPHAN_WORKERS = createError<[number, string, string]>(
  'FST_CLUSTER_ORPHAN_WORKERS',
  'workers left by a primary that died still listen on port %d and could not be stopped (pids %s): %s', 500, Error)
