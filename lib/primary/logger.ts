import { writeSync } from 'node:fs'
import { hostname } from 'node:os'
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino'

/** How the primary's lines are written. */
export interface PrimaryLogFormat {
  /** Human-readable lines (pino-pretty), as `-P`/`--pretty-logs` gives the app's; JSON lines otherwise. */
  pretty?: boolean
  /** Colours in pretty mode; by default when stdout is a terminal and NO_COLOR is unset. */
  colorize?: boolean
}

/**
 * The primary's logger: pino lines whose `pid` is the primary's own, as pino and pino-pretty expect. Lifecycle
 * events carry a worker's pid as `pid` (their public shape); in a log line it becomes `workerPid`, so a line
 * never claims the primary's pid for a worker, whoever wrote the log call.
 */
export function createPrimaryLogger (option: boolean | LoggerOptions | Logger, format: PrimaryLogFormat = {}): Logger {
  if (isLogger(option)) return option
  if (option === false) return pino({ enabled: false })
  const given: LoggerOptions = option === true ? {} : option
  const theirs = given.formatters?.log
  const options: LoggerOptions = {
    base: { pid: process.pid, hostname: hostname(), name: 'fastify-cluster' },
    level: 'info',
    ...given,
    formatters: {
      ...given.formatters,
      log: (object) => {
        const own = renameWorkerPid(object)
        return theirs === undefined ? own : theirs(own)
      }
    }
  }
  // Synchronous writes: lifecycle lines are few, and the last ones (exit, close) must not be lost or reordered
  // when the CLI exits right after them.
  const destination = neverThrowing(format.pretty === true
    ? prettyDestination(format.colorize ?? (process.stdout.isTTY === true && process.env.NO_COLOR === undefined))
    : pino.destination({ dest: 1, sync: true }))
  return pino(options, destination)
}

function renameWorkerPid (object: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(object, 'pid')) return object
  const { pid, ...rest } = object
  return { ...rest, workerPid: pid }
}

/**
 * pino-pretty (fastify-cli's `-P` formatter) on stdout, one line per entry, synchronous. `cluster:ready` becomes
 * one sentence: how many workers, where, and how long the start took.
 */
function prettyDestination (colorize: boolean): DestinationStream {
  const startedAt = Date.now()
  let pretty: ((entry: Record<string, unknown>) => string) | null = null
  try {
    const { prettyFactory } = require('pino-pretty') as typeof import('pino-pretty')
    pretty = prettyFactory({ colorize, singleLine: true, ignore: 'hostname', translateTime: 'SYS:HH:MM:ss.l' })
  } catch {}
  return {
    write (line: string): void {
      let entry: Record<string, unknown> | null = null
      try { entry = JSON.parse(line) as Record<string, unknown> } catch {}
      if (entry === null || pretty === null) {
        writeSync(1, line)
        return
      }
      if (entry.event === 'cluster:ready') {
        // The sentence says it all: no fields after it.
        const { level, time, pid, name } = entry
        entry = { level, time, pid, name, msg: readyLine(entry, startedAt) }
      }
      writeSync(1, pretty(entry))
    }
  }
}

/** "cluster ready: 4 workers at http://127.0.0.1:3000 in 612 ms" */
export function readyLine (entry: Record<string, unknown>, startedAt: number): string {
  const address = entry.address as { address?: string, port?: number, family?: string } | null | undefined
  let where = ''
  if (typeof address?.port === 'number' && typeof address.address === 'string') {
    const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address
    where = ` at http://${host}:${address.port}`
  } else if (typeof address?.address === 'string') {
    where = ` at ${address.address}`
  }
  const time = typeof entry.time === 'number' ? ` in ${Math.max(0, entry.time - startedAt)} ms` : ''
  const workers = Number(entry.workers)
  return `cluster ready: ${workers} worker${workers === 1 ? '' : 's'}${where}${time}`
}

function isLogger (value: unknown): value is Logger {
  return typeof value === 'object' && value !== null &&
    typeof (value as Logger).child === 'function' && typeof (value as Logger).info === 'function'
}

/**
 * A log line must never throw into the supervisor: after a terminal hangup stdout fails with EIO (and a closed
 * pipe with EPIPE) while the cluster is still draining. From the first failed write on, lines are dropped.
 */
function neverThrowing (destination: { write: (line: string) => unknown }): { write: (line: string) => void } {
  let broken = false
  return {
    write (line) {
      if (broken) return
      try {
        destination.write(line)
      } catch {
        broken = true
      }
    }
  }
}
