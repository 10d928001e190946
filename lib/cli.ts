#!/usr/bin/env node
/*
 * The `fastify-cluster` command: a thin layer over `start()`. The only place that calls process.exit.
 */
import { mainHelp, startHelp } from './cli-flags.js'
import { parseStartArgs } from './cli-args.js'
import { FST_CLUSTER_UNKNOWN_COMMAND } from './errors.js'
import { start } from './launcher.js'
import { didYouMean } from './messages.js'
import { fetchStatus, parseStatusArgs, renderStatus, statusHelp } from './status-command.js'

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

function report (io: CliIo, err: unknown): void {
  const e = err as { code?: unknown, message?: unknown }
  io.stderr(typeof e?.code === 'string'
    ? `fastify-cluster: ${e.code}: ${String(e.message)}\n`
    : `fastify-cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
}

/** Runs the command line; resolves with the exit code. */
export async function main (argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  const [command, ...args] = argv
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.stdout(mainHelp())
      return 0
    }
    if (command === 'status') return await status(args, io)
    if (command !== 'start') throw new FST_CLUSTER_UNKNOWN_COMMAND(command, didYouMean(command, ['start', 'status', 'help']))
    // Like fastify start: a .env file in the working directory fills the environment (cluster flags included).
    if (io.env === process.env) {
      try { process.loadEnvFile() } catch {}
    }
    const parsed = parseStartArgs(args, io.env)
    if (parsed.help) {
      io.stdout(startHelp())
      return 0
    }
    const handle = start(parsed.options, parsed.names)
    const exit = await handle.closed
    if (exit.error !== undefined) report(io, exit.error)
    return exit.code
  } catch (err) {
    report(io, err)
    return 1
  }
}

/** `status`: one table (or JSON), or a table refreshed in place with --watch until Ctrl+C. */
async function status (argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseStatusArgs(argv, io.env)
  if (args.help) {
    io.stdout(statusHelp())
    return 0
  }
  const color = io.isTTY && io.env.NO_COLOR === undefined
  const once = async (): Promise<void> => {
    const doc = await fetchStatus(args.url)
    if (args.json) io.stdout(`${JSON.stringify(doc)}\n`)
    else io.stdout((args.watch && io.isTTY ? '\x1b[H\x1b[2J' : '') + renderStatus(doc, args.url.origin, color))
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
  void main(process.argv.slice(2)).then((code) => { process.exit(code) })
}
