/*
 * Sticky sessions, pure part one: the routing key a new connection carries (its address, or a header or cookie of
 * its first request, read from the first bytes without parsing the request).
 */
import type { StickyMode } from '../shared/sticky-mode.js'

/** Most bytes read from a connection before routing it (Node's default `maxHeaderSize`). */
export const STICKY_HEAD_BYTES = 16 * 1024
/** Longest wait for a connection's first request line and headers before closing it. */
export const STICKY_HEAD_TIMEOUT_MS = 5000

/** A client address as a key: `::ffff:10.0.0.1` and `10.0.0.1` are the same client. */
export function addressKey (address: string | undefined): string {
  if (address === undefined) return ''
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

/** What the first bytes say: wait for more, route (by this key, or by address when `null`), or close. */
export type HeadVerdict =
  | { kind: 'more' }
  | { kind: 'key', key: string | null }
  | { kind: 'reject', reason: string }

const METHOD_CHAR = /^[A-Z]$/
const REQUEST_LINE = /^[A-Z]{1,20} [\x21-\x7e]{1,8192} HTTP\/1\.[01]$/

/**
 * Reads the routing key from a connection's first bytes (latin1), never more than the request line and
 * headers: `more` until the header wanted (or the end of the headers) has arrived; `reject` for bytes that
 * are not an HTTP/1 request (TLS, HTTP/2 preface, garbage). Past `max` bytes without an answer, routes by address
 * and lets the worker's HTTP parser answer (431).
 */
export function keyFromHead (mode: Exclude<StickyMode, { kind: 'ip' }>, head: string, max = STICKY_HEAD_BYTES): HeadVerdict {
  let lineEnd = head.indexOf('\n')
  const firstLine = (lineEnd === -1 ? head : head.slice(0, lineEnd)).replace(/\r$/, '')
  // Reject early what cannot start a request line, so garbage does not wait for the timeout.
  for (let i = 0; i < firstLine.length && firstLine[i] !== ' '; i++) {
    if (i >= 20 || !METHOD_CHAR.test(firstLine[i] as string)) return { kind: 'reject', reason: 'not an HTTP/1 request' }
  }
  if (lineEnd === -1) {
    return head.length >= max ? { kind: 'reject', reason: 'request line too long' } : { kind: 'more' }
  }
  if (!REQUEST_LINE.test(firstLine)) return { kind: 'reject', reason: 'not an HTTP/1 request' }
  const wanted = mode.kind === 'header' ? mode.name : 'cookie'
  for (;;) {
    const start = lineEnd + 1
    lineEnd = head.indexOf('\n', start)
    if (lineEnd === -1) return head.length >= max ? { kind: 'key', key: null } : { kind: 'more' }
    const line = head.slice(start, lineEnd).replace(/\r$/, '')
    if (line === '') return { kind: 'key', key: null }
    const colon = line.indexOf(':')
    if (colon <= 0 || line.slice(0, colon).toLowerCase() !== wanted) continue
    const value = line.slice(colon + 1).trim()
    const key = mode.kind === 'header' ? headerKey(mode.name, value) : cookieValue(value, mode.name)
    // A cookie header without our cookie: another cookie line may still carry it.
    if (key !== null || mode.kind === 'header') return { kind: 'key', key }
  }
}

function headerKey (name: string, value: string): string | null {
  // X-Forwarded-For lists the client first, then each proxy: the client is the key.
  const key = name === 'x-forwarded-for' ? (value.split(',')[0] ?? '').trim() : value
  return key === '' ? null : key
}

function cookieValue (header: string, name: string): string | null {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq !== -1 && pair.slice(0, eq).trim() === name) {
      const value = pair.slice(eq + 1).trim()
      return value === '' ? null : value
    }
  }
  return null
}
