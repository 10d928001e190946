// A Fastify app written in TypeScript. Run it built (any Node) or, on Node versions that strip types natively
// (22.18+, 24), directly:
//   npx tsc -p examples/typescript && npx fastify-cluster start --workers 2 examples/typescript/dist/app.js
//   npx fastify-cluster start --workers 2 examples/typescript/app.ts
import type { FastifyInstance } from 'fastify'
// Brings in the type of the `fastify.cluster` decorator.
import type {} from 'fastify-cluster'

interface Options {
  greeting?: string
}

export default async function app (fastify: FastifyInstance, opts: Options): Promise<void> {
  fastify.get('/', async () => ({
    hello: opts.greeting ?? 'typescript',
    worker: fastify.cluster.workerId,
    draining: fastify.cluster.draining
  }))
}
