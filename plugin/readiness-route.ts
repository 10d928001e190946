import type { FastifyInstance } from 'fastify'

/**
 * The readiness route on the app's own port, for load balancers that only poll the traffic port: 503 with
 * Retry-After while this worker drains, is under pressure, or its own `healthCheck` last failed; 200 otherwise.
 * Added after the app, and skipped (with a log line) when the app already answers that path itself.
 * `underPressure` comes from the plugin's registration (passed in, so this module does not import the plugin).
 */
export function addReadinessRoute (fastify: FastifyInstance, path: string,
  underPressure: (fastify: FastifyInstance) => boolean): void {
  if (fastify.hasRoute({ url: path, method: 'GET' })) {
    fastify.log.warn({ path }, 'fastify-cluster: the app defines its own readiness route; not adding one')
    return
  }
  fastify.get(path, { logLevel: 'warn' }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    if (fastify.cluster.draining) return await reply.code(503).header('retry-after', '5').send({ status: 'draining' })
    if (underPressure(fastify)) return await reply.code(503).header('retry-after', '10').send({ status: 'under pressure' })
    // A failing dependency (the database, ...) takes the worker out of rotation; it does not restart it.
    if (fastify.cluster.lastSample?.checkHealthy === false) {
      return await reply.code(503).header('retry-after', '5').send({ status: 'health check failing' })
    }
    return { status: 'ok' }
  })
}
