// A Fastify app written in TypeScript, an ES module (see package.json). Run it built (any Node) or, on Node
// versions that strip types natively (22.18+, 23.6+), as is:
//   npx tsc -p examples/typescript && npx fastify-cluster start --workers 2 examples/typescript/dist/app.js
//   npx fastify-cluster start --workers 2 examples/typescript/app.ts
import type { FastifyInstance } from 'fastify'
// Brings in the type of the `fastify.cluster` decorator (erased at runtime).
import type {} from 'fastify-cluster'

interface Options {
  greeting?: string
}

interface Hello {
  hello: string
  pid: number
  isWorker: boolean
  workerId: number | null
  slot: number | null
  draining: boolean
}

export default async function app (fastify: FastifyInstance, opts: Options): Promise<void> {
  fastify.get('/', async (): Promise<Hello> => {
    const { isWorker, workerId, slot, draining } = fastify.cluster
    return { hello: opts.greeting ?? 'typescript', pid: process.pid, isWorker, workerId, slot, draining }
  })
}
