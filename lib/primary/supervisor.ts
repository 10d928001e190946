import type { EventEmitter } from 'node:events'
import { availableParallelism } from 'node:os'
import type { Logger } from 'pino'
import { CrashLoopBreaker, decideRestart, isFatalBootError } from './crash-loop.js'
import { FST_CLUSTER_CRASH_LOOP, FST_CLUSTER_FATAL_BOOT, FST_CLUSTER_NOT_READY } from '../shared/errors.js'
import { ClusterEvents, type ClusterEventMap, type ClusterExit, type SlotReplacement, type WorkerError, type WorkerInfo, type WorkerState } from '../shared/events.js'
import { callHook, emitSafely } from './hooks.js'
import type { ResolvedOptions } from '../shared/options.js'
import {
  MessageTypes, WORKER_ENV, buildUnlistenAck, encodeLaunch, type MetricsWorkerMessage, type Parsed, type WorkerLaunch, type WorkerMessage
} from '../shared/protocol.js'
import { Recycling } from './recycling.js'
import { newSlot, succeed, type Member, type Slot } from './slot.js'
import type { StickySlotWorker } from './sticky-balancer.js'
import { webSocketAvailable } from './stuck-diagnostics.js'
import { forked, step, type Effect, type ExitOutcome, type LifecycleEvent, type LifecycleSettings } from './worker-lifecycle.js'
import { WorkerProcess, type ForkTarget } from './worker-process.js'

export type { ForkTarget, SlotReplacement }

/** How often the same kind of malformed IPC message is logged again, per worker. */
const INVALID_LOG_INTERVAL = 60_000

/** How workers bind: the launch contract's fields for it (see connection-distribution). */
export type ListenPlan = Pick<WorkerLaunch, 'reusePort' | 'listenPort' | 'sticky'>

/** Injectable for tests: time and randomness. */
export interface SupervisorClock {
  now: () => number
  random: () => number
}

const SYSTEM_CLOCK: SupervisorClock = { now: Date.now, random: Math.random }

type Phase = 'idle' | 'running' | 'closing' | 'closed'

/**
 * The pool: one slot per worker, each with a current worker and at most one successor. Each worker's lifecycle is
 * the pure table in worker-lifecycle; restarts, backoff and the breaker are decided in crash-loop; the process is
 * touched only through worker-process. Identity always comes from the worker a message arrived on.
 */
export class Supervisor {
  readonly #options: ResolvedOptions
  readonly #log: Logger
  readonly #target: ForkTarget
  readonly #clock: SupervisorClock
  readonly #events: EventEmitter<ClusterEventMap>
  readonly #breaker: CrashLoopBreaker
  readonly #recycling: Recycling
  readonly #settings: LifecycleSettings
  readonly #diagnostics: boolean
  readonly #slots: Slot[]
  readonly #workers = new Map<number, Member>()
  #watchdog: NodeJS.Timeout | null = null
  #listen: ListenPlan = {}
  #phase: Phase = 'idle'
  /**
   * Slots not forked yet at first start: they wait until the first worker has loaded the app file, then boot at
   * most `#bootWindow` at a time. Boots are CPU-bound: 32 at once on 2 cores all finish late together (past
   * startupTimeout on a busy host); a window brings them up in waves in about the same total time.
   */
  #held: Slot[] = []
  readonly #bootWindow: number
  #anyForced = false
  /** Every slot has had a ready worker. */
  #everReady = false
  /** Some worker has been ready: from now on no boot error is fatal. */
  #anyReady = false
  #degraded = false
  #outcome: ClusterExit | null = null
  #lastError: string | null = null
  readonly #ready: Promise<void>
  #resolveReady!: () => void
  #rejectReady!: (err: Error) => void
  readonly #closed: Promise<ClusterExit>
  #resolveClosed!: (exit: ClusterExit) => void

