'use strict'

// A plain fastify-cli app: `fastify-cluster start --workers 2 examples/cli/app.js` runs it on two workers.
module.exports = async function app (fastify, opts) {
  fastify.get('/', async () => ({ hello: 'world', worker: fastify.cluster.workerId, pid: process.pid }))
  fastify.get('/health-sample', async () => fastify.cluster.lastSample)
}
