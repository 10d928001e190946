/**
 * Checks on an app file and its `fastify start` arguments that the primary makes once, before forking, for
 * mistakes every worker would repeat: a `.ts` app on a Node that cannot load it, cluster settings in a `-c` file.
 */
import { extname } from 'node:path'
import { parseArgs } from 'node:util'
import { CLUSTER_FLAGS, FASTIFY_FLAGS } from './cli-flags.js'
import { FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING, FST_CLUSTER_TYPESCRIPT_UNSUPPORTED } from './errors.js'

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
  for (const flag of CLUSTER_FLAGS) {
    if (flag.option === undefined) continue
    const where = `--${flag.name}${flag.env === undefined ? '' : ` or ${flag.env.join(', ')}`}`
    const camel = flag.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
    for (const name of [flag.name, camel, flag.option]) names.set(name, where)
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
  const dashDash = fastifyArgs.indexOf('--')
  const own = dashDash === -1 ? [...fastifyArgs] : fastifyArgs.slice(0, dashDash)
  const { values } = parseArgs({
    args: own,
    strict: false,
    allowPositionals: true,
    options: Object.fromEntries(FASTIFY_FLAGS.map((f) => [f.name, {
      type: f.type, multiple: true, ...(f.short === undefined ? {} : { short: f.short })
    }]))
  })
  const given = values.config
  const last = Array.isArray(given) ? given[given.length - 1] : given
  if (typeof last === 'string' && last !== '') return last
  const fromEnv = env.FASTIFY_CONFIG
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv
}

/**
 * Runs the checks for an app file started with `fastify start` arguments, with fastify-cli's own parser and
 * loader (so flags, FASTIFY_* env vars and the `-c` file mean what they mean in the workers). Throws a coded
 * error for what every worker would fail on; anything else the parser rejects is left to the workers to report.
 */
export function preflightAppFile (appPath: string, fastifyArgs: readonly string[], execArgv: readonly string[],
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
