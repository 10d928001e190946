/*
 * Sticky sessions, worker side: the worker does not listen on the app port; the primary sends it each connection
 * of its slot as a socket handle (with the bytes it already read to find the key), and this feeds them to the
 * app's HTTP server as if it had accepted them. Every protocol works, WebSocket upgrades included.
 */
import type { Server } from 'node:http'
import net from 'node:net'
import { MessageTypes, parsePrimaryMessage } from '../lib/protocol.js'

export class StickyReceiver {
  readonly #server: Server
  readonly #sockets = new Set<net.Socket>()

  constructor (server: Server) {
    this.#server = server
    process.on('message', this.#onMessage)
  }

  /** Connections handed over and still open. */
  get open (): number { return this.#sockets.size }

  readonly #onMessage = (raw: unknown, handle: unknown): void => {
    if (!(handle instanceof net.Socket)) return
    const parsed = parsePrimaryMessage(raw)
    if (parsed.kind !== 'ok' || parsed.message.type !== MessageTypes.STICKY_CONNECTION) {
      // A socket that is not ours to serve: do not leak it.
      if (parsed.kind !== 'foreign') handle.destroy()
      return
    }
    const socket = handle as net.Socket & { server: net.Server | null, _server: net.Server | null }
    // Count it as the server's own, as net does for an accepted socket: server.close() (fastify.close()) then
    // waits for it, so a drain never exits under a request in flight. Without this the server, never listening,
    // reports closed at once.
    const server = this.#server as Server & { _connections: number }
    server._connections++
    socket.server = server
    socket._server = server
    this.#sockets.add(socket)
    socket.once('close', () => { this.#sockets.delete(socket) })
    // The request's first bytes were read by the primary: put them back before HTTP parses anything.
    if (parsed.message.head !== null) socket.unshift(parsed.message.head)
    this.#server.emit('connection', socket)
    socket.resume()
  }

  /** Resolves when every handed-over connection has closed, or after `max` ms. */
  async settle (max: number): Promise<void> {
    const deadline = Date.now() + max
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  /** Stops taking connections (after the app closed). */
  close (): void {
    process.off('message', this.#onMessage)
  }
}
