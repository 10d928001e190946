/*
 * Keep-alive load from Node's own HTTP client, which honours `Connection: close` (autocannon keeps writing on a
 * socket the server said it will close, and counts the request it loses there). Bounded: runs until stopped or
 * for at most `maxMs`.
 */
import http from 'node:http'

export interface LoadResult { ok: number, failed: number, non2xx: number, errors: string[] }

export function keepAliveLoad (port: number, connections: number, maxMs = 60_000): { stop: () => Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  const result: LoadResult = { ok: 0, failed: 0, non2xx: 0, errors: [] }
  const deadline = Date.now() + maxMs
  let running = true
  const one = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (res) => {
        res.resume().on('end', () => {
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) result.ok++
          else result.non2xx++
          resolve()
        })
      })
      req.on('timeout', () => { req.destroy(new Error('timed out')) })
      req.on('error', (err) => {
        result.failed++
        if (result.errors.length < 20) result.errors.push(err.message)
        resolve()
      })
    })
  }
  const loops = Array.from({ length: connections }, async () => {
    while (running && Date.now() < deadline) await one()
  })
  return {
    stop: async () => {
      running = false
      await Promise.all(loops)
      agent.destroy()
      return result
    }
  }
}
