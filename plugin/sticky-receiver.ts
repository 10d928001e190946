/*
 * Sticky sessions, worker side: the worker does not listen on the app port; the primary sends it each connection
 * of its slot as a socket handle (with the bytes it already read to find the key), and this feeds them to the
 * app's HTTP server as if it had accepted them. Every protocol works, WebSocket upgrades included.
 */
import type { Server } from 'node:http'
import net from 'node:net'
import { MessageTypes, parsePrimaryMessage } from '../lib/shared/protocol.js'

type CountedServer = Server & { _connections: number, _emitCloseIfDrained: () => void }

export class StickyReceiver {
  readonly #server: CountedServer
  readonly #sockets = new Set<net.Socket>()
  readonly #close: Server['close']
  /** The server's close() was called: from now on its 'close' waits for the handed-over connections. */
  #closing = false

  constructor (server: Server) {
    this.#server = server as CountedServer
    // A server that never listened has no handle: net would emit its 'close' whenever its count drops to 0,
    // and apps take that as the end (socket.io closes every session on it). Only after close() is it the end.
    const close = server.close
    this.#close = close
    server.close = (callback?: (err?: Error) => void) => {
      this.#closing = true
      return close.call(server, callback)
    }
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
    const socket = handle
    // Count it as the server's own, as net does for an accepted socket: server.close() (fastify.close()) then
    // waits for it, so a drain never exits under a request in flight. Uncounted, the server (never listening)
    // reports closed at once.
    const server = this.#server
    server._connections++
    this.#sockets.add(socket)
    socket.once('close', () => {
      this.#sockets.delete(socket)
      server._connections--
      if (this.#closing) server._emitCloseIfDrained()
    })
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
    const server: Server = this.#server
    server.close = this.#close
  }
}
