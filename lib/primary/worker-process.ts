/*
 * The adapter between one worker process and its lifecycle: the only code of the primary that touches
 * `node:cluster` and sends signals. It turns the process's happenings (messages, exit, timers) into calls on
 * `WorkerSink`, carries out the lifecycle's process effects (drain message, signal by pid, named timers), hands
 * sockets over (sticky sessions) and sets node:cluster's process-wide scheduling policy.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Socket } from 'node:net'
import type { SchedulingPolicy } from '../shared/options.js'
import { buildDrain, parseWorkerMessage, type Parsed, type WorkerMessage } from '../shared/protocol.js'
import type { Effect, TimerName } from './worker-lifecycle.js'

/** What to run in each worker: our runtime for an app file, or the user's own script for an inline app. */
export interface ForkTarget {
  exec: string
  args: string[]
  execArgv: string[]
  /** For an app file: the `fastify start` arguments the worker runtime parses (flags, the file, `--` options). */
  fastifyArgs?: string[]
}

/**
 * The worker's descriptors: stdin, stdout, stderr inherited, fd 3 left closed, the IPC channel on fd 4. Node's
 * channel reader parses every line as JSON with no guard, so an app writing to fd 3 (`pino.destination(3)`, an
 * audit log) would kill the primary if the channel sat there, as it does by default.
 */
const STDIO = ['inherit', 'inherit', 'inherit', 'ignore', 'ipc'] as const

export interface WorkerSink {
  message: (parsed: Parsed<WorkerMessage>) => void
  exit: (code: number | null, signal: string | null) => void
  timer: (name: TimerName) => void
  /** A channel error (EPIPE, ERR_IPC_CHANNEL_CLOSED to a dying worker): expected. */
  error: (err: Error) => void
}

export class WorkerProcess {
  readonly id: number
  readonly pid: number
  readonly #worker: Worker
  readonly #timers = new Map<TimerName, NodeJS.Timeout>()
  readonly #sink: WorkerSink
  readonly #detach: () => void

  constructor (target: ForkTarget, env: Record<string, string>, sink: WorkerSink) {
    // setupPrimary is process-wide: set it before every fork so each cluster in this process runs its own target.
    cluster.setupPrimary({ exec: target.exec, args: target.args, execArgv: target.execArgv, stdio: [...STDIO] })
    const worker = cluster.fork(env)
    this.#worker = worker
    this.#sink = sink
    this.id = worker.id
    this.pid = worker.process.pid ?? -1
    const onMessage = (raw: unknown): void => { sink.message(parseWorkerMessage(raw)) }
    const onExit = (code: number | null, signal: string | null): void => {
      this.#clearTimers()
      this.#detach()
      sink.exit(code, signal)
    }
    worker.on('message', onMessage)
    worker.on('exit', onExit)
    // The error listener stays: a send queued before the exit may still fail after it, and an unhandled 'error'
    // would throw in the primary.
    worker.on('error', sink.error)
    this.#detach = () => {
      worker.off('message', onMessage)
      worker.off('exit', onExit)
    }
  }

  /** Carries out a process effect; returns false for effects that are the supervisor's (emit, observe, exited). */
  apply (effect: Effect): boolean {
    switch (effect.kind) {
      case 'send-drain':
        this.send(buildDrain(effect.delay))
        return true
      case 'signal':
        killPid(this.pid, effect.signal)
        return true
      case 'set-timer': {
        this.#clear(effect.name)
        const timer = setTimeout(() => {
          this.#timers.delete(effect.name)
          this.#sink.timer(effect.name)
        }, effect.ms)
        timer.unref()
        this.#timers.set(effect.name, timer)
        return true
      }
      case 'clear-timer':
        this.#clear(effect.name)
        return true
      default:
        return false
    }
  }

  /** Sends if the channel is open; a send to a worker that is gone is normal. */
  send (message: object): void {
    if (!this.#worker.isConnected()) return
    try {
      this.#worker.send(message, (err: Error | null) => { if (err !== null) this.#sink.error(err) })
    } catch (err) {
      this.#sink.error(err as Error)
    }
  }

  /** Whether the channel is open: a send can reach the worker. */
  get connected (): boolean { return this.#worker.isConnected() }

  /**
   * Sends a message with a socket, which the worker then owns (the primary's copy is closed). May throw (the
   * channel closed in between); `done` gets a later failure. Either way the caller decides where the socket goes.
   */
  sendHandle (message: object, handle: Socket, done: (err: Error | null) => void): void {
    this.#worker.send(message, handle, { keepOpen: false }, done)
  }

  #clear (name: TimerName): void {
    const timer = this.#timers.get(name)
    if (timer !== undefined) clearTimeout(timer)
    this.#timers.delete(name)
  }

  #clearTimers (): void {
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }
}

/** Signals a pid; a process that is already gone is not an error. */
export function killPid (pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return
  try {
    process.kill(pid, signal)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

// node:cluster freezes its policy at the first fork of the process: later clusters cannot change it.
let frozenPolicy: number | null = null

/**
 * Sets `cluster.schedulingPolicy` before the first fork. Returns a warning when an earlier cluster in this process
 * already fixed a different one, else `null`.
 */
export function applySchedulingPolicy (policy: SchedulingPolicy | undefined): string | null {
  const wanted = policy === undefined ? null : policy === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE
  if (frozenPolicy === null) {
    if (wanted !== null) cluster.schedulingPolicy = wanted
    frozenPolicy = cluster.schedulingPolicy
    return null
  }
  if (wanted !== null && wanted !== frozenPolicy) {
    return `schedulingPolicy "${String(policy)}" ignored: an earlier cluster in this process fixed node:cluster's policy at its first fork`
  }
  return null
}
