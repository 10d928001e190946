#!/usr/bin/env node
'use strict'
/*
 * `node bench/check-close.js`: checks that autocannon's Connection-close mode measures what the bench says it
 * does. autocannon writes its next request as soon as a response ends, on the socket the server is closing, then
 * reconnects when the server's FIN arrives. So each counted response must have had a connection of its own, and
 * the extra writes must not be served or counted. The fixture app serves in this process and counts connections
 * and requests itself; the two sides must agree to within one in-flight request per connection.
 * wrk, when on PATH, is run the same way for comparison.
 */
const Fastify = require('fastify')
const app = require('./fixtures/app')
const { findWrk, runLoad, runWrk } = require('./load')

async function main () {
  const connections = 20
  const duration = 3
  const fastify = Fastify({ logger: { level: 'fatal' } })
  let accepted = 0
  let served = 0
  fastify.addHook('onRequest', async () => { served++ })
  await fastify.register(app)
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  fastify.server.on('connection', () => { accepted++ })
  const url = `http://127.0.0.1:${fastify.server.address().port}/`
  try {
    const result = await runLoad({ url, connections, duration, close: true })
    const counted = result.ok + result.non2xx
    const lines = [
      `autocannon: ${counted} responses (${result.rps.toFixed(0)}/s), ${result.failed} failed`,
      `server:     ${accepted} connections accepted, ${served} requests served`
    ]
    const ok = Math.abs(accepted - counted) <= connections && Math.abs(served - counted) <= connections && result.failed === 0
    const wrk = findWrk()
    if (wrk !== null) {
      const before = served
      const w = await runWrk(wrk, { url, connections, duration, close: true })
      lines.push(w === null ? 'wrk: failed to run' : `wrk:        ${w.rps.toFixed(0)}/s, ${w.failed} failed; server served ${served - before}`)
    } else {
      lines.push('wrk:        not on PATH, skipped')
    }
    process.stdout.write(`${lines.join('\n')}\n${ok ? 'OK: one connection per response' : 'MISMATCH'}\n`)
    return ok ? 0 : 1
  } finally {
    await fastify.close()
  }
}

main().then((code) => { process.exitCode = code }, (err) => {
  process.stderr.write(`${err.stack}\n`)
  process.exitCode = 1
})
