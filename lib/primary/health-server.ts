import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { FST_CLUSTER_HEALTH_LISTEN } from '../shared/errors.js'
import type { WorkerInfo } from '../shared/events.js'
import type { ClusterMetrics } from './metrics.js'
import type { Collection } from './app-metrics.js'

/** What the health endpoints read. Everything is in the primary: it answers while every worker is stuck. */
export interface HealthSource {
  workers: () => WorkerInfo[]
  /** 'running' while serving; anything else means not ready. */
  phase: () => string
  /** The breaker tripped or a fatal boot error stopped the cluster: /live fails. */
  gaveUp: () => boolean
  /** The workers' own metrics for a scrape, collected within metricsTimeout. */
  appMetrics: () => Promise<Collection>
  /** A slot cannot boot a worker while others serve. */
  degraded?: () => boolean
}

export interface HealthServerSettings {
  port: number
  host: string
  minReady: number
  /** Serve `/status` (workers, pids, samples). */
  status: boolean
}

/**
 * The primary's health server for load balancers, Kubernetes probes and Prometheus: a small Fastify instance
 * with minimal bodies, `Cache-Control: no-store`, bounded headers and timeouts, 405 for other methods.
 */
export async function startHealthServer (settings: HealthServerSettings, source: HealthSource, metrics: ClusterMetrics,
  log: Logger): Promise<{ port: number, close: () => Promise<void> }> {
  const app: FastifyInstance = Fastify({
    logger: false,
    // Small requests only; a slow client cannot hold a socket for long.
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => createServer({
      maxHeaderSize: 8192, requestTimeout: 5000, headersTimeout: 5000, keepAliveTimeout: 5000, connectionsCheckingInterval: 1000
    }, handler),
    bodyLimit: 1024,
    // Router settings go under routerOptions since Fastify 5.x (the top-level key warns FSTDEP022).
    routerOptions: { maxParamLength: 100 },
    return503OnClosing: true,
    // At the very end of a shutdown nothing on this port is worth waiting for.
    forceCloseConnections: true
  })
  app.addHook('onRequest', async (_request, reply) => { reply.header('cache-control', 'no-store') })
  const routes = new Set(['/live', '/ready', '/metrics', ...(settings.status ? ['/status'] : [])])
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    if (routes.has(path)) {
      return await reply.code(405).header('allow', 'GET, HEAD').send({ status: 'method not allowed' })
    }
    return await reply.code(404).send({ status: 'not found' })
  })
  app.setErrorHandler(async (_error, _request, reply) => {
    // Never a stack trace or an internal message on this port.
    return await reply.code(500).send({ status: 'error' })
  })

  app.get('/live', async (_request, reply) => {
    if (source.gaveUp()) return await reply.code(503).send({ status: 'gave up' })
    return { status: 'ok' }
  })
  app.get('/ready', async (_request, reply) => {
    // A worker whose own healthCheck fails is not ready (its dependency is down), though it is not recycled.
    const ready = source.workers().filter((w) => w.state === 'ready' && w.lastHealth?.checkHealthy !== false).length
    if (source.phase() !== 'running') return await reply.code(503).header('retry-after', '5').send({ status: 'draining' })
    if (ready < settings.minReady) return await reply.code(503).header('retry-after', '5').send({ status: 'not ready' })
    return { status: 'ok' }
  })
  if (settings.status) {
    app.get('/status', async () => {
      const workers = source.workers()
      return {
        status: source.phase() === 'running' ? 'ok' : source.phase(),
        ready: workers.filter((w) => w.state === 'ready').length,
        degraded: source.degraded?.() ?? false,
        workers
      }
    })
  }
  app.get('/metrics', async (_request, reply) => {
    // The cluster's own metrics and the app's, aggregated over the workers that answered in time.
    const body = await metrics.render(await source.appMetrics(), true)
    return await reply.type(metrics.registry.contentType).send(body)
  })

  try {
    await app.listen({ port: settings.port, host: settings.host })
  } catch (err) {
    await app.close().catch(() => {})
    throw new FST_CLUSTER_HEALTH_LISTEN(`${settings.host}:${settings.port}`, (err as Error).message, { cause: err })
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : settings.port
  log.info({ event: 'health:listening', host: settings.host, port }, 'health server listening')
  return { port, close: async () => { await app.close() } }
}
