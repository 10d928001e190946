import cluster, { type Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { restartDelay } from './backoff.js'
import { captureStack, webSocketAvailable, writeStuckReport } from './stuck-diagnostics.js'
import { CrashLoopBreaker, isFatalBootError, isUnstableExit } from './crash-loop.js'
import { RecyclePolicy, type Breach, type Decision, type RecycleReason } from './recycle-policy.js'
import { FST_CLUSTER_CRASH_LOOP, FST_CLUSTER_FATAL_BOOT, FST_CLUSTER_NOT_READY } from './errors.js'
import {
  ClusterEvents, type ClusterEventMap, type ClusterExit, type ExitReason, type WorkerAddress, type WorkerInfo,
  type WorkerState
} from './events.js'
import type { ResolvedOptions } from './options.js'
import {
  MessageTypes, WORKER_ENV, buildDrain, buildUnlistenAck, encodeLaunch, parseWorkerMessage, type HealthSample, type WorkerLaunch,
  type WorkerMessage
} from './protocol.js'

/** What to run in each worker: our runtime for an app file, or the user's own script for an inline app. */
export interface ForkTarget {
  exec: string
  args: string[]
  execArgv: string[]
  /** For an app file: the `fastify start` arguments the worker runtime parses (flags, the file, `--` options). */
  fastifyArgs?: string[]
}

/** Longest wait for a stuck worker's stack before it is killed anyway. */
const STACK_TIMEOUT_MS = 1000

/** How workers bind: the launch contract's fields for it (see connection-distribution). */
export type ListenPlan = Pick<WorkerLaunch, 'reusePort' | 'listenPort' | 'sticky'>

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
  /** Stopped by a signal because it was still booting when the cluster shut down. */
  stoppedWhileBooting: boolean
  /** Why the primary retired it after a replacement took over (or killed it as stuck). */
  retired: RecycleReason | 'reload' | null
  /** A replacement for it is starting (replace before retire). */
  recycling: { reason: RecycleReason | 'reload', breaches: Breach[], successor: ManagedWorker | null } | null
  /** For a successor: told whether it took over its slot (for `replaceSlot`). */
  takeover: ((result: { ok: boolean, error?: string }) => void) | null
  /** Called once when the process has exited. */
  exitWaiters: Array<() => void>
  readyAt: number | null
  lastReportAt: number
  /** Consecutive samples with at least one breach (for the `worker:unhealthy` announcement). */
  unhealthyFor: number
  address: WorkerAddress | null
  /** Its inspector's URL (stuck diagnostics only), from its ready message. */
  inspector: string | null
  lastHealth: (HealthSample & { receivedAt: number }) | null
  invalid: Map<string, { count: number, loggedAt: number }>
  timers: Set<NodeJS.Timeout>
  detach: () => void
}

interface Slot {
  readonly index: number
  current: ManagedWorker | null
  /** A worker starting to take over from `current` (recycle); promoted when ready. */
  successor: ManagedWorker | null
  recycles: Partial<Record<RecycleReason, number>>
  /** Consecutive unstable exits: drives the backoff. */
  attempt: number
  restarts: number
  restartTimer: NodeJS.Timeout | null
}

type Phase = 'idle' | 'running' | 'closing' | 'closed'

