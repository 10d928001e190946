/* Shared by the plugin-launcher tests: the fixture servers and how to ask which pids answer. */
import { join } from 'node:path'
import http from 'node:http'
import { FIXTURES, request, type ClusterProcess, type LogLine } from './cluster-process'

export const SCRIPTS = {
  CommonJS: join(FIXTURES, 'plugin-launcher', 'server.cjs'),
  ESM: join(FIXTURES, 'plugin-launcher', 'server.mjs')
}

export function fixtureLines (cluster: ClusterProcess, step: string): LogLine[] {
  return cluster.lines.filter((l) => l.fixture === 'plugin-launcher' && l.step === step)
}

export async function pidsAnswering (port: number, want: number, host = '127.0.0.1'): Promise<Set<number>> {
  const pids = new Set<number>()
  const deadline = Date.now() + 15_000
  while (pids.size < want && Date.now() < deadline) {
    pids.add((JSON.parse((await get(host, port, '/')).body) as { pid: number }).pid)
  }
  return pids
}

export async function get (host: string, port: number, path: string): Promise<{ status: number, body: string }> {
  if (host === '127.0.0.1') return await request(port, path)
  return await new Promise((resolve, reject) => {
    http.get({ host, port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject)
  })
}

