import cluster, { type Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { restartDelay } from './backoff.js'
import { CrashLoopBreaker, isFatalBootError, isUnstableExit } from './crash-loop.js'
import { FST_CLUSTER_CRASH_LOOP, FST_CLUSTER_FATAL_BOOT, FST_CLUSTER_NOT_READY } from './errors.js'
import {
  ClusterEvents, type ClusterEventMap, type ClusterExit, type ExitReason, type WorkerAddress, type WorkerInfo,
  type WorkerState
} from './events.js'
import type { ResolvedOptions } from './options.js'
import {
  MessageTypes, WORKER_ENV, buildDrain, encodeLaunch, parseWorkerMessage, type HealthSample, type WorkerMessage
} from './protocol.js'

/** What to run in each worker: our runtime for an app file, or the user's own script for an inline app. */
export interface ForkTarget {
  exec: string
  args: string[]
  execArgv: string[]
  /** For an app file: the `fastify start` arguments the worker runtime parses (flags, the file, `--` options). */
  fastifyArgs?: string[]
}

/** Injectable for tests: time and randomness. */
export interface SupervisorClock {
  now: () => number
  random: () => number
}

const SYSTEM_CLOCK: SupervisorClock = { now: Date.now, random: Math.random }

/** How often the same kind of malformed IPC message is logged again, per worker. */
const INVALID_LOG_INTERVAL = 60_000

interface ManagedWorker {
  readonly worker: Worker
  readonly id: number
  readonly pid: number
  readonly slot: Slot
  readonly forkedAt: number
  state: WorkerState
  /** Set when the primary asked this worker to stop: its exit is expected. */
  stopRequested: boolean
  /** Set when the worker announced it is draining on its own (SIGTERM sent to its pid, not by us). */
  leaving: boolean
  /** Set when the worker had to be signalled because it did not stop in time. */
  forced: boolean
  startupTimedOut: boolean
  readyAt: number | null
  address: WorkerAddress | null
  lastHealth: (HealthSample & { receivedAt: number }) | null
  invalid: Map<string, { count: number, loggedAt: number }>
  timers: Set<NodeJS.Timeout>
  detach: () => void
}

interface Slot {
  readonly index: number
  current: ManagedWorker | null
  /** Consecutive unstable exits: drives the backoff. */
  attempt: number
  restarts: number
  restartTimer: NodeJS.Timeout | null
}

type Phase = 'idle' | 'running' | 'closing' | 'closed'

/**
 * The pool: forks one worker per slot, keeps each worker's state machine, replaces crashed workers with backoff,
 * trips the crash-loop breaker, and shuts down in order. Decisions come from pure modules (backoff, crash-loop);
 * this class only carries them out. Identity always comes from the `Worker` object a message arrived on.
 */
export class Supervisor {
  readonly #options: ResolvedOptions
  readonly #log: Logger
  readonly #target: ForkTarget
  readonly #clock: SupervisorClock
  readonly #events: EventEmitter<ClusterEventMap>
  readonly #breaker: CrashLoopBreaker
  readonly #slots: Slot[]
  readonly #workers = new Map<number, ManagedWorker>()
  #phase: Phase = 'idle'
  #anyForced = false
  #everReady = false
  #outcome: ClusterExit | null = null
  #lastBootError: { code: string, message: string } | null = null
  readonly #ready: Promise<void>
  #resolveReady!: () => void
  #rejectReady!: (err: Error) => void
  readonly #closed: Promise<ClusterExit>
  #resolveClosed!: (exit: ClusterExit) => void

  constructor (options: ResolvedOptions, log: Logger, target: ForkTarget, events: EventEmitter<ClusterEventMap>,
    clock: SupervisorClock = SYSTEM_CLOCK) {
    this.#events = events
    this.#options = options
    this.#log = log
    this.#target = target
    this.#clock = clock
    this.#breaker = new CrashLoopBreaker(options.crashLoopLimit, options.crashLoopWindow)
    this.#slots = Array.from({ length: options.workers }, (_, index) =>
      ({ index, current: null, attempt: 0, restarts: 0, restartTimer: null }))
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    // `ready` may be left unawaited by a caller that only waits for `closed`: never an unhandled rejection.
    this.#ready.catch(() => {})
    this.#closed = new Promise((resolve) => { this.#resolveClosed = resolve })
  }

  /** Resolves when every slot has had a ready worker; rejects if the cluster gives up or closes first. */
  get ready (): Promise<void> { return this.#ready }
  /** Resolves once every worker is gone after shutdown or giving up. */
  get closed (): Promise<ClusterExit> { return this.#closed }
  get phase (): Phase { return this.#phase }

  start (): void {
    if (this.#phase !== 'idle') return
    this.#phase = 'running'
    for (const slot of this.#slots) this.#fork(slot)
  }

  /** A snapshot of the live workers. */
  workers (): WorkerInfo[] {
    const now = this.#clock.now()
    return [...this.#workers.values()].map((w) => ({
      id: w.id,
      slot: w.slot.index,
      pid: w.pid,
      state: w.state,
      uptime: now - w.forkedAt,
      restarts: w.slot.restarts,
      lastHealth: w.lastHealth === null ? null : { ...w.lastHealth },
      address: w.address === null ? null : { ...w.address }
    }))
  }

  /**
   * Graceful shutdown: no more forks, every worker told to drain (serve `drainDelay` more, then
   * `fastify.close()`), signalled at its deadline. Idempotent: later calls return the same promise.
   */
  close (reason = 'close', signal: NodeJS.Signals | null = null): Promise<ClusterExit> {
    if (this.#phase === 'closing' || this.#phase === 'closed') return this.#closed
    const wasIdle = this.#phase === 'idle'
    this.#phase = 'closing'
    this.#log.info({ event: ClusterEvents.CLUSTER_SHUTDOWN, reason, signal }, 'cluster shutting down')
    this.#emit(ClusterEvents.CLUSTER_SHUTDOWN, { reason, signal })
    this.#rejectReady(new FST_CLUSTER_NOT_READY(reason))
    for (const slot of this.#slots) this.#cancelRestart(slot)
    // A hook that never settles must not hold the shutdown: it gets workerStopTimeout at most.
    void this.#callHook('onShutdown', this.#options.onShutdown, { reason, signal },
      this.#options.workerStopTimeout).then(() => {
      for (const w of this.#workers.values()) this.#stop(w)
      this.#maybeFinish()
    })
    if (wasIdle) this.#maybeFinish()
    return this.#closed
  }

  /** Second signal: kill every worker by pid now. The exit code will say it was forced. */
  forceClose (signal: NodeJS.Signals | null = null): Promise<ClusterExit> {
    if (this.#phase !== 'closed') {
      this.#log.warn({ event: ClusterEvents.CLUSTER_SHUTDOWN, reason: 'forced', signal }, 'forcing shutdown: killing every worker')
      void this.close('forced', signal)
      for (const w of this.#workers.values()) {
        w.stopRequested = true
        w.forced = true
        killPid(w.pid, 'SIGKILL')
      }
    }
    return this.#closed
  }

  #fork (slot: Slot): void {
    slot.restartTimer = null
    if (this.#phase !== 'running') return
    // setupPrimary is process-wide: set it before every fork so each cluster in this process runs its own target.
    cluster.setupPrimary({ exec: this.#target.exec, args: this.#target.args, execArgv: this.#target.execArgv })
    const launch = encodeLaunch({
      v: 1,
      slot: slot.index,
      sampleInterval: this.#options.sampleInterval,
      drainDelay: this.#options.drainDelay,
      ...(this.#target.fastifyArgs === undefined ? {} : { fastifyArgs: this.#target.fastifyArgs })
    })
    const worker = cluster.fork({ [WORKER_ENV]: launch })
    const pid = worker.process.pid ?? -1
    const managed: ManagedWorker = {
      worker,
      id: worker.id,
      pid,
      slot,
      forkedAt: this.#clock.now(),
      state: 'starting',
      stopRequested: false,
      leaving: false,
      forced: false,
      startupTimedOut: false,
      readyAt: null,
      address: null,
      lastHealth: null,
      invalid: new Map(),
      timers: new Set(),
      detach: () => {}
    }
    const onMessage = (raw: unknown): void => { this.#onMessage(managed, raw) }
    const onExit = (code: number | null, signal: string | null): void => { this.#onExit(managed, code, signal) }
    // A send to a dying worker fails with EPIPE or ERR_IPC_CHANNEL_CLOSED: expected, logged at debug.
    const onError = (err: Error): void => { this.#log.debug({ id: managed.id, pid, err }, 'worker channel error') }
    worker.on('message', onMessage)
    worker.on('exit', onExit)
    worker.on('error', onError)
    managed.detach = () => {
      worker.off('message', onMessage)
      worker.off('exit', onExit)
      worker.off('error', onError)
    }
    slot.current = managed
    this.#workers.set(managed.id, managed)
    this.#timer(managed, this.#options.startupTimeout, () => {
      if (managed.state !== 'starting') return
      managed.startupTimedOut = true
      this.#log.error({ event: 'worker:startup-timeout', id: managed.id, pid, timeout: this.#options.startupTimeout },
        'worker not ready within startupTimeout: killing it')
      this.#escalate(managed)
    })
    const event = { id: managed.id, slot: slot.index, pid }
    this.#log.info({ event: ClusterEvents.WORKER_FORK, ...event }, 'worker forked')
    this.#emit(ClusterEvents.WORKER_FORK, event)
    void this.#callHook('onWorkerFork', this.#options.onWorkerFork, event)
  }

  #onMessage (w: ManagedWorker, raw: unknown): void {
    const parsed = parseWorkerMessage(raw)
    if (parsed.kind === 'foreign') return
    if (parsed.kind === 'invalid') {
      this.#onInvalid(w, parsed.reason)
      return
    }
    this.#handle(w, parsed.message)
  }

  #handle (w: ManagedWorker, message: WorkerMessage): void {
    const now = this.#clock.now()
    switch (message.type) {
      case MessageTypes.READY: {
        if (w.state !== 'starting') return
        w.state = 'ready'
        w.readyAt = now
        w.address = message.address
        w.lastHealth = { ...message.sample, receivedAt: now }
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, address: message.address, bootMs: now - w.forkedAt }
        this.#log.info({ event: ClusterEvents.WORKER_READY, ...event }, 'worker ready')
        this.#emit(ClusterEvents.WORKER_READY, event)
        void this.#callHook('onWorkerReady', this.#options.onWorkerReady, event)
        this.#checkClusterReady()
        return
      }
      case MessageTypes.HEALTH: {
        if (w.state === 'exited') return
        w.lastHealth = { ...message.sample, receivedAt: now }
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, sample: message.sample }
        this.#log.trace({ event: ClusterEvents.WORKER_HEALTH, ...event }, 'worker health')
        this.#emit(ClusterEvents.WORKER_HEALTH, event)
        return
      }
      case MessageTypes.LEAVING: {
        // Told to stop by someone else (SIGTERM to its pid): an expected exit, replaced without backoff or breaker.
        // Our own escalation (SIGTERM at a deadline) also makes a worker say it is leaving: that is not voluntary.
        if (w.stopRequested || w.state === 'stopping' || w.state === 'exited') return
        w.leaving = true
        w.state = 'draining'
        this.#log.info({ event: 'worker:leaving', id: w.id, pid: w.pid }, 'worker draining on its own (SIGTERM to its pid)')
        this.#timer(w, this.#options.drainDelay + this.#options.workerStopTimeout, () => {
          w.forced = true
          this.#escalate(w)
        })
        return
      }
      case MessageTypes.BOOT_ERROR: {
        // Only a booting worker can fail to boot; from any other it is a lie that could stop the whole cluster.
        if (w.readyAt !== null) {
          this.#onInvalid(w, `boot-error from a worker in state ${w.state}`)
          return
        }
        const fatal = isFatalBootError(message.code)
        this.#lastBootError = { code: message.code, message: message.message }
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, code: message.code, message: message.message, fatal }
        this.#emit(ClusterEvents.WORKER_BOOT_ERROR, event)
        if (fatal && this.#phase === 'running') {
          this.#giveUp(new FST_CLUSTER_FATAL_BOOT(message.code, message.message), 'fatal-boot-error')
        } else {
          this.#log.error({ event: ClusterEvents.WORKER_BOOT_ERROR, ...event }, 'worker failed to boot')
        }
      }
    }
  }

  #onInvalid (w: ManagedWorker, detail: string): void {
    const now = this.#clock.now()
    // Bound the map: past 64 kinds, a worker inventing new reasons shares one entry (and one log line a minute).
    const reason = w.invalid.has(detail) || w.invalid.size < 64 ? detail : 'other malformed messages'
    const entry = w.invalid.get(reason) ?? { count: 0, loggedAt: -Infinity }
    entry.count++
    w.invalid.set(reason, entry)
    if (now - entry.loggedAt >= INVALID_LOG_INTERVAL) {
      entry.loggedAt = now
      this.#log.warn({ event: ClusterEvents.IPC_INVALID, id: w.id, pid: w.pid, reason, count: entry.count },
        'dropped a malformed IPC message from a worker')
    }
    this.#emit(ClusterEvents.IPC_INVALID, { id: w.id, pid: w.pid, reason, count: entry.count })
  }

  #checkClusterReady (): void {
    if (this.#everReady || this.#phase !== 'running') return
    if (!this.#slots.every((s) => s.current?.state === 'ready')) return
    this.#everReady = true
    const workers = this.workers()
    const address = workers[0]?.address ?? null
    this.#log.info({ event: ClusterEvents.CLUSTER_READY, workers: workers.length, address }, 'cluster ready')
    this.#emit(ClusterEvents.CLUSTER_READY, { workers, address })
    this.#resolveReady()
  }

  #onExit (w: ManagedWorker, code: number | null, signal: string | null): void {
    // `exit` is the single source of truth for a death: one exit, at most one replacement.
    if (w.state === 'exited') return
    const now = this.#clock.now()
    const wasReady = w.readyAt !== null
    w.state = 'exited'
    w.detach()
    for (const t of w.timers) clearTimeout(t)
    w.timers.clear()
    this.#workers.delete(w.id)
    if (w.slot.current === w) w.slot.current = null

    let reason: ExitReason
    if (w.stopRequested || w.leaving) reason = w.forced ? 'killed-at-deadline' : 'stopped'
    else if (w.startupTimedOut) reason = 'startup-timeout'
    else if (!wasReady) reason = 'boot-failed'
    else reason = 'crashed'
    const expected = w.stopRequested || w.leaving
    // A stop counts as clean only if the worker closed by itself with code 0.
    if (w.stopRequested && (w.forced || code !== 0)) this.#anyForced = true

    let restartIn: number | null = null
    if (w.leaving && !w.stopRequested && this.#phase === 'running') {
      restartIn = 0
      const slot = w.slot
      slot.restartTimer = setTimeout(() => { this.#fork(slot) }, 0)
    } else if (!expected && this.#phase === 'running') {
      const unstable = isUnstableExit(w.readyAt, now, this.#options.stableUptime)
      if (unstable && this.#breaker.record(now)) {
        const last = this.#lastBootError === null
          ? `exit code ${String(code)}, signal ${String(signal)}`
          : `${this.#lastBootError.code}: ${this.#lastBootError.message}`
        this.#giveUp(new FST_CLUSTER_CRASH_LOOP(this.#breaker.count(now), this.#options.crashLoopWindow, last), 'crash-loop')
      } else {
        if (!unstable) w.slot.attempt = 0
        restartIn = restartDelay(w.slot.attempt, {
          initial: this.#options.restartDelay, max: this.#options.maxRestartDelay
        }, this.#clock.random)
        w.slot.attempt++
        w.slot.restarts++
        const slot = w.slot
        // Deliberately not unref'd: while every worker is down this timer is what keeps the service coming back.
        slot.restartTimer = setTimeout(() => { this.#fork(slot) }, restartIn)
      }
    }

    const event = {
      id: w.id, slot: w.slot.index, pid: w.pid, code, signal, reason, expected, uptime: now - w.forkedAt, restartIn
    }
    const level = expected && !w.forced ? 'info' : 'warn'
    this.#log[level]({ event: ClusterEvents.WORKER_EXIT, ...event }, 'worker exited')
    this.#emit(ClusterEvents.WORKER_EXIT, event)
    void this.#callHook('onWorkerExit', this.#options.onWorkerExit, event)
    this.#maybeFinish()
  }

  #giveUp (error: Error, reason: string): void {
    if (this.#phase !== 'running') return
    this.#outcome = { code: 1, reason, forced: false, error }
    this.#log.fatal({ event: ClusterEvents.CLUSTER_GIVE_UP, reason, err: error }, error.message)
    this.#emit(ClusterEvents.CLUSTER_GIVE_UP, { error })
    this.#rejectReady(error)
    void this.close(reason)
  }

  /** Step one of a stop: ask the worker to drain through `fastify.close()`; escalate at its deadline. */
  #stop (w: ManagedWorker): void {
    if (w.state === 'exited' || w.stopRequested) return
    w.stopRequested = true
    w.state = 'draining'
    this.#send(w, buildDrain(this.#options.drainDelay))
    this.#timer(w, this.#options.drainDelay + this.#options.workerStopTimeout, () => {
      this.#log.warn({ event: 'worker:stop-timeout', id: w.id, pid: w.pid, timeout: this.#options.workerStopTimeout },
        'worker did not stop in time: signalling it')
      w.forced = true
      this.#escalate(w)
    })
  }

  /** SIGTERM by pid (a busy loop never runs a graceful handler), then SIGKILL after `forceKillDelay`. */
  #escalate (w: ManagedWorker): void {
    if (w.state === 'exited') return
    w.state = 'stopping'
    killPid(w.pid, 'SIGTERM')
    this.#timer(w, this.#options.forceKillDelay, () => { killPid(w.pid, 'SIGKILL') })
  }

  #send (w: ManagedWorker, message: object): void {
    if (!w.worker.isConnected()) return
    try {
      w.worker.send(message, (err: Error | null) => {
        if (err !== null) this.#log.debug({ id: w.id, pid: w.pid, err }, 'send to worker failed')
      })
    } catch (err) {
      this.#log.debug({ id: w.id, pid: w.pid, err }, 'send to worker failed')
    }
  }

  #timer (w: ManagedWorker, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      w.timers.delete(t)
      fn()
    }, ms)
    t.unref()
    w.timers.add(t)
  }

  #cancelRestart (slot: Slot): void {
    if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
    slot.restartTimer = null
  }

  #maybeFinish (): void {
    if (this.#phase !== 'closing' || this.#workers.size > 0) return
    this.#phase = 'closed'
    const exit = this.#outcome ?? { code: this.#anyForced ? 1 : 0, reason: 'shutdown', forced: this.#anyForced }
    this.#log.info({ event: ClusterEvents.CLUSTER_CLOSE, code: exit.code, reason: exit.reason, forced: exit.forced },
      'cluster closed')
    this.#emit(ClusterEvents.CLUSTER_CLOSE, exit)
    this.#resolveClosed(exit)
  }

  #emit<K extends keyof ClusterEventMap> (event: K, ...args: ClusterEventMap[K]): void {
    try {
      // A throwing listener is the user's bug; it must not take the primary down.
      this.#events.emit(event, ...(args as never))
    } catch (err) {
      this.#log.error({ err, event }, 'an event listener threw')
    }
  }

  async #callHook<T> (name: string, hook: ((event: T) => void | Promise<void>) | undefined, event: T,
    deadline?: number): Promise<void> {
    if (hook === undefined) return
    let timer: NodeJS.Timeout | undefined
    try {
      const run = Promise.resolve().then(() => hook(event))
      if (deadline === undefined) {
        await run
      } else {
        const expired = new Promise<'expired'>((resolve) => {
          timer = setTimeout(resolve, deadline, 'expired')
          timer.unref()
        })
        if (await Promise.race([run, expired]) === 'expired') {
          this.#log.warn({ hook: name, deadline }, 'a lifecycle hook did not settle in time; going on without it')
        }
      }
    } catch (err) {
      this.#log.error({ err, hook: name }, 'a lifecycle hook threw')
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Signals a pid; a process that is already gone is not an error. */
function killPid (pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return
  try {
    process.kill(pid, signal)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}
