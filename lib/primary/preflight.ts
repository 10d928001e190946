/*
 * What the primary checks before the first fork, for mistakes every worker would repeat: one coded error and no
 * fork instead of a crash loop. Two stages, because the first needs nothing but the arguments and the second needs
 * the network and other processes:
 * - `checkAppFile()`, synchronously while the primary is prepared: a `.ts` app on a Node that cannot load it,
 *   cluster settings in a `-c` file, and whether `-P` makes the primary's own lines pretty;
 * - `checkHostAndPort()`, asynchronously just before the first fork: the addresses resolve, and no worker of a dead
 *   primary still holds the app's port.
 * fastify-cli's values are read with lib/shared/fastify-cli-flags.ts, as the option resolver reads them.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { extname } from 'node:path'
import type { Logger } from 'pino'
import {
  FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING, FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_ORPHAN_WORKERS, FST_CLUSTER_TYPESCRIPT_UNSUPPORTED
} from '../shared/errors.js'
import { checkFastifyCliValues, fastifyCliValues } from '../shared/fastify-cli-flags.js'
import { describeValue } from '../shared/messages.js'
import { OPTIONS, OPTION_KEYS, type OptionNames, type OptionSpec, type ResolvedOptions } from '../shared/options.js'
import { findOrphanWorkers, stillListening, type ProcReader, LINUX_PROC } from './orphan-workers.js'
import { killPid } from './worker-process.js'
import { WORKER_ENV } from '../shared/protocol.js'

// Stage 1: the app file and its arguments.

/** What the primary learns from the `fastify start` arguments. */
export interface AppArgs {
  /** `-P`/`--pretty-logs` (or FASTIFY_PRETTY_LOGS, or `prettyLogs` in the -c file). */
  prettyLogs: boolean
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts'])

/** Node's flags that make it load TypeScript itself, or preload a loader (tsx, ts-node) that does. */
const TS_ENABLING_NODE_FLAGS = /^(?:--experimental-strip-types|--experimental-transform-types|--import|--require|-r|--loader|--experimental-loader)(?:=|$)/

/** What decides whether a Node process can load a `.ts` file. */
export interface TypeScriptSupport {
  /** `process.features.typescript`: "strip" or "transform" where Node strips types, else false or absent. */
  nodeStrips: string | boolean | undefined
  /** The workers' Node flags: their `execArgv` and the words of NODE_OPTIONS. */
  nodeFlags: readonly string[]
  /** `-r`/`-i` preloads given to fastify-cli. */
  preloads: readonly string[]
  nodeVersion: string
}

/**
 * A `.ts` app file on a Node that neither strips types nor preloads a loader fails in every worker with "Unknown
 * file extension": say so once, with the ways out, instead of a crash loop.
 */
export function checkTypeScriptApp (appFile: string, support: TypeScriptSupport): void {
  if (!TS_EXTENSIONS.has(extname(appFile).toLowerCase())) return
  if (support.nodeStrips === 'strip' || support.nodeStrips === 'transform' || support.nodeStrips === true) return
  if (support.preloads.some((p) => p !== '')) return
  if (support.nodeFlags.some((flag) => TS_ENABLING_NODE_FLAGS.test(flag))) return
  throw new FST_CLUSTER_TYPESCRIPT_UNSUPPORTED(appFile, support.nodeVersion)
}

/** Every spelling of a cluster setting a fastify-cli config file could use: `workers`, `drainDelay`, `drain-delay`. */
function clusterSettingNames (): Map<string, string> {
  const names = new Map<string, string>()
  for (const key of OPTION_KEYS) {
    const cli = (OPTIONS[key] as OptionSpec<unknown, unknown>).cli
    if (cli === undefined) continue
    const where = `--${cli.flag} or ${cli.env}`
    const camel = cli.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
    for (const name of [cli.flag, camel, key]) names.set(name, where)
  }
  return names
}

/**
 * fastify-cli reads a `-c` file in each worker for its own flags only: a cluster setting there would be silently
 * ignored. Rejects it, saying where it goes.
 */
export function checkConfigFile (file: string, config: unknown): void {
  if (typeof config !== 'object' || config === null) return
  const names = clusterSettingNames()
  for (const key of Object.keys(config)) {
    const where = names.get(key)
    if (where !== undefined) throw new FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING(file, key, where)
  }
}

/** The `-c`/`--config` file named in the arguments (before `--`) or FASTIFY_CONFIG, as fastify-cli reads it. */
export function configFileOf (fastifyArgs: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  const given = fastifyCliValues(fastifyArgs, env).get('config')?.value
  // fastify-cli loads no file for an empty value.
  return given === '' ? undefined : given
}

/**
 * Stage 1, while the primary is prepared: checks an app file started with `fastify start` arguments, with
 * fastify-cli's own parser and loader (so flags, FASTIFY_* env vars and the `-c` file mean what they mean in the
 * workers). Throws a coded error for what every worker would fail on; anything else the parser rejects is left to
 * the workers to report.
 */
export function checkAppFile (appPath: string, fastifyArgs: readonly string[], execArgv: readonly string[],
  env: NodeJS.ProcessEnv = process.env): AppArgs {
  const parseCliArgs = require('fastify-cli/args.js') as typeof import('fastify-cli/args.js')
  const cli = require('fastify-cli/util.js') as typeof import('fastify-cli/util.js')
  const configFile = configFileOf(fastifyArgs, env)
  if (configFile !== undefined) {
    let config: unknown
    try {
      config = cli.requireModule(configFile)
    } catch {
      config = undefined // a file that cannot be loaded fails in the workers, with fastify-cli's own message
    }
    checkConfigFile(configFile, config)
  }
  let parsed: ReturnType<typeof parseCliArgs> | null = null
  try {
    parsed = parseCliArgs([...fastifyArgs])
  } catch {}
  checkTypeScriptApp(appPath, {
    nodeStrips: (process.features as { typescript?: string | boolean }).typescript,
    nodeFlags: [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/).filter((w) => w !== '')],
    preloads: [parsed?.require ?? [], parsed?.import ?? []].flat(),
    nodeVersion: process.version
  })
  return { prettyLogs: parsed?.prettyLogs === true }
}

