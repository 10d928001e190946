/*
 * A real redis-server for a test: started on a free loopback port in a private temp directory, nothing persisted,
 * stopped by pid in teardown. `redisServerPath()` is null where the Debian package is not installed (.ci/run
 * installs it), and the tests that need it skip saying so.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { alive } from './cluster-process'

interface Test {
  teardown: (fn: () => void | Promise<void>) => void
}

export const NO_REDIS = 'redis-server is not installed (apt-get install redis-server; .ci/run installs it): skipping the real-Redis test'

export function redisServerPath (): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const path = found.stdout.trim()
  return found.status === 0 && path !== '' ? path : null
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

/** Starts redis-server; resolves with its URL once it accepts connections. Fails naming what it saw. */
export async function startRedis (t: Test, binary: string, timeout = 15_000): Promise<{ url: string, pid: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-redis-'))
  const port = await freePort()
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--protected-mode', 'yes', '--loglevel', 'notice'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid ?? -1
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null && alive(pid)) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      process.kill(pid, 'SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`redis-server not ready within ${timeout} ms:\n${output.slice(-2000)}`)) }, timeout)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited (${String(code)}) before it was ready:\n${output.slice(-2000)}`))
    })
  })
  return { url: `redis://127.0.0.1:${port}`, pid }
}