  constructor (options: ResolvedOptions, log: Logger, target: ForkTarget, events: EventEmitter<ClusterEventMap>,
    clock: SupervisorClock = SYSTEM_CLOCK) {
    this.#options = options
    this.#log = log
    this.#target = target
    this.#events = events
    this.#clock = clock
    this.#diagnostics = options.stuckDiagnostics && webSocketAvailable()
    this.#breaker = new CrashLoopBreaker(options.crashLoopLimit, options.crashLoopWindow)
    this.#settings = {
      startupTimeout: options.startupTimeout,
      drainDelay: options.drainDelay,
      workerStopTimeout: options.workerStopTimeout,
      forceKillDelay: options.forceKillDelay
    }
    this.#slots = Array.from({ length: options.workers }, (_, index) => newSlot(index))
    // Two per core keeps every core busy through the I/O and IPC gaps of a boot.
    this.#bootWindow = Math.max(4, 2 * availableParallelism())
    this.#recycling = new Recycling({
      options,
      log,
      members: () => this.#workers.values(),
      member: (id) => this.#workers.get(id),
      running: () => this.#phase === 'running',
      emit: (event, ...args) => { this.#emit(event, ...args) },
      step: (w, event) => { this.#step(w, event) },
      fork: (slot, asSuccessor) => this.#fork(slot, asSuccessor),
      succeed: (slot) => { this.#succeed(slot) }
    }, this.#diagnostics)
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
  /** True once the breaker tripped or a fatal boot error stopped the cluster. */
  get gaveUp (): boolean { return this.#outcome !== null }
  /** True while a slot cannot boot a worker and the others serve. */
  get degraded (): boolean { return this.#degraded }
  get slotCount (): number { return this.#slots.length }

  /** App metrics (lib/primary/app-metrics.ts) get their messages here, with the id of the worker whose channel carried them. */
  onMetricsMessage: ((id: number, message: MetricsWorkerMessage) => void) | null = null
  /** Sends to a live worker by id; a worker that is gone is skipped. */
  sendTo (id: number, message: object): void {
    const w = this.#workers.get(id)
    if (w !== undefined && w.life.state !== 'exited') w.proc.send(message)
  }

  /** Gives up from outside (the health server cannot listen): close everything, exit 1 with `error`. */
  fail (error: Error, reason: string): void { this.#giveUp(error, reason) }

  /** Threshold recycles wait while set (a rolling reload is replacing workers). */
  pauseRecycles (paused: boolean): void { this.#recycling.pause(paused) }

  /**
   * Forks every slot. `listen` says how workers bind. With an app file the first worker goes alone until it has
   * loaded the file, so an app that cannot load (syntax error, missing file) costs one fork and one message.
   */
  start (listen: ListenPlan = {}): void {
    if (this.#phase !== 'idle') return
    this.#phase = 'running'
    if (this.#options.stuckDiagnostics && !this.#diagnostics) {
      this.#log.warn({ event: 'cluster:stuck-diagnostics-unavailable' },
        `stuckDiagnostics needs a global WebSocket (Node >= 22); Node ${process.versions.node} has none: stuck workers are killed without a stack`)
    }
    this.#listen = listen
    const [first, ...rest] = this.#slots
    this.#held = rest
    if (first !== undefined) this.#fork(first)
    // An inline app is this very script, loaded already: no need to wait for the first worker's `loaded`.
    if (this.#target.fastifyArgs === undefined) this.#releaseHeld()
    // One timer, refreshed after each tick: the watchdog and the recycle policy run every sampleInterval.
    this.#watchdog = setTimeout(() => {
      this.#recycling.tick(this.#clock.now())
      this.#watchdog?.refresh()
    }, this.#options.sampleInterval)
    this.#watchdog.unref()
  }

  /**
   * Slot `index`'s worker, for the sticky balancer (a successor appears here once promoted): its state, and its
   * channel while it takes connections.
   */
  slotWorker (index: number): StickySlotWorker | null {
    const m = this.#slots[index]?.current ?? null
    return m === null ? null : { state: m.life.state, channel: m.unlistened ? null : m.proc }
  }

  /**
   * Replaces one slot's worker, surge first: fork the successor, wait until it is ready, then the old worker
   * drains and exits. Resolves when the old one is gone, or with `ok: false` if the successor failed (the old
   * worker keeps serving).
   */
  async replaceSlot (index: number): Promise<SlotReplacement> {
    const slot = this.#slots[index]
    const old = slot?.current ?? null
    if (slot === undefined || old === null || old.life.state !== 'ready' || slot.successor !== null || old.recycling !== null ||
      this.#phase !== 'running') {
      return { slot: index, ok: false, error: 'the slot has no ready worker to replace', oldPid: old?.pid ?? null, newPid: null }
    }
    old.recycling = { reason: 'reload', breaches: [] }
    const successor = this.#fork(slot, true)
    if (successor === null) {
      old.recycling = null
      return { slot: index, ok: false, error: 'the cluster is shutting down', oldPid: old.pid, newPid: null }
    }
    const outcome = await new Promise<{ ok: boolean, error?: string }>((resolve) => { successor.takeover = resolve })
    if (!outcome.ok) return { slot: index, ok: false, error: outcome.error ?? 'failed', oldPid: old.pid, newPid: successor.pid }
    if ((old.life.state as string) !== 'exited') await new Promise<void>((resolve) => { old.exitWaiters.push(resolve) })
    return { slot: index, ok: true, oldPid: old.pid, newPid: successor.pid }
  }

  /** A snapshot of the live workers. */
  workers (): WorkerInfo[] {
    const now = this.#clock.now()
    return [...this.#workers.values()].map((w) => ({
      id: w.id,
      slot: w.slot.index,
      pid: w.pid,
      state: w.life.state,
      uptime: now - w.forkedAt,
      restarts: w.slot.restarts,
      lastHealth: w.lastHealth === null ? null : { ...w.lastHealth },
      address: w.address === null ? null : { ...w.address },
      recycling: w.recycling !== null,
      recycles: { ...w.slot.recycles },
      degraded: w.slot.failing
    }))
  }

  /** The cluster as a whole, for /status and the `status` command. */
  snapshot (): { phase: Phase, degraded: boolean, failingSlots: number[], lastError: string | null, workers: WorkerInfo[] } {
    return {
      phase: this.#phase,
      degraded: this.#degraded,
      failingSlots: this.#slots.filter((s) => s.failing).map((s) => s.index),
      lastError: this.#lastError,
      workers: this.workers()
    }
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
    for (const slot of this.#slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
      slot.restartTimer = null
    }
    if (this.#watchdog !== null) clearTimeout(this.#watchdog)
    this.#watchdog = null
    // A hook that never settles must not hold the shutdown: it gets workerStopTimeout at most.
    void callHook(this.#log, 'onShutdown', this.#options.onShutdown, { reason, signal }, this.#options.workerStopTimeout).then(() => {
      for (const w of this.#workers.values()) this.#step(w, { type: 'stop', drainDelay: this.#options.drainDelay })
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
      for (const w of this.#workers.values()) this.#step(w, { type: 'force' })
    }
    return this.#closed
  }

  #fork (slot: Slot, asSuccessor = false): Member | null {
    slot.restartTimer = null
    if (this.#phase !== 'running') return null
    const launch = encodeLaunch({
      v: 1,
      slot: slot.index,
      sampleInterval: this.#options.sampleInterval,
      drainDelay: this.#options.drainDelay,
      readinessPath: this.#options.readinessPath,
      metricsTimeout: this.#options.metricsTimeout,
      ...(this.#diagnostics ? { inspect: true } : {}),
      ...(this.#target.fastifyArgs === undefined ? {} : { fastifyArgs: this.#target.fastifyArgs }),
      ...this.#listen
    })
    let member: Member | undefined
    const proc = new WorkerProcess(this.#target, { [WORKER_ENV]: launch }, {
      message: (parsed) => { if (member !== undefined) this.#onMessage(member, parsed) },
      exit: (code, signal) => { if (member !== undefined) this.#step(member, { type: 'exit', code, signal }) },
      timer: (name) => { if (member !== undefined) this.#step(member, { type: 'timer', name }) },
      // A send to a dying worker fails with EPIPE or ERR_IPC_CHANNEL_CLOSED: expected, logged at debug.
      error: (err) => { this.#log.debug({ id: member?.id, pid: member?.pid, err }, 'worker channel error') }
    })
    const now = this.#clock.now()
    const first = forked(this.#settings)
    member = {
      proc,
      id: proc.id,
      pid: proc.pid,
      slot,
      forkedAt: now,
      life: first.lifecycle,
      retired: null,
      recycling: null,
      takeover: null,
      exitWaiters: [],
      lastReportAt: now,
      unhealthyFor: 0,
      address: null,
      inspector: null,
      lastHealth: null,
      error: null,
      bootError: null,
      invalid: new Map(),
      unlistened: false
    }
    if (asSuccessor) slot.successor = member
    else slot.current = member
    this.#workers.set(member.id, member)
    this.#effects(member, first.effects, null)
    const event = { id: member.id, slot: slot.index, pid: member.pid }
    this.#log.info({ event: ClusterEvents.WORKER_FORK, ...event }, 'worker forked')
    this.#emit(ClusterEvents.WORKER_FORK, event)
    void callHook(this.#log, 'onWorkerFork', this.#options.onWorkerFork, event)
    return member
  }

  /** Feeds one event to a worker's lifecycle and carries out what it returns. */
  #step (w: Member, event: LifecycleEvent): void {
    const next = step(w.life, event, this.#clock.now(), this.#settings)
    w.life = next.lifecycle
    this.#effects(w, next.effects, event)
  }

  #effects (w: Member, effects: Effect[], event: LifecycleEvent | null): void {
    for (const effect of effects) {
      if (w.proc.apply(effect)) continue
      if (effect.kind === 'observe') continue // the HEALTH handler feeds the policy with the sample
      if (effect.kind === 'exited') {
        const exit = event?.type === 'exit' ? event : { code: null, signal: null }
        this.#onExit(w, effect.outcome, exit.code, exit.signal)
      } else if (effect.kind === 'emit') {
        const ids = { id: w.id, slot: w.slot.index, pid: w.pid }
        if (effect.event === 'leaving') {
          this.#log.warn({ event: 'worker:leaving', ...ids }, 'worker draining on its own (a signal not from the primary): its exit counts as unrequested')
        } else if (effect.event === 'startup-timeout') {
          this.#log.error({ event: 'worker:startup-timeout', ...ids, timeout: this.#options.startupTimeout }, 'worker not ready within startupTimeout: killing it')
        } else if (effect.event === 'stop-timeout') {
          this.#log.warn({ event: 'worker:stop-timeout', ...ids, timeout: this.#options.workerStopTimeout }, 'worker did not stop in time: signalling it')
        }
      }
    }
  }

  #onMessage (w: Member, parsed: Parsed<WorkerMessage>): void {
    if (parsed.kind === 'foreign') return
    if (parsed.kind === 'invalid') {
      this.#onInvalid(w, parsed.reason)
      return
    }
    const message = parsed.message
    const now = this.#clock.now()
    switch (message.type) {
      case MessageTypes.READY: {
        if (w.life.state !== 'starting') return
        this.#step(w, { type: 'ready' })
        w.address = message.address
        w.inspector = message.inspector ?? null
        // Not fed to the recycle policy: this sample measures the boot (loading, JIT), not serving.
        w.lastHealth = { ...message.sample, receivedAt: now }
        w.lastReportAt = now
        this.#anyReady = true
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, address: message.address, bootMs: now - w.forkedAt }
        this.#log.info({ event: ClusterEvents.WORKER_READY, ...event }, 'worker ready')
        this.#emit(ClusterEvents.WORKER_READY, event)
        this.#releaseHeld()
        void callHook(this.#log, 'onWorkerReady', this.#options.onWorkerReady, event)
        w.takeover?.({ ok: true })
        w.takeover = null
        this.#succeed(w.slot)
        if (w.slot.current === w) w.slot.failing = false
        this.#checkDegraded()
        this.#checkClusterReady()
        return
      }
      case MessageTypes.HEALTH: {
        if (w.life.state === 'exited') return
        w.lastHealth = { ...message.sample, receivedAt: now }
        w.lastReportAt = now
        if (w.life.state === 'ready') this.#recycling.observe(w, message.sample)
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, sample: message.sample }
        this.#log.trace({ event: ClusterEvents.WORKER_HEALTH, ...event }, 'worker health')
        this.#emit(ClusterEvents.WORKER_HEALTH, event)
        return
      }
      case MessageTypes.APP_METRICS:
      case MessageTypes.CLUSTER_METRICS_REQUEST:
        this.onMetricsMessage?.(w.id, message)
        return
      case MessageTypes.UNLISTEN:
        // Sent after node:cluster's own "close" on the same channel: answering now means no more connections
        // are on their way to this worker. The sticky balancer sends it none from here on either.
        w.unlistened = true
        w.proc.send(buildUnlistenAck())
        return
      case MessageTypes.LOADED:
        this.#releaseHeld()
        return
      case MessageTypes.LEAVING:
        this.#step(w, { type: 'leaving' })
        return
      case MessageTypes.UNCAUGHT:
        w.error = { message: message.message, frame: message.frame }
        this.#lastError = describeError(w.error)
        this.#log.error({ event: 'worker:uncaught', id: w.id, pid: w.pid, error: w.error }, 'worker is dying of an uncaught error')
        return
      case MessageTypes.BOOT_ERROR: {
        // Only a booting worker can fail to boot; from any other it is a lie.
        if (w.life.readyAt !== null) {
          this.#onInvalid(w, `boot-error from a worker in state ${w.life.state}`)
          return
        }
        const fatal = isFatalBootError(message.stage, this.#anyReady)
        w.bootError = `${message.code}: ${message.message}`
        this.#lastError = w.bootError
        const event = { id: w.id, slot: w.slot.index, pid: w.pid, code: message.code, message: message.message, stage: message.stage, fatal }
        this.#emit(ClusterEvents.WORKER_BOOT_ERROR, event)
        if (fatal && this.#phase === 'running') {
          // A load error is shown the way Node shows it (file:line, the source line, a caret).
          const detail = message.stage === 'load' && message.detail !== '' ? `\n${message.detail}` : ''
          this.#giveUp(new FST_CLUSTER_FATAL_BOOT(message.code, message.message, detail), 'fatal-boot-error')
        } else {
          this.#log.error({ event: ClusterEvents.WORKER_BOOT_ERROR, ...event, detail: message.detail }, 'worker failed to boot')
        }
      }
    }
  }

  /** The first worker loaded the app file (or got further, or died): fork the slots held back at start. */
  #releaseHeld (): void {
    if (this.#held.length === 0) return
    let booting = 0
    for (const w of this.#workers.values()) if (w.life.state === 'starting') booting++
    for (; booting < this.#bootWindow && this.#held.length > 0; booting++) this.#fork(this.#held.shift() as Slot)
  }

  /** Succession (slot.ts), and the retired worker drains. */
  #succeed (slot: Slot): void {
    const old = succeed(slot)
    if (old !== null) this.#step(old, { type: 'retire' })
  }

  #onExit (w: Member, outcome: ExitOutcome, code: number | null, signal: string | null): void {
    const now = this.#clock.now()
    this.#workers.delete(w.id)
    this.#recycling.forget(w.id)
    for (const waiter of w.exitWaiters.splice(0)) waiter()
    const slot = w.slot
    const wasCurrent = slot.current === w
    if (outcome.dirtyShutdown) this.#anyForced = true
    // What killed it, for the crash-loop message: its uncaught error, its boot error, or the exit code.
    const describe = w.error !== null ? describeError(w.error) : w.bootError ?? `exit code ${String(code)}, signal ${String(signal)}`
    if (!outcome.expected) this.#lastError = describe

    let restartIn: number | null = null
    if (slot.successor === w) {
      slot.successor = null
      const error = `replacement exited before ready (${describe})`
      w.takeover?.({ ok: false, error })
      w.takeover = null
      if (this.#phase === 'running') this.#recycling.recycleFailed(slot.current, w, error)
    } else if (wasCurrent) {
      slot.current = null
      if (slot.successor !== null) {
        // The current worker died while its replacement was starting: the replacement takes the slot.
        this.#succeed(slot)
      } else if (this.#phase === 'running' && !outcome.expected) {
        restartIn = this.#restart(slot, w, now, describe)
      }
    }
    const event = {
      id: w.id, slot: slot.index, pid: w.pid, code, signal, reason: outcome.reason, expected: outcome.expected,
      uptime: now - w.forkedAt, restartIn, ...(w.error === null ? {} : { error: w.error })
    }
    const level = outcome.expected && outcome.reason !== 'killed-at-deadline' ? 'info' : 'warn'
    this.#log[level]({ event: ClusterEvents.WORKER_EXIT, ...event }, 'worker exited')
    this.#emit(ClusterEvents.WORKER_EXIT, event)
    void callHook(this.#log, 'onWorkerExit', this.#options.onWorkerExit, event)
    // After the exit is told: a held slot's fork follows it in the log.
    this.#releaseHeld()
    this.#checkDegraded()
    this.#maybeFinish()
  }

  /** An unrequested exit of a slot's worker: count it, trip the breaker, or refill the slot after its backoff. */
  #restart (slot: Slot, w: Member, now: number, describe: string): number | null {
    const othersServing = [...this.#workers.values()].some((o) => o.life.state === 'ready')
    const decision = decideRestart({
      readyAt: w.life.readyAt, exitAt: now, stableUptime: this.#options.stableUptime, othersServing, attempt: slot.attempt
    }, { initial: this.#options.restartDelay, max: this.#options.maxRestartDelay }, this.#clock.random)
    if (decision.counts && this.#breaker.record(now)) {
      this.#giveUp(new FST_CLUSTER_CRASH_LOOP(this.#breaker.count(now), this.#options.crashLoopWindow, this.#lastError ?? describe), 'crash-loop')
      return null
    }
    slot.attempt = decision.resetBackoff ? 1 : slot.attempt + 1
    slot.restarts++
    slot.failing = decision.degraded
    // Deliberately not unref'd: while every worker is down this timer is what keeps the service coming back.
    slot.restartTimer = setTimeout(() => { this.#fork(slot) }, decision.delay)
    return decision.delay
  }

  /** Announces entering and leaving the degraded state (a slot cannot boot while others serve). */
  #checkDegraded (): void {
    const failing = this.#phase === 'running' ? this.#slots.filter((s) => s.failing) : []
    const degraded = failing.length > 0
    if (degraded === this.#degraded) return
    this.#degraded = degraded
    const ready = [...this.#workers.values()].filter((w) => w.life.state === 'ready').length
    const event = { slots: failing.map((s) => s.index), ready, error: this.#lastError }
    if (degraded) {
      this.#log.error({ event: ClusterEvents.CLUSTER_DEGRADED, ...event },
        'degraded: a worker cannot boot while the others serve; retrying at the backoff ceiling')
      this.#emit(ClusterEvents.CLUSTER_DEGRADED, event)
    } else {
      this.#log.info({ event: ClusterEvents.CLUSTER_RECOVERED, ...event }, 'recovered: every slot has a worker again')
      this.#emit(ClusterEvents.CLUSTER_RECOVERED, event)
    }
  }

  #onInvalid (w: Member, detail: string): void {
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
    if (!this.#slots.every((s) => s.current?.life.state === 'ready')) return
    this.#everReady = true
    const workers = this.workers()
    const address = workers[0]?.address ?? null
    this.#log.info({ event: ClusterEvents.CLUSTER_READY, workers: workers.length, address }, 'cluster ready')
    this.#emit(ClusterEvents.CLUSTER_READY, { workers, address })
    this.#resolveReady()
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

  #maybeFinish (): void {
    if (this.#phase !== 'closing' || this.#workers.size > 0) return
    this.#phase = 'closed'
    const exit = this.#outcome ?? { code: this.#anyForced ? 1 : 0, reason: 'shutdown', forced: this.#anyForced }
    this.#log.info({ event: ClusterEvents.CLUSTER_CLOSE, code: exit.code, reason: exit.reason, forced: exit.forced }, 'cluster closed')
    this.#emit(ClusterEvents.CLUSTER_CLOSE, exit)
    this.#resolveClosed(exit)
  }

  #emit<K extends keyof ClusterEventMap> (event: K, ...args: ClusterEventMap[K]): void {
    emitSafely(this.#events, this.#log, event, ...args)
  }
}

function describeError (error: WorkerError): string {
  return error.frame === null ? error.message : `${error.message} (${error.frame})`
}
