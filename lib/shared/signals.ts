/*
 * The primary's signals: what each one means, and the program's very first act (holding them while the rest
 * of the CLI loads). Only Node built-ins on purpose: lib/cli/main.ts loads this module before anything else.
 */
import { closeSync, fstatSync } from 'node:fs'
import { isatty } from 'node:tty'

/** Signals the CLI holds from its first line until the cluster's own handlers are installed. */
export const HELD_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2']

/** What SIGHUP means to this primary. */
export type HangupAction = 'stop' | 'reload'

/** The primary's standard streams at start: which are terminals. */
export interface TerminalState {
  stdin: boolean
  stdout: boolean
  stderr: boolean
}

/**
 * SIGHUP is a hangup (stop gracefully, as `fastify start` does) for a cluster attached to a terminal, and a
 * reload otherwise (systemd's `ExecReload=kill -HUP $MAINPID`). Attached means one of the primary's standard
 * streams is a terminal at start: closing that terminal is what sends the SIGHUP. A controlling terminal alone
 * does not count: `nohup` keeps it but redirects the streams (and wants the process to survive the hangup), and
 * test runners or process managers started from a shell inherit it while piping every stream.
 */
export function hangupAction (terminal: TerminalState): HangupAction {
  return terminal.stdin || terminal.stdout || terminal.stderr ? 'stop' : 'reload'
}

/** This process's standard streams, read once at start (after a hangup they are no longer readable). */
export function processTerminalState (): TerminalState {
  return { stdin: process.stdin.isTTY === true, stdout: process.stdout.isTTY === true, stderr: process.stderr.isTTY === true }
}

/**
 * Holds the primary's signals while the CLI loads (a SIGHUP 100 ms after start killed the primary when the
 * handlers came with the launcher). `release()` removes the holding listeners once others are installed and
 * replays what arrived, through the new listeners; with none installed, a held terminating signal ends the
 * process as it would have.
 */
export class HeldSignals {
  readonly #received: NodeJS.Signals[] = []
  readonly #listener = (signal: NodeJS.Signals): void => {
    // One of each is enough to act on; a storm is not replayed.
    if (!this.#received.includes(signal)) this.#received.push(signal)
  }

  #released = false

  constructor () {
    for (const signal of HELD_SIGNALS) process.on(signal, this.#listener)
  }

  /** The signals received so far, first first. */
  get received (): readonly NodeJS.Signals[] { return this.#received }

  release (): void {
    if (this.#released) return
    this.#released = true
    for (const signal of HELD_SIGNALS) process.off(signal, this.#listener)
    for (const signal of this.#received) {
      if (process.listenerCount(signal) > 0) process.emit(signal, signal)
      else process.kill(process.pid, signal)
    }
  }
}

/** Which standard streams were terminals when this module loaded (process start, for the CLI and workers). */
const STARTED_ON_TERMINAL: readonly boolean[] = [0, 1, 2].map((fd) => isatty(fd))

/**
 * Call right before `process.exit`. Node resets a terminal's mode at exit and aborts (SIGABRT, measured on
 * Node 20) when that terminal has hung up (EIO): a drained worker would then die of a signal after a clean
 * close. A standard stream that was a terminal and no longer is has hung up: closing it makes Node skip it.
 */
export function releaseHungUpTerminal (): void {
  for (const fd of [0, 1, 2]) {
    try {
      if (STARTED_ON_TERMINAL[fd] === true && !isatty(fd) && fstatSync(fd).isCharacterDevice()) closeSync(fd)
    } catch {}
  }
}