// Stage 2: the network and other processes.

/** A resolver that answers neither way within this is treated as a failure: the workers would hang on it too. */
const LOOKUP_DEADLINE_MS = 5000
/** How long a SIGKILLed orphan gets to release the port. */
const ORPHAN_DEADLINE_MS = 5000

/** Fails with the option's name and value when `host` is neither an IP address nor a name this machine resolves. */
export async function checkResolvable (name: string, host: string,
  resolve: (host: string) => Promise<unknown> = async (h) => await lookup(h)): Promise<void> {
  if (isIP(host) !== 0) return
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(Object.assign(new Error('no answer'), { code: 'ETIMEOUT' })) }, LOOKUP_DEADLINE_MS)
    timer.unref()
  })
  try {
    await Promise.race([resolve(host), expired])
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown'
    throw new FST_CLUSTER_INVALID_OPTION(name, `an IP address or a host name this machine resolves (lookup failed: ${code})`,
      describeValue(host), { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

export interface PreflightDeps {
  env: NodeJS.ProcessEnv
  proc: ProcReader
  platform: string
}

/**
 * Stage 2, just before the first fork: the app's and the health server's addresses resolve, and workers of a dead
 * primary are cleared off the app's port. Rejects with the first coded error.
 */
export async function checkHostAndPort (options: ResolvedOptions, names: OptionNames, log: Logger,
  deps: PreflightDeps = { env: process.env, proc: LINUX_PROC, platform: process.platform }): Promise<void> {
  const cliValues = options.appFile === undefined ? null : fastifyCliValues(options.fastifyArgs, deps.env)
  const checks: Array<Promise<void>> = []
  if (options.healthPort !== undefined) checks.push(checkResolvable(names.healthHost ?? 'healthHost', options.healthHost))
  if (cliValues === null) {
    checks.push(checkResolvable(names.host ?? 'host', options.host))
  } else {
    const address = cliValues.get('address')
    if (address !== undefined) checks.push(checkResolvable(address.name, address.value))
  }
  await Promise.all(checks)
  const port = cliValues === null ? options.port : checkFastifyCliValues(cliValues)?.port ?? 0
  if (port !== 0 && deps.platform === 'linux') await stopOrphanWorkers(port, log, deps.proc)
}

/**
 * SIGKILLs workers of a dead primary that still listen on `port`, and waits until they let go of it.
 * Killing rather than refusing: such a worker's primary is gone, so nothing will ever stop it or hand it work
 * through the cluster; it is stuck (a worker whose loop runs exits as soon as its primary's channel closes); and
 * a refusal would turn every automatic restart (systemd, Kubernetes) into a loop that needs a human.
 */
export async function stopOrphanWorkers (port: number, log: Logger, proc: ProcReader = LINUX_PROC,
  deadline: number = ORPHAN_DEADLINE_MS): Promise<number[]> {
  const orphans = findOrphanWorkers(port, WORKER_ENV, proc)
  if (orphans.length === 0) return []
  const pids = orphans.map((o) => o.pid)
  log.warn({ event: 'cluster:orphan-workers', port, pids, parents: orphans.map((o) => o.ppid) },
    `workers of a primary that died still listen on port ${port}: killing pids ${pids.join(', ')}`)
  const failed: string[] = []
  for (const pid of pids) {
    try {
      killPid(pid, 'SIGKILL') // one already gone is not a failure
    } catch (err) {
      failed.push(`${pid}: ${String((err as NodeJS.ErrnoException).code)}`)
    }
  }
  if (failed.length > 0) throw new FST_CLUSTER_ORPHAN_WORKERS(port, pids.join(', '), `kill failed (${failed.join(', ')})`)
  const until = Date.now() + deadline
  for (;;) {
    const left = pids.filter((pid) => stillListening(pid, port, proc))
    if (left.length === 0) break
    if (Date.now() > until) throw new FST_CLUSTER_ORPHAN_WORKERS(port, left.join(', '), `still listening ${deadline} ms after SIGKILL`)
    // Not unref'd: before the first fork nothing else may keep the primary's event loop alive.
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  log.info({ event: 'cluster:orphan-workers-stopped', port, pids }, `stopped ${pids.length} orphan worker(s) on port ${port}`)
  return pids
}
