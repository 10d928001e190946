import t from 'tap'
import { STICKY_HEAD_BYTES, addressKey, keyFromHead } from '../dist/lib/primary/sticky-key.js'
import { formatSticky, parseSticky } from '../dist/lib/shared/sticky-mode.js'
import { resolveOptions, type ClusterOptions } from '../dist/lib/shared/options.js'
import { MessageTypes, buildStickyConnection, decodeLaunch, encodeLaunch, parsePrimaryMessage } from '../dist/lib/shared/protocol.js'

const XFF = { kind: 'header', name: 'x-forwarded-for' } as const
const COOKIE = { kind: 'cookie', name: 'route' } as const

const req = (...headers: string[]): string => ['GET /socket.io/?EIO=4&transport=polling HTTP/1.1', 'Host: a', ...headers, '', ''].join('\r\n')

t.test('sticky option: ip, header:<name>, cookie:<name>; anything else is a coded error quoting the value', async (t) => {
  t.same(parseSticky('sticky', 'ip'), { kind: 'ip' })
  t.same(parseSticky('sticky', 'header:X-Forwarded-For'), XFF, 'header names are case-insensitive')
  t.same(parseSticky('sticky', 'cookie:Route'), { kind: 'cookie', name: 'Route' }, 'cookie names keep their case')
  for (const off of [undefined, false, 'false', 'off']) t.equal(parseSticky('sticky', off), null, `${String(off)} is off`)
  for (const bad of ['', 'IP', 'sid', 'header:', 'header', 'cookie:', 'header:x forwarded', 'header:a:b', 'cookie:a=b', 'hash:ip', true, 1, null, {}]) {
    t.throws(() => parseSticky('--sticky', bad), {
      code: 'FST_CLUSTER_INVALID_OPTION',
      message: /^--sticky must be "ip", "header:<name>" \(e\.g\. "header:x-forwarded-for"\) or "cookie:<name>", received /
    }, `rejects ${JSON.stringify(bad)}`)
  }
  t.equal(formatSticky(XFF), 'header:x-forwarded-for')
  const base = { appFile: 'app.js' } as ClusterOptions
  t.equal(resolveOptions(base, {}, {}, 2).sticky, null, 'off by default')
  t.same(resolveOptions({ ...base, sticky: 'ip' }, {}, {}, 2).sticky, { kind: 'ip' })
  t.throws(() => resolveOptions({ ...base, sticky: 'ip', reusePort: true }, {}, {}, 2),
    { code: 'FST_CLUSTER_CONFLICTING_OPTIONS', message: /sticky and reusePort cannot be used together/ })
  t.throws(() => resolveOptions({ ...base, sticky: 'header' as 'ip' }, { sticky: 'FASTIFY_STICKY' }, {}, 2),
    { code: 'FST_CLUSTER_INVALID_OPTION', message: /^FASTIFY_STICKY must be .*received "header"$/ })
})

t.test('header mode: the key is the header value (X-Forwarded-For: its first, client, entry)', async (t) => {
  t.same(keyFromHead(XFF, req('X-Forwarded-For: 203.0.113.7, 10.0.0.1')), { kind: 'key', key: '203.0.113.7' })
  t.same(keyFromHead(XFF, req('x-forwarded-for:203.0.113.7')), { kind: 'key', key: '203.0.113.7' }, 'no space, lower case')
  t.same(keyFromHead({ kind: 'header', name: 'x-user' }, req('X-User:  alice , bob ')), { kind: 'key', key: 'alice , bob' },
    'other headers: the whole trimmed value')
  t.same(keyFromHead(XFF, req('Accept: */*')), { kind: 'key', key: null }, 'absent: by address')
  t.same(keyFromHead(XFF, req('X-Forwarded-For: ')), { kind: 'key', key: null }, 'empty: by address')
  t.same(keyFromHead(XFF, 'GET / HTTP/1.1\nX-Forwarded-For: 1.2.3.4\n\n'), { kind: 'key', key: '1.2.3.4' }, 'bare LF line ends')
  const first = 'GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n'
  t.same(keyFromHead(XFF, first), { kind: 'key', key: '1.2.3.4' }, 'decided as soon as the header line is complete')
})

