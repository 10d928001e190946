'use strict'

// Lifecycle hooks: the app closes its "database pool" in onClose (so a drain, a reload or a recycle never leaks
// it), and the primary logs worker exits, recycles and reloads. Run: node examples/hooks/server.js (PORT, WORKERS
// from the environment); `kill -HUP <primary pid>` reloads, Ctrl+C stops.
const { start, ClusterEvents } = require('fastify-cluster')

/** Stands in for a database pool: something that must be closed, or the process would not exit. */
function createPool () {
  const keepAlive = setInterval(() => {}, 1000)
  return {
    query: async () => ({ now: Date.now() }),
    end: async () => { clearInterval(keepAlive) }
  }
}

const handle = start({
  workers: Number(process.env.WORKERS ?? 2),
  port: process.env.PORT ?? 3000,
  host: '127.0.0.1',
  logger: false,
  app: async function app (fastify) {
    const pool = createPool()
    fastify.decorate('db', pool)
    fastify.addHook('onClose', async () => {
      await pool.end()
      console.log(JSON.stringify({ example: 'pool closed', pid: process.pid }))
    })
    fastify.get('/', async () => ({ pid: process.pid, ...(await pool.query()) }))
  },
  onWorkerReady: ({ pid, bootMs }) => { console.log(JSON.stringify({ example: 'worker ready', pid, bootMs })) },
  onWorkerExit: ({ pid, reason, restartIn }) => { console.log(JSON.stringify({ example: 'worker exit', pid, reason, restartIn })) },
  onShutdown: async ({ signal }) => { console.log(JSON.stringify({ example: 'shutting down', signal })) },
  onReload: (result) => { console.log(JSON.stringify({ example: 'reloaded', replaced: result.replaced.length, aborted: result.aborted })) }
})

if (handle.isPrimary) {
  handle.on(ClusterEvents.WORKER_RECYCLE, ({ pid, reason }) => {
    console.log(JSON.stringify({ example: 'recycling', pid, reason }))
  })
  handle.ready.then(() => {
    console.log(JSON.stringify({ example: 'cluster ready', address: handle.workers()[0]?.address }))
  }, () => {})
}
