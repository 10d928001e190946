import { parseArgs } from 'node:util'
import {
  FST_CLUSTER_APP_NOT_FOUND, FST_CLUSTER_FLAG_REPEATED, FST_CLUSTER_FLAG_VALUE, FST_CLUSTER_UNKNOWN_FLAG
} from '../shared/errors.js'
import { ALL_FLAGS, type ClusterFlagSpec, type FlagSpec } from './flags.js'
import { didYouMean } from '../shared/messages.js'
import type { ClusterOptions, OptionNames } from '../shared/options.js'

/** `fastify-cluster start` arguments, split between the cluster and fastify-cli, ready for `start()`. */
export interface StartArgs {
  help: boolean
  options: ClusterOptions
  /** How each option was given (`--workers`, `FASTIFY_WORKERS`), for error messages. */
  names: OptionNames
}

const BY_LONG = new Map(ALL_FLAGS.map((f) => [f.name, f]))
const BY_SHORT = new Map(ALL_FLAGS.filter((f) => f.short !== undefined).map((f) => [f.short as string, f]))

function lookup (name: string): FlagSpec | undefined {
  return name.length === 1 ? BY_SHORT.get(name) : BY_LONG.get(name)
}

function spelled (token: { rawName: string }): string { return token.rawName }

/**
 * Parses `start` arguments strictly (unknown flags, missing values and repeats are errors, before anything is
 * forked). Cluster flags become `start()` options; fastify-cli's flags stay in `fastifyArgs` in their original
 * form, for fastify-cli's own parser in each worker. Env vars fill cluster options whose flags are absent.
 * Values are checked by `resolveOptions()`, the same rules as for `start()` (fastify-cli's values included).
 */
export function parseStartArgs (argv: readonly string[], env: NodeJS.ProcessEnv = process.env): StartArgs {
  const dashDash = argv.indexOf('--')
  const own = dashDash === -1 ? [...argv] : argv.slice(0, dashDash)
  const rest = dashDash === -1 ? [] : argv.slice(dashDash)
  const { tokens } = parseArgs({
    args: own,
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(ALL_FLAGS.map((f) => [f.name, {
      type: f.type, multiple: true, ...(f.short === undefined ? {} : { short: f.short })
    }]))
  })

  const seen = new Map<string, number>()
  const values = new Map<FlagSpec, string | boolean>()
  const consumed = new Set<number>()
  const positionals: string[] = []
  // fastify-cli accepts `--options false` and `-P 1`: a boolean flag may take its value from the next argument.
  const booleanValues = new Map<number, boolean>()
  tokens.forEach((token, i) => {
    const next = tokens[i + 1]
    if (token.kind === 'option' && token.value === undefined && lookup(token.name)?.type === 'boolean' &&
      next?.kind === 'positional' && next.index === token.index + 1 && ['true', 'false', '1', '0'].includes(next.value)) {
      booleanValues.set(token.index, next.value === 'true' || next.value === '1')
      booleanValues.set(next.index, false)
    }
  })
  for (const token of tokens) {
    if (token.kind === 'positional' && booleanValues.has(token.index)) continue
    if (token.kind === 'positional') {
      positionals.push(token.value)
      consumed.add(token.index)
      continue
    }
    if (token.kind !== 'option') continue
    const flag = lookup(token.name)
    if (flag === undefined) {
      throw new FST_CLUSTER_UNKNOWN_FLAG(spelled(token), didYouMean(token.name, ALL_FLAGS.map((f) => f.name))
        .replace('"', '"--'))
    }
    if (flag.unsupported !== undefined) throw new FST_CLUSTER_FLAG_VALUE(flag.unsupported)
    const count = (seen.get(flag.name) ?? 0) + 1
    seen.set(flag.name, count)
    if (count > 1 && flag.repeatable !== true) throw new FST_CLUSTER_FLAG_REPEATED(spelled(token), String(count))
    if (flag.type === 'string') {
      // parseArgs (non-strict) takes the next argument as the value even if it is another flag.
      const value = token.value
      if (value === undefined || (!token.inlineValue && /^-[^\d]/.test(value))) {
        throw new FST_CLUSTER_FLAG_VALUE(`${spelled(token)} needs a value`)
      }
      values.set(flag, value)
    } else {
      if (token.value !== undefined) {
        if (!['true', 'false', '1', '0'].includes(token.value)) {
          throw new FST_CLUSTER_FLAG_VALUE(`${spelled(token)} takes no value or true/false/1/0, received "${token.value}"`)
        }
        values.set(flag, token.value === 'true' || token.value === '1')
      } else {
        values.set(flag, booleanValues.get(token.index) ?? true)
      }
      if (flag.option !== undefined && booleanValues.has(token.index)) consumed.add(token.index + 1)
    }
    if (flag.option !== undefined) {
      consumed.add(token.index)
      if (token.value !== undefined && !token.inlineValue) consumed.add(token.index + 1)
    }
  }
  // Blank boolean (the -o in "-o app.js") in a short group leaves nothing to strip; only cluster flags are stripped.

  const help = values.get(BY_LONG.get('help') as FlagSpec) === true
  if (help) return { help, options: { appFile: '-' }, names: {} }

  if (positionals.length !== 1) {
    throw positionals.length === 0
      ? new FST_CLUSTER_APP_NOT_FOUND('missing the app file: fastify-cluster start [options] <app-file>')
      : new FST_CLUSTER_FLAG_VALUE(`expected one app file, received ${positionals.length}: ${positionals.join(', ')}`)
  }
  const appFile = positionals[0] as string

  for (const flag of ALL_FLAGS) {
    const key = flag.unsupported === undefined ? undefined : flag.env?.find((k) => env[k] !== undefined && env[k] !== '' && env[k] !== 'false')
    if (key !== undefined) throw new FST_CLUSTER_FLAG_VALUE(`${key} is set: ${flag.unsupported as string}`)
  }
  const options: Record<string, unknown> = { appFile }
  const names: Record<string, string> = { appFile: '<app-file>' }
  for (const flag of ALL_FLAGS) {
    let value: unknown = values.get(flag)
    let name = `--${flag.name}`
    if (value === undefined) {
      const key = flag.env?.find((k) => env[k] !== undefined)
      if (key === undefined) continue
      value = env[key]
      name = key
    }
    // Only our own boolean flags are read here; fastify-cli reads its own env vars in each worker, its own way.
    if (flag.type === 'boolean' && typeof value === 'string' && flag.option !== undefined) {
      if (!['true', 'false', '1', '0'].includes(value)) {
        throw new FST_CLUSTER_FLAG_VALUE(`${name} must be true, false, 1 or 0, received "${value}"`)
      }
      value = value === 'true' || value === '1'
    }
    if ((flag as ClusterFlagSpec).negate === true && name.startsWith('--')) value = value !== true
    const fromFlag = (flag as ClusterFlagSpec).fromFlag
    if (flag.option !== undefined) {
      options[flag.option] = fromFlag === undefined ? value : fromFlag(value as string | boolean)
      names[flag.option] = name
    }
    if (flag.name === 'close-grace-delay' && options.workerStopTimeout === undefined && !values.has(BY_LONG.get('stop-timeout') as FlagSpec) &&
      env.FASTIFY_STOP_TIMEOUT === undefined) {
      options.workerStopTimeout = value
      names.workerStopTimeout = name
    }
  }
  options.fastifyArgs = [...own.filter((_, i) => !consumed.has(i)), ...rest]
  return { help: false, options: options as ClusterOptions, names: names as OptionNames }
}