/** The outcome of replacing one slot's worker. */
export interface SlotReplacement {
  slot: number
  ok: boolean
  error?: string
  oldPid: number | null
  newPid: number | null
}

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
  readonly #policy: RecyclePolicy
  #watchdog: NodeJS.Timeout | null = null
  #listen: ListenPlan = {}
  /** Stuck diagnostics asked for and possible here (a WebSocket client to reach the worker's inspector). */
  readonly #diagnostics: boolean
  /** Set during a rolling reload: threshold recycles wait (stuck workers are still replaced). */
  #recyclesPaused = false
  /** Deferred recycles already logged, so a deferral is logged once, not every tick. */
  readonly #deferredLogged = new Set<string>()
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
    this.#diagnostics = options.stuckDiagnostics && webSocketAvailable()
    this.#clock = clock
    this.#breaker = new CrashLoopBreaker(options.crashLoopLimit, options.crashLoopWindow)
    this.#slots = Array.from({ length: options.workers }, (_, index) =>
      ({ index, current: null, successor: null, recycles: {}, attempt: 0, restarts: 0, restartTimer: null }))
    this.#policy = new RecyclePolicy({
      heartbeatTimeout: options.heartbeatTimeout,
      maxHeapUsedBytes: options.maxHeapUsedBytes,
      maxRssBytes: options.maxRssBytes,
      maxEventLoopDelay: options.maxEventLoopDelay,
      maxEventLoopUtilization: options.maxEventLoopUtilization,
      unhealthyChecks: options.unhealthyChecks,
      gracePeriod: options.recycleGracePeriod,
      maxConcurrentRecycles: options.maxConcurrentRecycles,
      recycleBudget: options.recycleBudget,
      recycleBudgetWindow: options.recycleBudgetWindow,
      recycleOnHealthCheck: options.recycleOnHealthCheck
    })
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
  /** True once every slot has had a ready worker. */
  get isReady (): boolean { return this.#everReady }
  /** Gives up from outside (the health server cannot listen): close everything, exit 1 with `error`. */
  fail (error: Error, reason: string): void {
    this.#giveUp(error, reason)
  }

  /** True once the breaker tripped or a fatal boot error stopped the cluster. */
  get gaveUp (): boolean { return this.#outcome !== null }

  /** Forks every slot. `listen` says how workers bind (reusePort, and the port that replaces 0). */
  start (listen: ListenPlan = {}): void {
    if (this.#phase !== 'idle') return
    this.#phase = 'running'
    if (this.#options.stuckDiagnostics && !this.#diagnostics) {
      this.#log.warn({ event: 'cluster:stuck-diagnostics-unavailable' },
        `stuckDiagnostics needs a global WebSocket (Node >= 22); Node ${process.versions.node} has none: stuck workers are killed without a stack`)
    }
    this.#listen = listen
    for (const slot of this.#slots) this.#fork(slot)
    // One timer, refreshed after each tick: the watchdog and the recycle policy run every sampleInterval.
    this.#watchdog = setTimeout(() => {
      this.#tick()
      this.#watchdog?.refresh()
    }, this.#options.sampleInterval)
    this.#watchdog.unref()
  }

  /** Threshold recycles wait while set (a rolling reload is replacing workers). */
  pauseRecycles (paused: boolean): void {
    this.#recyclesPaused = paused
  }

  get slotCount (): number { return this.#slots.length }

  /** Slot `index`'s worker and its state, for the sticky balancer (a successor appears here once promoted). */
  slotWorker (index: number): { worker: Worker, state: WorkerState } | null {
    const w = this.#slots[index]?.current ?? null
    return w === null ? null : { worker: w.worker, state: w.state }
  }

  /**
   * Replaces one slot's worker, surge first: fork the successor, wait until it is ready, then the old worker
   * drains (it leaves the round-robin when its server closes) and exits. Resolves when the old one is gone, or
   * with `ok: false` if the successor failed (the old worker keeps serving).
   */
  async replaceSlot (index: number): Promise<SlotReplacement> {
    const slot = this.#slots[index]
    const old = slot?.current ?? null
    if (slot === undefined || old === null || old.state !== 'ready' || slot.successor !== null || old.recycling !== null ||
      this.#phase !== 'running') {
      return { slot: index, ok: false, error: 'the slot has no ready worker to replace', oldPid: old?.pid ?? null, newPid: null }
    }
    old.recycling = { reason: 'reload', breaches: [], successor: null }
    const successor = this.#fork(slot, true)
    if (successor === null) {
      old.recycling = null
      return { slot: index, ok: false, error: 'the cluster is shutting down', oldPid: old.pid, newPid: null }
    }
    old.recycling.successor = successor
    const outcome = await new Promise<{ ok: boolean, error?: string }>((resolve) => { successor.takeover = resolve })
    if (!outcome.ok) {
      return { slot: index, ok: false, error: outcome.error ?? 'failed', oldPid: old.pid, newPid: successor.pid }
    }
    // The state changed while we awaited (TypeScript still narrows it to 'ready').
    if ((old.state as WorkerState) !== 'exited') await new Promise<void>((resolve) => { old.exitWaiters.push(resolve) })
    return { slot: index, ok: true, oldPid: old.pid, newPid: successor.pid }
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
      address: w.address === null ? null : { ...w.address },
      recycling: w.recycling !== null,
      recycles: { ...w.slot.recycles }
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
    if (this.#watchdog !== null) clearTimeout(this.#watchdog)
    this.#watchdog = null
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

  #fork (slot: Slot, asSuccessor = false): ManagedWorker | null {
    slot.restartTimer = null
    if (this.#phase !== 'running') return null
    // setupPrimary is process-wide: set it before every fork so each cluster in this process runs its own target.
    cluster.setupPrimary({ exec: this.#target.exec, args: this.#target.args, execArgv: this.#target.execArgv })
    const launch = encodeLaunch({
      v: 1,
      slot: slot.index,
      sampleInterval: this.#options.sampleInterval,
      drainDelay: this.#options.drainDelay,
      readinessPath: this.#options.readinessPath,
      ...(this.#diagnostics ? { inspect: true } : {}),
      ...(this.#target.fastifyArgs === undefined ? {} : { fastifyArgs: this.#target.fastifyArgs }),
      ...this.#listen
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
      stoppedWhileBooting: false,
      retired: null,
      recycling: null,
      takeover: null,
      exitWaiters: [],
      readyAt: null,
      lastReportAt: this.#clock.now(),
      unhealthyFor: 0,
      address: null,
      inspector: null,
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
    if (asSuccessor) slot.successor = managed
    else slot.current = managed
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
    return managed
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
        w.inspector = message.inspector ?? null
        w.lastHealth = { ...message.sample, receivedAt: now }
        w.lastReportAt = now
        // Not fed to the recycle policy: this sample measures the boot (loading, JIT), not serving.
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, address: message.address, bootMs: now - w.forkedAt }
        this.#log.info({ event: ClusterEvents.WORKER_READY, ...event }, 'worker ready')
        this.#emit(ClusterEvents.WORKER_READY, event)
        void this.#callHook('onWorkerReady', this.#options.onWorkerReady, event)
        if (w.slot.successor === w) this.#promote(w)
        this.#checkClusterReady()
        return
      }
      case MessageTypes.HEALTH: {
        if (w.state === 'exited') return
        w.lastHealth = { ...message.sample, receivedAt: now }
        w.lastReportAt = now
        if (w.state === 'ready') this.#observe(w, message.sample)
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, sample: message.sample }
        this.#log.trace({ event: ClusterEvents.WORKER_HEALTH, ...event }, 'worker health')
        this.#emit(ClusterEvents.WORKER_HEALTH, event)
        return
      }
      case MessageTypes.UNLISTEN:
        // Sent after node:cluster's own "close" on the same channel: answering now means no more connections
        // are on their way to this worker.
        this.#send(w, buildUnlistenAck())
        return
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
        // A replacement (reload, recycle) that cannot boot fails that replacement only: the serving workers stay.
        if (fatal && this.#phase === 'running' && w.slot.successor !== w) {
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
    this.#policy.forget(w.id)
    const slot = w.slot
    const wasCurrent = slot.current === w
    const wasSuccessor = slot.successor === w
    if (wasCurrent) slot.current = null
    if (wasSuccessor) slot.successor = null
    for (const waiter of w.exitWaiters.splice(0)) waiter()

    let reason: ExitReason
    if (w.retired === 'stuck') reason = 'stuck'
    else if (w.retired !== null) reason = w.forced ? 'killed-at-deadline' : 'recycled'
    else if (w.stopRequested || w.leaving) reason = w.forced ? 'killed-at-deadline' : 'stopped'
    else if (w.startupTimedOut) reason = 'startup-timeout'
    else if (!wasReady) reason = 'boot-failed'
    else reason = 'crashed'
    const expected = w.stopRequested || w.leaving || w.retired !== null
    // A shutdown counts as clean only if every worker closed by itself with code 0.
    if (w.stopRequested && w.retired === null && !w.stoppedWhileBooting && (w.forced || code !== 0)) this.#anyForced = true

    let restartIn: number | null = null
    const running = this.#phase === 'running'
    if (wasSuccessor && running) {
      // The replacement of a sick worker died before taking over: keep the old one serving and say so.
      this.#recycleFailed(slot.current, w, `replacement exited before ready (code ${String(code)}, signal ${String(signal)})`)
    } else if (wasSuccessor) {
      w.takeover?.({ ok: false, error: 'the cluster is shutting down' })
      w.takeover = null
    } else if (!wasCurrent || !running) {
      // A retired, stuck-and-replaced or shutting-down worker: nothing to replace.
    } else if (slot.successor !== null) {
      // The current worker died while its replacement was starting: the replacement takes the slot.
      const successor = slot.successor
      slot.successor = null
      slot.current = successor
      if (w.recycling !== null) w.recycling = null
    } else if (w.leaving && !w.stopRequested) {
      restartIn = 0
      slot.restartTimer = setTimeout(() => { this.#fork(slot) }, 0)
    } else if (!expected) {
      const unstable = isUnstableExit(w.readyAt, now, this.#options.stableUptime)
      if (unstable && this.#breaker.record(now)) {
        const last = this.#lastBootError === null
          ? `exit code ${String(code)}, signal ${String(signal)}`
          : `${this.#lastBootError.code}: ${this.#lastBootError.message}`
        this.#giveUp(new FST_CLUSTER_CRASH_LOOP(this.#breaker.count(now), this.#options.crashLoopWindow, last), 'crash-loop')
      } else {
        if (!unstable) slot.attempt = 0
        restartIn = restartDelay(slot.attempt, {
          initial: this.#options.restartDelay, max: this.#options.maxRestartDelay
        }, this.#clock.random)
        slot.attempt++
        slot.restarts++
        // Deliberately not unref'd: while every worker is down this timer is what keeps the service coming back.
        slot.restartTimer = setTimeout(() => { this.#fork(slot) }, restartIn)
      }
    }

    const event = {
      id: w.id, slot: slot.index, pid: w.pid, code, signal, reason, expected, uptime: now - w.forkedAt, restartIn
    }
    const level = expected && !w.forced ? 'info' : 'warn'
    this.#log[level]({ event: ClusterEvents.WORKER_EXIT, ...event }, 'worker exited')
    this.#emit(ClusterEvents.WORKER_EXIT, event)
    void this.#callHook('onWorkerExit', this.#options.onWorkerExit, event)
    this.#maybeFinish()
  }

  /** Feeds a ready worker's sample to the policy; announces a threshold when its streak reaches the limit. */
  #observe (w: ManagedWorker, sample: HealthSample): void {
    const before = w.unhealthyFor
    const breaches = this.#policy.observe(w.id, sample)
    w.unhealthyFor = breaches.length === 0 ? 0 : before + 1
    if (w.unhealthyFor === this.#options.unhealthyChecks) {
      const reason = breaches[0]?.metric ?? 'healthCheck'
      const event = { id: w.id, slot: w.slot.index, pid: w.pid, reason, breaches, sample }
      this.#log.warn({ event: ClusterEvents.WORKER_UNHEALTHY, ...event }, 'worker unhealthy')
      this.#emit(ClusterEvents.WORKER_UNHEALTHY, event)
    }
  }

  /** Every sampleInterval: carry out what the recycle policy decides. */
  #tick (): void {
    if (this.#phase !== 'running') return
    const now = this.#clock.now()
    // A recycle lasts until the old worker is gone: a retiring worker still counts against maxConcurrentRecycles.
    const views = [...this.#workers.values()]
      .filter((w) => !w.leaving && (w.retired !== null ? w.retired !== 'stuck' : !w.stopRequested))
      .map((w) => ({
        id: w.id,
        ready: w.state === 'ready' && w.retired === null,
        readyAt: w.readyAt,
        lastReportAt: w.lastReportAt,
        recycling: w.recycling !== null || w.retired !== null
      }))
    for (const decision of this.#policy.evaluate(views, now)) this.#apply(decision, now)
  }

  #apply (d: Decision, now: number): void {
    switch (d.kind) {
      case 'stuck': {
        const w = this.#workers.get(d.id)
        if (w !== undefined) this.#onStuck(w, d.silentFor)
        return
      }
      case 'recycle': {
        if (this.#recyclesPaused) {
          this.#apply({ kind: 'deferred', id: d.id, reason: d.reason, why: 'concurrency' }, now)
          return
        }
        const w = this.#workers.get(d.id)
        if (w !== undefined) this.#recycle(w, d.reason, d.breaches, now)
        return
      }
      case 'deferred': {
        const key = `${d.id}:${d.reason}:${d.why}`
        if (this.#deferredLogged.has(key)) return
        this.#deferredLogged.add(key)
        this.#log.info({ event: 'worker:recycle-deferred', id: d.id, reason: d.reason, why: d.why },
          d.why === 'budget' ? 'recycle deferred: the recycle budget is used up' : 'recycle deferred: another recycle is running')
        return
      }
      case 'overload': {
        const event = { workers: d.ids, breaches: d.breaches }
        this.#log.warn({ event: ClusterEvents.CLUSTER_OVERLOAD, ...event },
          'a majority of workers breach event-loop thresholds: overload, not sickness; no event-loop recycles')
        this.#emit(ClusterEvents.CLUSTER_OVERLOAD, event)
        return
      }
      case 'overload-end':
        this.#log.info({ event: 'cluster:overload-end' }, 'overload over')
    }
  }

  /** A worker silent past heartbeatTimeout: out of the slot, SIGTERM then SIGKILL by pid, replacement forked now. */
  #onStuck (w: ManagedWorker, silentFor: number): void {
    const slot = w.slot
    const event = { id: w.id, slot: slot.index, pid: w.pid, silentFor, heartbeatTimeout: this.#options.heartbeatTimeout }
    this.#log.error({ event: ClusterEvents.WORKER_STUCK, ...event }, 'worker stuck: no health report within heartbeatTimeout; killing and replacing it')
    this.#emit(ClusterEvents.WORKER_STUCK, event)
    slot.recycles.stuck = (slot.recycles.stuck ?? 0) + 1
    w.retired = 'stuck'
    w.stopRequested = true
    // Evidence first (bounded: at most STACK_TIMEOUT_MS), then the kill; the replacement is forked now either way.
    if (this.#diagnostics && w.inspector !== null) {
      void this.#diagnose(w, w.inspector, silentFor).finally(() => { this.#escalate(w) })
    } else {
      this.#escalate(w)
    }
    if (slot.current === w) {
      slot.current = null
      if (slot.successor !== null) {
        slot.current = slot.successor
        slot.successor = null
      } else {
        this.#fork(slot)
      }
    } else if (slot.successor === w) {
      slot.successor = null
      this.#recycleFailed(slot.current, w, 'the replacement got stuck')
    }
  }

  /** Reads a stuck worker's JS stack through its inspector, writes it to a file and logs where. Never throws. */
  async #diagnose (w: ManagedWorker, url: string, silentFor: number): Promise<void> {
    const ids = { id: w.id, slot: w.slot.index, pid: w.pid }
    try {
      const frames = await captureStack(url, STACK_TIMEOUT_MS)
      const path = await writeStuckReport({ pid: w.pid, id: w.id, silentFor, frames })
      const top = frames.slice(0, 8).map((f) => `${f.functionName} (${f.url}:${f.line}:${f.column})`)
      this.#log.error({ event: 'worker:stuck-diagnostics', ...ids, path, stack: top }, `stuck worker's stack written to ${path}`)
    } catch (err) {
      this.#log.warn({ event: 'worker:stuck-diagnostics-failed', ...ids, reason: (err as Error).message },
        'could not capture the stuck worker\'s stack; killing it anyway')
    }
  }

  /** Replace before retire: ask the hook, start a successor in the same slot; the old worker serves until it is ready. */
  #recycle (w: ManagedWorker, reason: RecycleReason, breaches: Breach[], now: number): void {
    // Reserve the recycle now so the next tick does not start a second one while the hook runs.
    const pending: NonNullable<ManagedWorker['recycling']> = { reason, breaches, successor: null }
    w.recycling = pending
    // Take the budget now, not after the hook: the next tick must see it spent.
    this.#policy.recorded(now)
    const veto = { id: w.id, pid: w.pid, slot: w.slot.index, reason, breaches }
    const hook = this.#options.onWorkerUnhealthy
    const decided = hook === undefined
      ? Promise.resolve(true)
      : this.#race(Promise.resolve().then(() => hook(veto)), this.#options.workerStopTimeout)
        .then((verdict) => verdict !== false, (err: unknown) => {
          this.#log.error({ err, hook: 'onWorkerUnhealthy' }, 'a lifecycle hook threw; recycling anyway')
          return true
        })
    void decided.then((approved) => {
      if (w.recycling !== pending) return
      if (w.state !== 'ready' || this.#phase !== 'running' || w.slot.current !== w) {
        w.recycling = null
        this.#policy.released(now)
        return
      }
      if (!approved) {
        w.recycling = null
        this.#policy.released(now)
        this.#log.info({ event: 'worker:recycle-vetoed', id: w.id, pid: w.pid, reason }, 'recycle vetoed by onWorkerUnhealthy')
        return
      }
      const successor = this.#fork(w.slot, true)
      pending.successor = successor
      const event = { id: w.id, slot: w.slot.index, pid: w.pid, reason, breaches, replacementId: successor?.id ?? null }
      this.#log.warn({ event: ClusterEvents.WORKER_RECYCLE, ...event }, 'recycling worker: its replacement is starting')
      this.#emit(ClusterEvents.WORKER_RECYCLE, event)
    })
  }

  /** The successor is ready: it takes the slot, the old worker drains (it leaves the round-robin first). */
  #promote (successor: ManagedWorker): void {
    const slot = successor.slot
    const old = slot.current
    slot.successor = null
    slot.current = successor
    if (old === null || old.state === 'exited') return
    const reason = old.recycling?.reason ?? 'reload'
    if (reason !== 'reload') slot.recycles[reason] = (slot.recycles[reason] ?? 0) + 1
    old.retired = reason
    old.recycling = null
    this.#stop(old, 0)
    successor.takeover?.({ ok: true })
    successor.takeover = null
  }

  #recycleFailed (old: ManagedWorker | null, replacement: ManagedWorker, error: string): void {
    const info = old?.recycling
    if (old !== null) old.recycling = null
    replacement.takeover?.({ ok: false, error })
    replacement.takeover = null
    // A reload reports its own failure; this event is for health recycles.
    if (info?.reason === 'reload') return
    const event = {
      id: old?.id ?? -1, slot: replacement.slot.index, pid: old?.pid ?? -1, reason: (info?.reason ?? 'stuck') as RecycleReason,
      breaches: info?.breaches ?? [], replacementId: replacement.id, error
    }
    this.#log.error({ event: ClusterEvents.WORKER_RECYCLE_FAILED, ...event }, 'recycle failed: the old worker keeps serving')
    this.#emit(ClusterEvents.WORKER_RECYCLE_FAILED, event)
  }

  /** Resolves with the promise's value, or `undefined` after `ms`. */
  async #race<T> (promise: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, ms, undefined)
      timer.unref()
    })
    try {
      return await Promise.race([promise, expired])
    } finally {
      clearTimeout(timer)
    }
  }

  #giveUp (error: Error, reason: string): void {
    // 'idle': a check before the first fork failed (fail() from the launcher); nothing to stop, just close.
    if (this.#phase !== 'running' && this.#phase !== 'idle') return
    this.#outcome = { code: 1, reason, forced: false, error }
    this.#log.fatal({ event: ClusterEvents.CLUSTER_GIVE_UP, reason, err: error }, error.message)
    this.#emit(ClusterEvents.CLUSTER_GIVE_UP, { error })
    this.#rejectReady(error)
    void this.close(reason)
  }

  /** Step one of a stop: ask the worker to drain through `fastify.close()`; escalate at its deadline. */
  #stop (w: ManagedWorker, drainDelay = this.#options.drainDelay): void {
    if (w.state === 'exited' || w.stopRequested) return
    w.stopRequested = true
    if (w.state === 'starting') {
      // A booting worker serves nothing and may not listen for IPC yet (a message sent before its listener exists
      // is lost): a signal is the reliable stop, and not a forced one.
      w.stoppedWhileBooting = true
      this.#escalate(w)
      return
    }
    w.state = 'draining'
    this.#send(w, buildDrain(drainDelay))
    this.#timer(w, drainDelay + this.#options.workerStopTimeout, () => {
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
