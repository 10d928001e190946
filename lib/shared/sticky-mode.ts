/*
 * The `sticky` option: what it means (route by the client's address, or by a header or cookie of its first
 * request), parsed and formatted. The primary's balancer reads connections by it (lib/primary/sticky-key.ts).
 */
import { FST_CLUSTER_INVALID_OPTION } from './errors.js'
import { describeValue } from './messages.js'

/** How the primary picks a connection's key: its address, or a header or cookie of its first request. */
export type StickyMode =
  | { readonly kind: 'ip' }
  | { readonly kind: 'header', readonly name: string }
  | { readonly kind: 'cookie', readonly name: string }

/** The `sticky` option's value: `"ip"`, `"header:<name>"` or `"cookie:<name>"`. */
export type StickySpec = 'ip' | `header:${string}` | `cookie:${string}`

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/
const ALLOWED = '"ip", "header:<name>" (e.g. "header:x-forwarded-for") or "cookie:<name>"'

/** Parses the `sticky` option; `undefined` and `false` mean off. Throws FST_CLUSTER_INVALID_OPTION. */
export function parseSticky (name: string, value: unknown): StickyMode | null {
  if (value === undefined || value === false || value === 'false' || value === 'off') return null
  if (value === 'ip') return Object.freeze({ kind: 'ip' })
  if (typeof value === 'string') {
    const colon = value.indexOf(':')
    const kind = value.slice(0, colon)
    const key = value.slice(colon + 1)
    if ((kind === 'header' || kind === 'cookie') && TOKEN.test(key)) {
      // Header names are case-insensitive; cookie names are not.
      return Object.freeze({ kind, name: kind === 'header' ? key.toLowerCase() : key })
    }
  }
  throw new FST_CLUSTER_INVALID_OPTION(name, ALLOWED, describeValue(value))
}

/** The spec back as the user writes it (for logs). */
export function formatSticky (mode: StickyMode): string {
  return mode.kind === 'ip' ? 'ip' : `${mode.kind}:${mode.name}`
}
