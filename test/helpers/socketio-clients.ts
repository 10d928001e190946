import http from 'node:http'
import { io as connect, type Socket } from 'socket.io-client'
import { type ClusterProcess, FIXTURES } from './cluster-process'

/*
 * socket.io clients for the sticky-session tests: each from its own loopback address (or behind one "proxy" address
 * with its own X-Forwarded-For), counting every session failure.
 */
export const app = `${FIXTURES}/socketio.js`
export const base = ['start', '--workers', '4', '-p', '0', '-a', '127.0.0.1']
export const CLIENTS = 16
export const MESSAGES = 5

export interface Ack { n: number, pid: number, slot: number, address: string, xff: string | null, transport: string }

export interface Client {
  socket: Socket
  agent: http.Agent
  /** Session failures seen: connect errors and disconnects. */
  breaks: string[]
}

/** Client i's own loopback address (the whole 127.0.0.0/8 is local on Linux). */
export const addressOf = (i: number): string => `127.0.0.${10 + i}`

export function open (port: number, i: number, options: { header?: boolean, reconnect?: boolean, transports?: string[] } = {}): Client {
  // No keep-alive: each poll is a new connection, the case a proxy or a browser often produces.
  const agent = new http.Agent({ keepAlive: false, ...(options.header === true ? {} : { localAddress: addressOf(i) }) })
  const socket = connect(`http://127.0.0.1:${port}`, {
    transports: options.transports ?? ['polling'],
    agent: agent as unknown as string,
    reconnection: options.reconnect === true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    timeout: 10_000,
    ...(options.header === true ? { extraHeaders: { 'x-forwarded-for': `198.51.100.${i + 1}, 127.0.0.1` } } : {})
  })
  const client: Client = { socket, agent, breaks: [] }
  socket.on('connect_error', (err) => { client.breaks.push(`connect_error: ${err.message}`) })
  socket.on('disconnect', (reason) => { client.breaks.push(`disconnect: ${reason}`) })
  return client
}

export async function connected (client: Client, timeout = 30_000): Promise<boolean> {
  if (client.socket.connected) return true
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { done(false) }, timeout)
    const ok = (): void => { done(true) }
    const fail = (): void => { if (!client.socket.active) done(false) }
    function done (value: boolean): void {
      clearTimeout(timer)
      client.socket.off('connect', ok)
      client.socket.off('connect_error', fail)
      resolve(value)
    }
    client.socket.on('connect', ok)
    client.socket.on('connect_error', fail)
  })
}

/** Sends MESSAGES echoes one after another; returns the acks, stopping at the first failure. */
export async function converse (client: Client): Promise<Ack[]> {
  const acks: Ack[] = []
  for (let n = 0; n < MESSAGES; n++) {
    if (!client.socket.connected) break
    try {
      acks.push(await client.socket.timeout(10_000).emitWithAck('echo', n) as Ack)
    } catch {
      client.breaks.push(`echo ${n} not acknowledged`)
      break
    }
  }
  return acks
}

export interface Round { broken: number, sessionUnknown: number, acks: Ack[][], clients: Client[] }

export async function round (cluster: ClusterProcess, port: number, options: { header?: boolean } = {}): Promise<Round> {
  const before = cluster.lines.filter((l) => l.fixture === 'socketio:connection-error' && l.message === 'Session ID unknown').length
  const clients = Array.from({ length: CLIENTS }, (_, i) => open(port, i, options))
  const acks = await Promise.all(clients.map(async (c) => await connected(c) ? await converse(c) : []))
  // A session is broken if any of its requests failed, or it did not get every echo back.
  const broken = clients.filter((c, i) => c.breaks.length > 0 || acks[i]?.length !== MESSAGES).length
  for (const c of clients) {
    c.socket.close()
    c.agent.destroy()
  }
  const sessionUnknown = cluster.lines.filter((l) => l.fixture === 'socketio:connection-error' && l.message === 'Session ID unknown').length - before
  return { broken, sessionUnknown, acks, clients }
}