t.test('cookie mode: the named cookie, from any Cookie line', async (t) => {
  t.same(keyFromHead(COOKIE, req('Cookie: a=1; route=w3; b=2')), { kind: 'key', key: 'w3' })
  t.same(keyFromHead(COOKIE, req('Cookie: a=1', 'cookie: route=xyz')), { kind: 'key', key: 'xyz' }, 'second Cookie line')
  t.same(keyFromHead(COOKIE, req('Cookie: xroute=1; routes=2')), { kind: 'key', key: null }, 'names match exactly')
  t.same(keyFromHead(COOKIE, req()), { kind: 'key', key: null }, 'no cookie: by address')
})

t.test('waits for more bytes only while the answer can still come', async (t) => {
  t.same(keyFromHead(XFF, ''), { kind: 'more' })
  t.same(keyFromHead(XFF, 'GE'), { kind: 'more' })
  t.same(keyFromHead(XFF, 'GET /a HTTP/1.1\r\nHost: a\r\n'), { kind: 'more' }, 'headers not finished')
  t.same(keyFromHead(XFF, 'GET /a HTTP/1.1\r\nX-Forwarded-For: 1.2'), { kind: 'more' }, 'header line not finished')
  const long = 'GET /a HTTP/1.1\r\n' + 'X-Pad: a\r\n'.repeat(2000)
  t.same(keyFromHead(XFF, long, STICKY_HEAD_BYTES), { kind: 'key', key: null }, 'past the byte limit: by address (the worker answers 431)')
})

t.test('garbage is rejected at once, before the timeout', async (t) => {
  for (const [what, bytes] of [
    ['TLS ClientHello', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['binary', '\x00\x01\x02\x03'],
    ['lower-case method', 'get / HTTP/1.1\r\n'],
    ['no version', 'GET /\r\n\r\n'],
    ['a 30-letter word', 'ABCDEFGHIJKLMNOPQRSTUVWXYZABCD'],
    ['SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n']
  ] as const) {
    t.equal(keyFromHead(XFF, bytes).kind, 'reject', what)
  }
  t.equal(keyFromHead(XFF, 'GET /' + 'a'.repeat(STICKY_HEAD_BYTES)).kind, 'reject', 'a request line longer than the limit')
})

t.test('addresses: IPv4-mapped IPv6 is the IPv4 client', async (t) => {
  t.equal(addressKey('::ffff:127.0.0.5'), '127.0.0.5')
  t.equal(addressKey('::1'), '::1')
  t.equal(addressKey(undefined), '')
})

t.test('the sticky-connection message carries the first bytes as base64, validated and capped', async (t) => {
  const head = Buffer.from('GET / HTTP/1.1\r\n\r\n')
  const parsed = parsePrimaryMessage(buildStickyConnection(head))
  t.equal(parsed.kind, 'ok')
  if (parsed.kind === 'ok' && parsed.message.type === MessageTypes.STICKY_CONNECTION) t.same(parsed.message.head, head)
  t.same(parsePrimaryMessage(buildStickyConnection(null)), { kind: 'ok', message: { type: 'sticky-connection', head: null } })
  const bad = { ...buildStickyConnection(head), head: 'not base64!' }
  t.equal(parsePrimaryMessage(bad).kind, 'invalid')
  const huge = { ...buildStickyConnection(head), head: 'A'.repeat(200_000) }
  t.equal(parsePrimaryMessage(huge).kind, 'invalid', 'oversized')
  const launch = { v: 1 as const, slot: 0, sampleInterval: 1000, drainDelay: 0, readinessPath: false as const }
  const sticky = { address: '127.0.0.1', port: 3000, family: 'IPv4' }
  t.same(decodeLaunch({ FASTIFY_CLUSTER_WORKER: encodeLaunch({ ...launch, sticky }) })?.sticky, sticky)
  t.equal(decodeLaunch({ FASTIFY_CLUSTER_WORKER: JSON.stringify({ ...launch, sticky: { address: 1 } }) }), null)
})
