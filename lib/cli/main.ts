#!/usr/bin/env node
/*
 * The `fastify-cluster` command: a thin layer over `start()` and the control commands. The only place that calls
 * process.exit.
 *
 * Its first act is to hold the primary's signals (signals.ts has no dependency): everything else loads lazily,
 * after that, so a SIGHUP or SIGTERM in the first milliseconds is handled instead of killing the process.
 */
import { HeldSignals, releaseHungUpTerminal } from '../shared/signals.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ClusterHandle } from '../shared/cluster-handle.js'
import type { StatusDocument } from './status-command.js'

const held = require.main === module ? new HeldSignals() : null

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
  /** Colours and in-place refresh only on a terminal. */
  isTTY: boolean
}

const PROCESS_IO: CliIo = {
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) },
  env: process.env,
  isTTY: process.stdout.isTTY === true
}

/** Exit code when no cluster matches (as LSB init scripts say "not running"). */
export const EXIT_NO_CLUSTER = 3

function report (io: CliIo, err: unknown): void {
  const e = err as { code?: unknown, message?: unknown }
  io.stderr(typeof e?.code === 'string'
    ? `fastify-cluster: ${e.code}: ${String(e.message)}\n`
    : `fastify-cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
}

function exitCodeOf (err: unknown): number {
  return (err as { code?: unknown })?.code === 'FST_CLUSTER_NO_CLUSTER' ? EXIT_NO_CLUSTER : 1
}

/** The package's version, from its package.json (three levels above dist/lib/cli, two above lib/cli). */
function version (): string {
  for (const up of [['..', '..', '..'], ['..', '..']]) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, ...up, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'fastify-cluster' && typeof pkg.version === 'string') return pkg.version
    } catch {}
  }
  return 'unknown'
}

const COMMANDS = ['start', 'ls', 'status', 'reload', 'stop', 'help', 'version']

/** Runs the command line; resolves with the exit code. */
export async function main (argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  const [command, ...args] = argv
  // Only `start` installs handlers of its own; other commands get the default actions back now.
  if (command !== 'start') held?.release()
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.stdout((await import('./flags.js')).mainHelp())
      return 0
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      io.stdout(`${version()}\n`)
      return 0
    }
    if (command === 'status') return await status(args, io)
    if (command === 'ls' || command === 'list') return await (await import('./control-commands.js')).ls(args, io)
    if (command === 'reload') return await (await import('./control-commands.js')).reload(args, io)
    if (command === 'stop') return await (await import('./control-commands.js')).stop(args, io)
    if (command !== 'start') {
      const { FST_CLUSTER_UNKNOWN_COMMAND } = await import('../shared/errors.js')
      const { didYouMean } = await import('../shared/messages.js')
      throw new FST_CLUSTER_UNKNOWN_COMMAND(command, didYouMean(command, COMMANDS))
    }
    return await startCommand(args, io)
  } catch (err) {
    report(io, err)
    return exitCodeOf(err)
  } finally {
    held?.release()
  }
}

async function startCommand (args: readonly string[], io: CliIo): Promise<number> {
  // Like fastify start: a .env file in the working directory fills the environment (cluster flags included).
  if (io.env === process.env) {
    try { process.loadEnvFile() } catch {}
  }
  const { parseStartArgs } = await import('./start-args.js')
  const parsed = parseStartArgs(args, io.env)
  if (parsed.help) {
    io.stdout((await import('./flags.js')).startHelp())
    return 0
  }
  const { start } = await import('../start.js')
  const handle: ClusterHandle = start(parsed.options, parsed.names)
  // The cluster's handlers are installed: hand over what arrived while loading.
  held?.release()
  const exit = await handle.closed
  if (exit.error !== undefined) report(io, exit.error)
  return exit.code
}

/** `status`: one table (or JSON), or a table refreshed in place with --watch until Ctrl+C. */
async function status (argv: readonly string[], io: CliIo): Promise<number> {
  const { fetchStatus, parseStatusArgs, renderStatus, statusHelp } = await import('./status-command.js')
  const args = parseStatusArgs(argv, io.env)
  if (args.help) {
    io.stdout(statusHelp())
    return 0
  }
  let read: () => Promise<{ doc: StatusDocument, origin: string }>
  if (args.url !== null) {
    const url = args.url
    read = async () => ({ doc: await fetchStatus(url), origin: url.origin })
  } else {
    const { ask, findClusters, pickCluster } = await import('./control-client.js')
    const entry = pickCluster(findClusters(io.env), args.target)
    read = async () => ({ doc: await ask(entry, 'status') as StatusDocument, origin: `${entry.name}, pid ${entry.pid}` })
  }
  const color = io.isTTY && io.env.NO_COLOR === undefined
  const once = async (): Promise<void> => {
    const { doc, origin } = await read()
    if (args.json) io.stdout(`${JSON.stringify(doc)}\n`)
    else io.stdout((args.watch && io.isTTY ? '\x1b[H\x1b[2J' : '') + renderStatus(doc, origin, color))
  }
  await once()
  if (!args.watch) return 0
  return await new Promise((resolve) => {
    const timer = setTimeout(function refresh () {
      once().then(() => timer.refresh(), (err: unknown) => {
        report(io, err)
        timer.refresh()
      })
    }, args.interval)
    const stop = (): void => {
      clearTimeout(timer)
      process.off('SIGINT', stop)
      resolve(0)
    }
    process.on('SIGINT', stop)
  })
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    releaseHungUpTerminal()
    process.exit(code)
  })
}
