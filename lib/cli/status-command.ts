/*
 * `fastify-cluster status`: reads a running cluster's workers from its control socket (or, with --url, from its
 * health server's /status) and prints them for a person (a table) or a script (--json).
 */
import http from 'node:http'
import { parseCommandArgs } from './control-commands.js'
import { FST_CLUSTER_FLAG_VALUE, FST_CLUSTER_STATUS_UNREACHABLE } from '../shared/errors.js'
import type { WorkerInfo } from '../shared/events.js'
import { parseDuration } from '../shared/units.js'

export interface StatusDocument {
  status: string
  ready: number
  /** A slot cannot boot a worker while the others serve (absent from older primaries). */
  degraded?: boolean
  workers: WorkerInfo[]
  /** From the control socket: the primary's clock when it answered (epoch ms), to age the last reports. */
  at?: number
  /** From the control socket: how often a worker reports. */
  sampleInterval?: number
  name?: string
  pid?: number
}

export interface StatusArgs {
  /** With --url (or FASTIFY_CLUSTER_STATUS_URL): the health server; else `null` and the control socket. */
  url: URL | null
  /** The cluster's name or primary pid, for the control socket. */
  target: string | undefined
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
    'Usage: fastify-cluster status [<name>|<pid>] [--watch] [--json] [--url http://127.0.0.1:PORT]',
    '',
    "Shows a running cluster's workers, read from its control socket (no health port needed). The name or",
    'primary pid may be left out when exactly one cluster of this user runs. REPORTED is how long ago each',
    'worker last reported; SILENT marks one quiet for over twice the sample interval (its event loop is',
    'probably blocked: its other numbers are old).',
    '',
    "  --url <url>        read the health server's /status instead (--health-port) [env: FASTIFY_CLUSTER_STATUS_URL]",
    '  -w, --watch        refresh in place until Ctrl+C',
    '  --interval <dur>   refresh interval with --watch [default: 1s]',
    '  --json             print the raw /status document',
    '  -h, --help         show this help',
    ''
  ].join('\n')
}

/** Parses `status` arguments strictly; the URL comes from --url, then env. */
export function parseStatusArgs (argv: readonly string[], env: NodeJS.ProcessEnv): StatusArgs {
  // The same strict parsing as the other commands: unknown flags, missing values, at most one name or pid.
  const parsed = parseCommandArgs('status', argv, FLAGS, 1)
  const v = parsed.values
  const help = v.help === true
  const given = { url: typeof v.url === 'string' ? v.url : undefined, interval: typeof v.interval === 'string' ? v.interval : undefined }
  const target = parsed.positionals[0]
  const raw = given.url ?? (target === undefined ? env.FASTIFY_CLUSTER_STATUS_URL : undefined)
  if (given.url !== undefined && target !== undefined) {
    throw new FST_CLUSTER_FLAG_VALUE(`status takes a name or --url, not both; received "${target}" and --url ${given.url}`)
  }
  let url: URL | null = null
  if (raw !== undefined) {
    try {
      url = new URL('/status', raw)
    } catch {
      throw new FST_CLUSTER_FLAG_VALUE(`--url must be an http URL like http://127.0.0.1:9090, received "${String(raw)}"`)
    }
    if (url.protocol !== 'http:') throw new FST_CLUSTER_FLAG_VALUE(`--url must be an http URL, received "${String(raw)}"`)
  }
  return {
    url,
    target,
    watch: v.watch === true,
    json: v.json === true,
    interval: parseDuration('--interval', given.interval ?? '1s', { min: 100 }),
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

const COLORS: Record<string, string> = { ready: '32', starting: '33', draining: '36', stopping: '35', exited: '31', silent: '31' }

function mib (bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1024 / 1024).toFixed(1)}`
}

/**
 * A worker is silent when its last report is older than twice the sample interval (plus scheduling slack): its
 * event loop is probably blocked, and its numbers are as old as that report.
 */
export function silentFor (worker: WorkerInfo, now: number, sampleInterval: number): number | null {
  if (worker.lastHealth === null || worker.state === 'exited') return null
  const age = now - worker.lastHealth.receivedAt
  return age > 2 * sampleInterval + 250 ? age : null
}

/** The table a person reads at a glance, plus a summary line. `color` adds ANSI colours by state. */
export function renderStatus (doc: StatusDocument, origin: string, color: boolean, localNow: number = Date.now()): string {
  const now = doc.at ?? localNow
  const interval = doc.sampleInterval ?? 1000
  const header = ['ID', 'PID', 'STATE', 'UPTIME', 'REPORTED', 'RESTARTS', 'RECYCLES', 'EL DELAY', 'ELU', 'HEAP MB', 'RSS MB']
  const silent = doc.workers.map((w) => silentFor(w, now, interval))
  const rows = doc.workers.map((w, i) => {
    const old = silent[i] !== null
    // A silent worker's numbers are from before it went quiet: shown in parentheses.
    const stale = (text: string): string => old && text !== '-' ? `(${text})` : text
    return [
      String(w.id),
      String(w.pid),
      w.state + (w.recycling ? '*' : ''),
      duration(w.uptime),
      w.lastHealth === null ? '-' : `${((now - w.lastHealth.receivedAt) / 1000).toFixed(1)}s ago${old ? ' SILENT' : ''}`,
      String(w.restarts),
      String(Object.values(w.recycles ?? {}).reduce((a, b) => a + (b ?? 0), 0)),
      stale(w.lastHealth === null ? '-' : `${w.lastHealth.eventLoopDelay.toFixed(1)}ms`),
      stale(w.lastHealth === null ? '-' : `${(w.lastHealth.eventLoopUtilization * 100).toFixed(0)}%`),
      stale(mib(w.lastHealth?.heapUsed)),
      stale(mib(w.lastHealth?.rss))
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[], state?: string): string => {
    const text = cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
    const code = state === undefined ? undefined : COLORS[state]
    return color && code !== undefined ? `\x1b[${code}m${text}\x1b[0m` : text
  }
  const quiet = silent.filter((s) => s !== null).length
  const summary = `${doc.ready}/${doc.workers.length} workers ready, cluster ${doc.status}${doc.degraded === true ? ', DEGRADED (a worker cannot boot)' : ''} (${origin})` +
    (doc.workers.some((w) => w.recycling) ? ', * = being replaced' : '') +
    (quiet === 0 ? '' : `; ${quiet} SILENT: no report for over ${(2 * interval / 1000).toFixed(1)}s (blocked event loop?)`)
  return [line(header), ...doc.workers.map((w, i) => line(rows[i] ?? [], silent[i] !== null ? 'silent' : w.state)), summary, ''].join('\n')
}

function duration (ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}
