/*
 * The control socket's protocol: JSON lines, one request and one reply each, versioned. Built and parsed only
 * here; pure (no socket, no process), so every bad input is a unit test.
 *
 *   request  {"v":1,"id":7,"cmd":"status"}
 *   reply    {"v":1,"id":7,"ok":true,"result":{...}}
 *            {"v":1,"id":7,"ok":false,"error":{"code":"FST_CLUSTER_CONTROL_UNKNOWN_COMMAND","message":"..."}}
 */
import { FST_CLUSTER_CONTROL_BAD_REQUEST, FST_CLUSTER_CONTROL_UNKNOWN_COMMAND } from './errors.js'
import type { WorkerAddress, WorkerInfo } from './events.js'
import { describeValue } from './messages.js'

export const CONTROL_PROTOCOL_VERSION = 1

/** A request line longer than this is refused (and the connection closed): requests are tiny. */
export const MAX_REQUEST_BYTES = 1024

/** A reply longer than this is refused by the client (a status of 1024 workers is ~600 KiB). */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024

export const CONTROL_COMMANDS = ['info', 'status', 'reload', 'stop'] as const
export type ControlCommand = typeof CONTROL_COMMANDS[number]

export interface ControlRequest {
  id: number | null
  cmd: ControlCommand
}

export interface ControlErrorBody { code: string, message: string }

export type ControlReply =
  | { ok: true, id: number | null, result: unknown }
  | { ok: false, id: number | null, error: ControlErrorBody }

const REQUEST_KEYS = new Set(['v', 'id', 'cmd'])

export type ParsedRequest = { kind: 'ok', request: ControlRequest } | { kind: 'error', id: number | null, error: ControlErrorBody }

function errorBody (err: Error & { code?: string }): ControlErrorBody {
  return { code: err.code ?? 'FST_CLUSTER_CONTROL_BAD_REQUEST', message: err.message }
}

/** Validates one request line (without its newline); never throws. */
export function parseRequest (line: string): ParsedRequest {
  const bad = (why: string, id: number | null = null): ParsedRequest =>
    ({ kind: 'error', id, error: errorBody(new FST_CLUSTER_CONTROL_BAD_REQUEST(why)) })
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return bad(`a request is at most ${MAX_REQUEST_BYTES} bytes`)
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    return bad(`a request is one JSON object per line, received ${describeValue(line.slice(0, 40))}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad(`a request is a JSON object, received ${describeValue(raw)}`)
  const fields = raw as Record<string, unknown>
  const id = Number.isSafeInteger(fields.id) ? fields.id as number : null
  if (fields.id !== undefined && id === null) return bad(`"id" must be an integer, received ${describeValue(fields.id)}`)
  for (const key of Object.keys(fields)) {
    if (!REQUEST_KEYS.has(key)) return bad(`unknown field ${describeValue(key)}; a request has v, id and cmd`, id)
  }
  if (fields.v !== CONTROL_PROTOCOL_VERSION) {
    return bad(`protocol version must be ${CONTROL_PROTOCOL_VERSION}, received ${describeValue(fields.v)}`, id)
  }
  const cmd = fields.cmd
  if (typeof cmd !== 'string' || !(CONTROL_COMMANDS as readonly string[]).includes(cmd)) {
    return { kind: 'error', id, error: errorBody(new FST_CLUSTER_CONTROL_UNKNOWN_COMMAND(describeValue(cmd).slice(0, 60), CONTROL_COMMANDS.join(', '))) }
  }
  return { kind: 'ok', request: { id, cmd: cmd as ControlCommand } }
}

export function buildRequest (cmd: string, id: number): string {
  return `${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, id, cmd })}\n`
}

export function buildResult (id: number | null, result: unknown): string {
  return `${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, id, ok: true, result })}\n`
}

export function buildError (id: number | null, error: ControlErrorBody | (Error & { code?: string })): string {
  const body = error instanceof Error ? errorBody(error) : error
  return `${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, id, ok: false, error: { code: body.code, message: body.message } })}\n`
}

/** Validates one reply line; `null` when it is not a reply of this protocol version. */
export function parseReply (line: string): ControlReply | null {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    return null
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null
  const r = raw as Record<string, unknown>
  if (r.v !== CONTROL_PROTOCOL_VERSION) return null
  const id = Number.isSafeInteger(r.id) ? r.id as number : null
  if (r.ok === true && 'result' in r) return { ok: true, id, result: r.result }
  const e = r.error as Record<string, unknown> | undefined
  if (r.ok === false && typeof e?.code === 'string' && typeof e.message === 'string') {
    return { ok: false, id, error: { code: e.code, message: e.message } }
  }
  return null
}

/** One line of `fastify-cluster ls`: the `info` command's result. */
export interface ClusterSummary {
  name: string
  pid: number
  /** "ok" while running, else the phase ("starting", "closing"). */
  status: string
  workers: { ready: number, total: number }
  address: string | null
  startedAt: number
  uptime: number
  /** Replacements after unexpected exits, over every slot. */
  restarts: number
  /** Recycles for health, over every slot. */
  recycles: number
  /** A slot cannot boot: the cluster serves with fewer workers (set by the server, not by `summarize`). */
  degraded?: boolean
}

/** `http://host:port` for a worker's address (IPv6 in brackets). */
export function formatAddress (address: WorkerAddress | null | undefined): string | null {
  if (address === null || address === undefined) return null
  if (typeof address.port !== 'number' || address.port <= 0) return address.address
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

/** Counts per slot (a slot's successor carries the same counters), summed. */
export function summarize (workers: readonly WorkerInfo[], base: { name: string, pid: number, phase: string, slots: number, startedAt: number, now: number }): ClusterSummary {
  const slots = new Map<number, WorkerInfo>()
  for (const w of workers) if (!slots.has(w.slot) || w.state === 'ready') slots.set(w.slot, w)
  let restarts = 0
  let recycles = 0
  for (const w of slots.values()) {
    restarts += w.restarts
    recycles += Object.values(w.recycles).reduce<number>((sum, n) => sum + (n ?? 0), 0)
  }
  return {
    name: base.name,
    pid: base.pid,
    status: base.phase === 'running' ? 'ok' : base.phase === 'idle' ? 'starting' : base.phase,
    workers: { ready: workers.filter((w) => w.state === 'ready').length, total: base.slots },
    address: formatAddress(workers.find((w) => w.state === 'ready' && w.address !== null)?.address),
    startedAt: base.startedAt,
    uptime: base.now - base.startedAt,
    restarts,
    recycles
  }
}
