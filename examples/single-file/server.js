'use strict'

// A single-file program: the same script runs in the primary (which forks) and in every worker (which serves).
// Run it with: node examples/single-file/server.js
const { start } = require('fastify-cluster')

const handle = start({
  workers: Number(process.env.WORKERS ?? 2),
  port: process.env.PORT ?? 3000,
  host: process.env.HOST ?? '127.0.0.1',
  app: async function app (fastify, opts) {
    fastify.get('/', async () => ({ hello: 'world', pid: process.pid, worker: fastify.cluster.workerId }))
  },
  onWorkerExit: (event) => {
    if (!event.expected) console.error(`worker ${event.pid} exited (${event.reason}); restarting in ${event.restartIn} ms`)
  }
})

if (handle.isPrimary) {
  handle.ready.then(() => {
    console.error(`listening on ${JSON.stringify(handle.workers()[0]?.address)} with ${handle.workers().length} workers`)
  }, () => {})
}
