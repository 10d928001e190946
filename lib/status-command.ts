/*
 * `fastify-cluster status`: reads a running cluster's /status from its health server and prints it for a person
 * (a table) or a script (--json). Nothing here touches the cluster: it is an HTTP client of the health port.
 */
import http from 'node:http'
import { parseArgs } from 'node:util'
import { FST_CLUSTER_FLAG_VALUE, FST_CLUSTER_STATUS_UNREACHABLE, FST_CLUSTER_UNKNOWN_FLAG } from './errors.js'
import type { WorkerInfo } from './events.js'
import { didYouMean } from './messages.js'
import { parseDuration } from './units.js'

export interface StatusDocument {
  status: string
  ready: number
  /** A slot cannot boot a worker while the others serve (absent from older primaries). */
  degraded?: boolean
  workers: WorkerInfo[]
}

export interface StatusArgs {
  url: URL
  watch: boolean
  json: boolean
  interval: number
  help: boolean
}

const FLAGS = {
  url: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  json: { type: 'boolean' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

export function statusHelp (): string {
  return [
    'Usage: fastify-cluster status [--url http://127.0.0.1:PORT] [--watch] [--json]',
    '',
    "Shows a running cluster's workers, read from its health server's /status (start it with --health-port).",
    '',
    '  --url <url>        the health server [env: FASTIFY_CLUSTER_STATUS_URL; default: http://127.0.0.1:$FASTIFY_HEALTH_PORT]',
    '  -w, --watch        refresh in place until Ctrl+C',
    '  --interval <dur>   refresh interval with --watch [default: 1s]',
    '  --json             print the raw /status document',
    '  -h, --help         show this help',
    ''
  ].join('\n')
}

/** Parses `status` arguments strictly; the URL comes from --url, then env. */
export function parseStatusArgs (argv: readonly string[], env: NodeJS.ProcessEnv): StatusArgs {
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false })
  } catch (err) {
    const e = err as { code?: string, message: string }
    const flag = /'([^']+)'/.exec(e.message)?.[1] ?? e.message
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new FST_CLUSTER_UNKNOWN_FLAG(flag, didYouMean(flag.replace(/^-+/, ''), Object.keys(FLAGS)).replace('"', '"--'))
    }
    throw new FST_CLUSTER_FLAG_VALUE(e.message)
  }
  const v = parsed.values
  const help = v.help === true
  const raw = v.url ?? env.FASTIFY_CLUSTER_STATUS_URL ??
    (env.FASTIFY_HEALTH_PORT !== undefined ? `http://127.0.0.1:${env.FASTIFY_HEALTH_PORT}` : undefined)
  if (raw === undefined && !help) {
    throw new FST_CLUSTER_FLAG_VALUE('status needs the health server: pass --url http://127.0.0.1:PORT (the cluster\'s --health-port) or set FASTIFY_HEALTH_PORT')
  }
  let url: URL
  try {
    url = new URL('/status', raw ?? 'http://127.0.0.1')
  } catch {
    throw new FST_CLUSTER_FLAG_VALUE(`--url must be an http URL like http://127.0.0.1:9090, received "${String(raw)}"`)
  }
  if (url.protocol !== 'http:') throw new FST_CLUSTER_FLAG_VALUE(`--url must be an http URL, received "${String(raw)}"`)
  return {
    url,
    watch: v.watch === true,
    json: v.json === true,
    interval: parseDuration('--interval', v.interval ?? '1s', { min: 100 }),
    help
  }
}

/** GETs /status; rejects with a coded error naming the URL when nothing (or something else) answers. */
export async function fetchStatus (url: URL, timeout = 2000): Promise<StatusDocument> {
  return await new Promise((resolve, reject) => {
    const fail = (why: string): void => { reject(new FST_CLUSTER_STATUS_UNREACHABLE(url.origin, why)) }
    const req = http.get(url, { timeout, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
        if (res.statusCode !== 200) {
          fail(res.statusCode === 404 ? '/status is not served there (it is off on a non-loopback address unless --health-status)' : `HTTP ${String(res.statusCode)}`)
          return
        }
        try {
          const doc = JSON.parse(body) as StatusDocument
          if (!Array.isArray(doc.workers)) throw new Error('no workers')
          resolve(doc)
        } catch {
          fail('the answer is not a fastify-cluster /status document')
        }
      }).on('error', (err) => { fail(err.message) })
    })
    req.on('timeout', () => { req.destroy(new Error(`no answer within ${timeout} ms`)) })
    req.on('error', (err) => { fail((err as NodeJS.ErrnoException).code ?? err.message) })
  })
}

const COLORS: Record<string, string> = { ready: '32', starting: '33', draining: '36', stopping: '35', exited: '31' }

function mib (bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1024 / 1024).toFixed(1)}`
}

function duration (ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** The table a person reads at a glance, plus a summary line. `color` adds ANSI colours by state. */
export function renderStatus (doc: StatusDocument, origin: string, color: boolean): string {
  const header = ['ID', 'PID', 'STATE', 'UPTIME', 'RESTARTS', 'RECYCLES', 'EL DELAY', 'ELU', 'HEAP MB', 'RSS MB']
  const rows = doc.workers.map((w) => [
    String(w.id),
    String(w.pid),
    w.state + (w.recycling ? '*' : ''),
    duration(w.uptime),
    String(w.restarts),
    String(Object.values(w.recycles ?? {}).reduce((a, b) => a + (b ?? 0), 0)),
    w.lastHealth === null ? '-' : `${w.lastHealth.eventLoopDelay.toFixed(1)}ms`,
    w.lastHealth === null ? '-' : `${(w.lastHealth.eventLoopUtilization * 100).toFixed(0)}%`,
    mib(w.lastHealth?.heapUsed),
    mib(w.lastHealth?.rss)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[], state?: string): string => {
    const text = cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
    const code = state === undefined ? undefined : COLORS[state.replace('*', '')]
    return color && code !== undefined ? `\x1b[${code}m${text}\x1b[0m` : text
  }
  const summary = `${doc.ready}/${doc.workers.length} workers ready, cluster ${doc.status}${doc.degraded === true ? ', DEGRADED (a worker cannot boot)' : ''} (${origin})` +
    (doc.workers.some((w) => w.recycling) ? ', * = being replaced' : '')
  return [line(header), ...doc.workers.map((w, i) => line(rows[i] ?? [], w.state + (w.recycling ? '*' : ''))), summary, ''].join('\n')
}
