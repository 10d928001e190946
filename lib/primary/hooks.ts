/*
 * Calling user code from the primary: lifecycle hooks and event listeners. A throwing or hanging hook is the user's
 * bug and must never take the primary down or hold a shutdown.
 */
import type { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { ClusterEventMap } from '../shared/events.js'

/** Resolves with the promise's value, or `undefined` after `ms`. */
export async function race<T> (promise: Promise<T>, ms: number): Promise<T | undefined> {
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

/** Runs a hook; logs when it throws or (with a deadline) does not settle in time. Never rejects. */
export async function callHook<T> (log: Logger, name: string, hook: ((event: T) => void | Promise<void>) | undefined, event: T,
  deadline?: number): Promise<void> {
  if (hook === undefined) return
  try {
    const run = Promise.resolve().then(() => hook(event))
    if (deadline === undefined) await run
    else if (await race(run.then(() => 'settled' as const), deadline) === undefined) {
      log.warn({ hook: name, deadline }, 'a lifecycle hook did not settle in time; going on without it')
    }
  } catch (err) {
    log.error({ err, hook: name }, 'a lifecycle hook threw')
  }
}

/** Emits; a throwing listener is logged, not thrown. */
export function emitSafely<K extends keyof ClusterEventMap> (events: EventEmitter<ClusterEventMap>, log: Logger, event: K,
  ...args: ClusterEventMap[K]): void {
  try {
    events.emit(event, ...(args as never))
  } catch (err) {
    log.error({ err, event }, 'an event listener threw')
  }
}
