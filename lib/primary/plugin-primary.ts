/*
 * Runs in the PRIMARY, when the app's own `register(clusterPlugin, { workers })` launches the cluster (the
 * plugin's door; the CLI and start() are the others). The app's `listen()` forks the workers instead of binding:
 * Fastify's listen() calls `listen()` on its raw Node server and resolves with that server's `address()` once it
 * emits 'listening', and its close() calls the raw server's `close()`. So the primary gives its raw server (a
 * Node object, not Fastify's) its own `listen`, `address`, `close` and `listening`: listen forks and emits
 * 'listening' when every worker is ready, address is the workers' address, close is a graceful cluster shutdown.
 * test/plugin-launcher-fastify-contract.test.ts pins the Fastify behaviour this relies on.
 */
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { FST_CLUSTER_CONFLICTING_OPTIONS } from '../shared/errors.js'
import { preparePrimary } from './launcher.js'
import { checkPluginClusterOptions } from '../shared/plugin-cluster-options.js'
import type { WorkerAddress } from '../shared/events.js'
import type { PrimaryClusterView } from '../../plugin/state.js'

interface ListenArgs { port?: number | string, host?: string, path?: string }

/**
 * Prepares the cluster (validated now, nothing forked) and makes `fastify.listen()` launch it. Returns the
 * primary's `fastify.cluster`.
 */
export function launchFromPlugin (fastify: FastifyInstance, options: Record<string, unknown>): PrimaryClusterView {
  const clusterOptions = checkPluginClusterOptions(options)
  const primary = preparePrimary(clusterOptions)
  const { handle } = primary
  const server = fastify.server
  let address: AddressInfo | string | null = null
  let listening = false
  let closing = false

  const fail = (err: Error): void => {
    // Reported once the cluster is gone, so code that exits on a failed listen() leaves no worker behind.
    void handle.closed.then(() => { server.emit('error', err) })
  }

  const listen = function listen (this: unknown, ...args: unknown[]): typeof server {
    const opts = (typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0] }) as ListenArgs
    const healthPort = options.healthPort
    const port = opts.port === undefined ? 0 : Number(opts.port)
    if (healthPort !== undefined && Number(healthPort) !== 0 && Number(healthPort) === port) {
      process.nextTick(() => {
        server.emit('error', new FST_CLUSTER_CONFLICTING_OPTIONS(`healthPort and the port given to listen() are both ${port}: the health server needs its own port`))
      })
      return server
    }
    primary.launch(opts.path === undefined && Number.isInteger(port) ? { port, ...(opts.host === undefined ? {} : { host: opts.host }) } : {})
    handle.ready.then(() => {
      address = toAddressInfo(handle.workers().find((w) => w.address !== null)?.address ?? null)
      listening = true
      server.emit('listening')
    }, fail)
    return server
  }

  const close = function close (cb?: (err?: Error) => void): typeof server {
    closing = true
    void handle.close().then(() => {
      listening = false
      address = null
      cb?.()
      server.emit('close')
    })
    return server
  }

  // Own properties on this one Node server object: Fastify's code and the prototype are untouched.
  Object.defineProperties(server, {
    listen: { value: listen, configurable: true, writable: true },
    address: { value: () => address, configurable: true, writable: true },
    close: { value: close, configurable: true, writable: true },
    listening: { get: () => listening, configurable: true }
  })

  // app.close() before ready() never reaches the raw server's close(): the cluster closes here then.
  fastify.addHook('onClose', async () => {
    closing = true
    await handle.close()
  })
  // The cluster ended without app.close() (a signal, or it gave up): close the app in the primary too, so its
  // onClose hooks run and nothing keeps the primary alive. After a failed listen() has been reported
  // (setImmediate), so the app's own error handling comes first.
  void handle.closed.then(() => {
    setImmediate(() => { if (!closing) fastify.close().catch(() => {}) })
  })
  return handle
}

function toAddressInfo (address: WorkerAddress | null): AddressInfo | string | null {
  if (address === null) return null
  if (address.family === 'unix') return address.address
  return { address: address.address, port: address.port, family: address.family }
}
