/*
 * `fastify-cluster ls`, `reload` and `stop`: clients of the clusters' control sockets (no health port needed).
 * Each resolves with the exit code; errors are thrown coded, for the CLI to print.
 */
import { parseArgs } from 'node:util'
import { ask, describeEntry, findClusters, pickCluster } from './control-client.js'
import type { ClusterSummary } from '../shared/control-protocol.js'
import type { RegistryEntry } from '../shared/control-registry.js'
import { FST_CLUSTER_FLAG_VALUE, FST_CLUSTER_UNKNOWN_FLAG } from '../shared/errors.js'
import { didYouMean } from '../shared/messages.js'
import type { ReloadResult } from '../shared/events.js'
import { pidAlive } from '../shared/control-registry.js'

export interface CommandIo {
  stdout: (text: string) => void
  env: NodeJS.ProcessEnv
}

type FlagSet = Record<string, { type: 'string' | 'boolean', short?: string }>

/** Strict parsing shared by the commands: known flags only, at most `maxPositionals` operands. */
export function parseCommandArgs<F extends FlagSet> (command: string, argv: readonly string[], flags: F, maxPositionals: number):
{ values: Record<string, string | boolean | undefined>, positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: true })
  } catch (err) {
    const e = err as { code?: string, message: string }
    const flag = /'([^']+)'/.exec(e.message)?.[1] ?? e.message
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new FST_CLUSTER_UNKNOWN_FLAG(flag, didYouMean(flag.replace(/^-+/, ''), Object.keys(flags)).replace('"', '"--'))
    }
    throw new FST_CLUSTER_FLAG_VALUE(e.message)
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new FST_CLUSTER_FLAG_VALUE(`${command} takes at most ${maxPositionals} name or pid, received ${parsed.positionals.map((p) => `"${p}"`).join(', ')}`)
  }
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals }
}

