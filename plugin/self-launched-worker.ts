/*
 * Runs in a WORKER of a cluster that the app launched itself (`register(clusterPlugin, { workers })`, then
 * `listen()`, in the primary). Here the app's own script builds Fastify and calls listen(); this gives that
 * worker what the launcher's workers get from plugin/worker-runtime.ts: the primary's drain, the worker's
 * signal rules, a boot error (port taken) reported to the primary, and the reusePort binding.
 */
import type { FastifyInstance } from 'fastify'
import type { PrimaryChannel } from './channel.js'
import { WorkerLifecycle, bindOptions } from './process-lifecycle.js'

export function adoptSelfLaunchedWorker (fastify: FastifyInstance, channel: PrimaryChannel): void {
  const lifecycle = new WorkerLifecycle(channel)
  const server = fastify.server
  // A listen error (EADDRINUSE, EACCES) is every worker's: tell the primary, which stops instead of retrying.
  const onListenError = (err: Error): void => { lifecycle.fail(err) }
  server.on('error', onListenError)
  server.once('listening', () => { server.off('error', onListenError) })
  fastify.addHook('onListen', async () => { lifecycle.attach(fastify) })

  if (channel.launch.reusePort === true) {
    // The app's listen options, with the socket of this worker's own (an own property of this Node server).
    const listen = server.listen.bind(server) as (...args: unknown[]) => typeof server
    Object.defineProperty(server, 'listen', {
      value: (options: unknown, ...rest: unknown[]) => typeof options === 'object' && options !== null
        ? listen(bindOptions(options as Parameters<typeof bindOptions>[0], channel.launch), ...rest)
        : listen(options, ...rest),
      configurable: true,
      writable: true
    })
  }
}
