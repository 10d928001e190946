/**
 * Evidence before a stuck worker is killed: its JavaScript stack, read through the worker's inspector (opened on
 * 127.0.0.1 at boot). The inspector runs on its own thread and interrupts a blocked event loop to pause it, so
 * this works exactly when the worker cannot answer anything else.
 */
import { constants } from 'node:fs'
import { mkdtemp, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface StackFrame {
  functionName: string
  url: string
  line: number
  column: number
}

/** The WebSocket constructor stuck diagnostics need: global from Node 22. */
export function webSocketAvailable (): boolean {
  return typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function'
}

interface MinimalWebSocket {
  onopen: (() => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onerror: (() => void) | null
  send: (data: string) => void
  close: () => void
}

/** Pauses the worker at `inspectorUrl` and returns where it is, within `timeout` ms. */
export async function captureStack (inspectorUrl: string, timeout: number): Promise<StackFrame[]> {
  const WebSocketClass = (globalThis as unknown as { WebSocket: new (url: string) => MinimalWebSocket }).WebSocket
  return await new Promise((resolve, reject) => {
    const ws = new WebSocketClass(inspectorUrl)
    const scripts = new Map<string, string>()
    const finish = (err: Error | null, frames: StackFrame[] = []): void => {
      clearTimeout(timer)
      ws.onmessage = null
      ws.onerror = null
      try { ws.close() } catch {}
      if (err === null) resolve(frames)
      else reject(err)
    }
    const timer = setTimeout(() => { finish(new Error(`no stack within ${timeout} ms`)) }, timeout)
    timer.unref()
    ws.onopen = () => {
      ws.send(JSON.stringify({ id: 1, method: 'Debugger.enable' }))
      ws.send(JSON.stringify({ id: 2, method: 'Debugger.pause' }))
    }
    ws.onerror = () => { finish(new Error('cannot connect to the worker\'s inspector')) }
    ws.onmessage = (event) => {
      let message: { method?: string, params?: any }
      try { message = JSON.parse(String(event.data)) } catch { return }
      if (message.method === 'Debugger.scriptParsed') {
        scripts.set(String(message.params?.scriptId), String(message.params?.url ?? ''))
      } else if (message.method === 'Debugger.paused') {
        const frames = (message.params?.callFrames ?? []) as Array<{ functionName: string, location: { scriptId: string, lineNumber: number, columnNumber: number } }>
        finish(null, frames.map((f) => ({
          functionName: f.functionName === '' ? '(anonymous)' : f.functionName,
          url: scripts.get(f.location.scriptId) ?? '',
          line: f.location.lineNumber + 1,
          column: f.location.columnNumber + 1
        })))
      }
    }
  })
}

export interface StuckReport { pid: number, id: number, silentFor: number, frames: StackFrame[] }

/**
 * Writes the evidence to a JSON file and returns its path. The temp directory is shared with every local user, so
 * the file is never opened through a name someone else could have planted: without `dir`, it goes into a new
 * private directory (mkdtemp, mode 0700); in the operator's `dir`, it is created exclusively (O_EXCL, which also
 * refuses a symlink at the name) and without following a link. Either way mode 0600: stacks can show secrets.
 */
export async function writeStuckReport (report: StuckReport, dir?: string, now: number = Date.now()): Promise<string> {
  const parent = dir ?? await mkdtemp(join(tmpdir(), 'fastify-cluster-stuck-'))
  const path = join(parent, `fastify-cluster-stuck-${report.pid}-${now}.json`)
  const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
  try {
    await file.writeFile(JSON.stringify({ ...report, capturedAt: new Date(now).toISOString() }, null, 2) + '\n')
  } finally {
    await file.close()
  }
  return path
}
