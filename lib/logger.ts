import { hostname } from 'node:os'
import pino, { type Logger, type LoggerOptions } from 'pino'

/**
 * The primary's logger: pino JSON lines. Workers' pids appear as `pid` in each line, so the primary's own pid
 * goes under `primaryPid` instead of pino's default `pid`.
 */
export function createPrimaryLogger (option: boolean | LoggerOptions | Logger): Logger {
  if (isLogger(option)) return option
  const base = { primaryPid: process.pid, hostname: hostname(), name: 'fastify-cluster' }
  if (option === false) return pino({ enabled: false })
  // Synchronous writes: lifecycle lines are few, and the last ones (exit, close) must not be lost or reordered
  // when the CLI exits right after them.
  const destination = neverThrowing(pino.destination({ dest: 1, sync: true }))
  if (option === true) return pino({ base, level: 'info' }, destination)
  return pino({ base, level: 'info', ...option }, destination)
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