/** `12s`, `5m03s`, `2h07m`, `3d04h`. */
export function formatDuration (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`
}

/** Left-aligned columns, two spaces apart. */
export function table (header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [header, ...rows].map((cells) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd())
}

const HELP: Record<string, string> = {
  ls: [
    'Usage: fastify-cluster ls [--json]',
    '',
    "Lists this user's running clusters (read from their control sockets).",
    '',
    '  --json       one JSON array',
    '  -h, --help   show this help',
    ''
  ].join('\n'),
  reload: [
    'Usage: fastify-cluster reload [<name>|<pid>] [--json]',
    '',
    'Rolling reload: replaces every worker, one at a time, each new one ready before the old one drains.',
    'Waits for the end and prints old -> new pid per slot. Exit 0 when every worker was replaced, 1 when',
    'the pass stopped (a new worker failed to start: the old ones keep serving). The name or primary pid',
    'may be left out when exactly one cluster of this user runs.',
    '',
    '  --json       print the result as JSON',
    '  -h, --help   show this help',
    ''
  ].join('\n'),
  stop: [
    'Usage: fastify-cluster stop [<name>|<pid>] [--json]',
    '',
    'Graceful stop, as on SIGTERM: every worker drains and closes. Waits until the primary has exited and',
    "exits with the cluster's own exit code (0 clean, 1 if a worker had to be killed).",
    '',
    '  --json       print the result as JSON',
    '  -h, --help   show this help',
    ''
  ].join('\n')
}

const FLAGS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const

/** `ls`: every cluster of this user; one that does not answer is listed as such. */
export async function ls (argv: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs('ls', argv, FLAGS, 0)
  if (values.help === true) {
    io.stdout(HELP.ls ?? '')
    return 0
  }
  const entries = findClusters(io.env)
  const answers = await Promise.all(entries.map(async (entry) => {
    try {
      return await ask(entry, 'info', 3000) as ClusterSummary
    } catch (err) {
      return { entry, error: err as Error & { code?: string } }
    }
  }))
  const rows: Array<ClusterSummary | (Pick<RegistryEntry, 'name' | 'pid' | 'address' | 'startedAt'> & { status: string, error: string })> = []
  for (const answer of answers) {
    if ('error' in answer) {
      // Gone between the listing and the question: not running.
      if (answer.error.code === 'FST_CLUSTER_NO_CLUSTER') continue
      const { name, pid, address, startedAt } = answer.entry
      rows.push({ name, pid, address, startedAt, status: 'not answering', error: answer.error.message })
    } else {
      rows.push(answer)
    }
  }
  if (values.json === true) {
    io.stdout(`${JSON.stringify(rows)}\n`)
    return 0
  }
  if (rows.length === 0) {
    io.stdout('no fastify-cluster of this user is running\n')
    return 0
  }
  const now = Date.now()
  io.stdout(table(['NAME', 'PID', 'STATUS', 'WORKERS', 'ADDRESS', 'UPTIME', 'RESTARTS', 'RECYCLES'], rows.map((r) => 'workers' in r
    ? [r.name, String(r.pid), r.status + (r.degraded === true ? ' DEGRADED' : ''), `${r.workers.ready}/${r.workers.total}`, r.address ?? '-', formatDuration(r.uptime), String(r.restarts), String(r.recycles)]
    : [r.name, String(r.pid), r.status, '-', r.address ?? '-', formatDuration(now - r.startedAt), '-', '-']
  )).join('\n') + '\n')
  return 0
}

/** The slot lines of a reload result: `slot 0: 1001 -> 1010`. */
export function renderReload (result: ReloadResult): string[] {
  const lines = result.replaced.map((r) => `slot ${r.slot}: ${String(r.oldPid)} -> ${String(r.newPid)}`)
  const failed = result.failed
  if (failed !== null) {
    lines.push(`slot ${failed.slot}: ${String(failed.oldPid)} kept` +
      (failed.newPid === null ? '' : ` (its replacement ${failed.newPid} failed${failed.error === undefined ? '' : `: ${failed.error}`})`))
  }
  const seconds = `${(result.durationMs / 1000).toFixed(1)}s`
  lines.push(result.aborted === null
    ? `reloaded ${result.replaced.length} worker${result.replaced.length === 1 ? '' : 's'} in ${seconds}`
    : `reload stopped after ${seconds} (${result.aborted === 'failure' ? 'a new worker failed to start' : 'the cluster is shutting down'}): the old workers keep serving`)
  return lines
}

/** `reload`: waits for the pass; 0 when every slot was replaced, 1 when it stopped early. */
export async function reload (argv: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('reload', argv, FLAGS, 1)
  if (values.help === true) {
    io.stdout(HELP.reload ?? '')
    return 0
  }
  const entry = pickCluster(findClusters(io.env), positionals[0])
  if (values.json !== true) io.stdout(`reloading ${describeEntry(entry)}\n`)
  const result = await ask(entry, 'reload', null) as ReloadResult
  io.stdout(values.json === true ? `${JSON.stringify(result)}\n` : `${renderReload(result).join('\n')}\n`)
  return result.aborted === null ? 0 : 1
}

/** `stop`: asks for a graceful stop, waits for the primary to exit, returns the cluster's exit code. */
export async function stop (argv: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('stop', argv, FLAGS, 1)
  if (values.help === true) {
    io.stdout(HELP.stop ?? '')
    return 0
  }
  const entry = pickCluster(findClusters(io.env), positionals[0])
  if (values.json !== true) io.stdout(`stopping ${describeEntry(entry)}\n`)
  const started = Date.now()
  const exit = await ask(entry, 'stop', null) as { code: number, reason: string, forced: boolean } | null
  // The answer comes just before the primary exits: wait for that too (bounded: it has nothing left to do).
  const deadline = Date.now() + 10_000
  while (pidAlive(entry.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const code = typeof exit?.code === 'number' ? exit.code : 1
  if (values.json === true) io.stdout(`${JSON.stringify({ name: entry.name, pid: entry.pid, ...exit, exited: !pidAlive(entry.pid) })}\n`)
  else io.stdout(`stopped ${describeEntry(entry)} in ${((Date.now() - started) / 1000).toFixed(1)}s: exit code ${code}${exit?.forced === true ? ' (workers had to be killed)' : ''}\n`)
  return code
}
