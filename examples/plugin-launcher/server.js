'use strict'

// An ordinary Fastify server. The one added line is the register(clusterPlugin, ...) call: with it,
// `node examples/plugin-launcher/server.js` runs the app on every core. listen() in the first process (the
// primary) forks the workers, which run this same file; the primary serves no requests itself.
const Fastify = require('fastify')
const clusterPlugin = require('fastify-cluster')

async function main () {
  const app = Fastify({ logger: true })
  await app.register(clusterPlugin, { workers: process.env.WORKERS ?? 'max' })

  // Code that must run once (migrations): in the primary, before any worker starts. In a plain process too.
  if (!app.cluster.isWorker) app.log.info('migrations would run here, once')

  app.get('/', async () => ({ hello: 'world', pid: process.pid }))

  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
  if (app.cluster.isPrimary) app.log.info(`${app.cluster.workers().length} workers serve ${address}`)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
