import cluster from 'node:cluster'
import { decodeLaunch, parsePrimaryMessage, type PrimaryMessage, type WorkerLaunch } from '../lib/shared/protocol.js'

/**
 * The worker's end of the IPC channel. Exists only in a process forked by fastify-cluster; elsewhere
 * `connectToPrimary()` returns `null` and the plugin runs degraded (no IPC).
 */
export class PrimaryChannel {
  readonly launch: WorkerLaunch
  readonly workerId: number

  constructor (launch: WorkerLaunch, workerId: number) {
    this.launch = launch
    this.workerId = workerId
  }

  /** Sends if the channel is open; a closed channel (primary gone) is normal, not an error. */
  send (message: object, done?: () => void): void {
    if (typeof process.send !== 'function' || !process.connected) {
      done?.()
      return
    }
    try {
      process.send(message, undefined, undefined, () => { done?.() })
    } catch {
      done?.()
    }
  }

  /** Calls `handler` with each valid message from the primary; returns the function that removes it. */
  onMessage (handler: (message: PrimaryMessage) => void): () => void {
    const listener = (raw: unknown): void => {
      const parsed = parsePrimaryMessage(raw)
      if (parsed.kind === 'ok') handler(parsed.message)
    }
    process.on('message', listener)
    return () => { process.off('message', listener) }
  }
}

/** Whether this process is a `node:cluster` worker (of fastify-cluster or not): `start()` serves the app here. */
export function isClusterWorker (): boolean {
  return cluster.isWorker
}

/** The channel to the primary when this process is a fastify-cluster worker, else `null`. */
export function connectToPrimary (): PrimaryChannel | null {
  const launch = decodeLaunch(process.env)
  const worker = cluster.worker
  if (!cluster.isWorker || launch === null || typeof process.send !== 'function' || worker === undefined) return null
  return new PrimaryChannel(launch, worker.id)
}
