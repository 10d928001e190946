import t from 'tap'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  buildError, buildRequest, buildResult, formatAddress, parseReply, parseRequest, summarize
} from '../dist/lib/shared/control-protocol.js'
import { pickCluster } from '../dist/lib/cli/control-client.js'
import { defaultClusterName } from '../dist/lib/shared/control-registry.js'
import { hangupAction } from '../dist/lib/shared/signals.js'
import { parseStartArgs } from '../dist/lib/cli/start-args.js'
import { resolveOptions } from '../dist/lib/shared/options.js'

t.test('parseRequest: valid requests, and a coded refusal for everything else', async (t) => {
  t.same(parseRequest('{"v":1,"id":3,"cmd":"status"}'), { kind: 'ok', request: { id: 3, cmd: 'status' } })
  t.same(parseRequest('{"v":1,"cmd":"info"}'), { kind: 'ok', request: { id: null, cmd: 'info' } })
  t.same(parseRequest(buildRequest('reload', 9).trim()), { kind: 'ok', request: { id: 9, cmd: 'reload' } })
  const refusals: Array<[string, string, RegExp]> = [
    ['', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /one JSON object per line/],
    ['not json', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /one JSON object per line, received "not json"/],
    ['null', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /a JSON object, received null/],
    ['[1]', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /a JSON object, received an array/],
    ['"stop"', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /a JSON object, received "stop"/],
    ['{"v":1,"cmd":"stop","extra":1}', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /unknown field "extra"/],
    ['{"v":1,"cmd":"stop","__proto__":{}}', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /unknown field "__proto__"/],
    ['{"v":"1","cmd":"stop"}', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /protocol version must be 1, received "1"/],
    ['{"cmd":"stop"}', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /protocol version must be 1, received undefined/],
    ['{"v":1,"id":1.5,"cmd":"stop"}', 'FST_CLUSTER_CONTROL_BAD_REQUEST', /"id" must be an integer, received 1.5/],
    ['{"v":1,"cmd":"rm -rf"}', 'FST_CLUSTER_CONTROL_UNKNOWN_COMMAND', /unknown control command "rm -rf"; commands: info, status, reload, stop/],
    ['{"v":1,"cmd":["stop"]}', 'FST_CLUSTER_CONTROL_UNKNOWN_COMMAND', /unknown control command an array/],
    ['{"v":1,"cmd":"toString"}', 'FST_CLUSTER_CONTROL_UNKNOWN_COMMAND', /"toString"/],
    [`{"v":1,"cmd":"${'x'.repeat(2000)}"}`, 'FST_CLUSTER_CONTROL_BAD_REQUEST', /at most 1024 bytes/]
  ]
  for (const [line, code, message] of refusals) {
    const parsed = parseRequest(line)
    t.equal(parsed.kind, 'error', line.slice(0, 40))
    if (parsed.kind === 'error') {
      t.equal(parsed.error.code, code, line.slice(0, 40))
      t.match(parsed.error.message, message)
    }
  }
  t.equal((parseRequest('{"v":1,"id":7,"cmd":"nope"}') as { id: number }).id, 7, 'the id is echoed in a refusal')
})

t.test('replies round-trip; anything else is not a reply', async (t) => {
  t.same(parseReply(buildResult(2, { a: 1 }).trim()), { ok: true, id: 2, result: { a: 1 } })
  t.same(parseReply(buildError(null, { code: 'X', message: 'm' }).trim()), { ok: false, id: null, error: { code: 'X', message: 'm' } })
  for (const line of ['', 'x', 'null', '{"v":2,"ok":true,"result":1}', '{"v":1,"ok":true}', '{"v":1,"ok":false,"error":{}}']) {
    t.equal(parseReply(line), null, line)
  }
})

t.test('SIGHUP: stop when a standard stream is a terminal, reload otherwise', async (t) => {
  t.equal(hangupAction({ stdin: false, stdout: false, stderr: false }), 'reload', 'systemd, a pipe, a container without -t')
  t.equal(hangupAction({ stdin: true, stdout: false, stderr: false }), 'stop', 'a terminal, output piped to a pager')
  t.equal(hangupAction({ stdin: false, stdout: true, stderr: false }), 'stop')
  t.equal(hangupAction({ stdin: false, stdout: false, stderr: true }), 'stop')
})

t.test('summarize counts once per slot and formats the address', async (t) => {
  const w = (id: number, slot: number, state: 'ready' | 'starting', restarts: number, recycles: Record<string, number>) => ({
    id, slot, pid: 100 + id, state, uptime: 1, restarts, lastHealth: null, recycling: false, recycles,
    address: state === 'ready' ? { address: '127.0.0.1', port: 3000, family: 'IPv4' } : null
  })
  // Slot 0 mid-reload: its successor carries the same counters.
  const summary = summarize([w(1, 0, 'ready', 2, { rss: 1 }), w(3, 0, 'starting', 2, { rss: 1 }), w(2, 1, 'ready', 1, { stuck: 2, heapUsed: 1 })],
    { name: 'api', pid: 9, phase: 'running', slots: 2, startedAt: 1000, now: 61_000 })
  t.same(summary, { name: 'api', pid: 9, status: 'ok', workers: { ready: 2, total: 2 }, address: 'http://127.0.0.1:3000', startedAt: 1000, uptime: 60_000, restarts: 3, recycles: 4 })
  t.equal(summarize([], { name: 'a', pid: 1, phase: 'idle', slots: 2, startedAt: 0, now: 0 }).status, 'starting')
  t.equal(formatAddress({ address: '::1', port: 8080, family: 'IPv6' }), 'http://[::1]:8080')
  t.equal(formatAddress(null), null)
})

t.test('pickCluster: by name, by pid, the only one; coded errors listing what runs', async (t) => {
  const e = (name: string, pid: number) => ({ v: 1, id: `${pid}-00000000`, name, pid, cwd: '/', app: 'a.js', address: null, startedAt: pid, socket: '', file: '' })
  const running = [e('api', 10), e('web', 20), e('web', 30)]
  t.equal(pickCluster([e('api', 10)], undefined).pid, 10)
  t.equal(pickCluster(running, 'api').pid, 10)
  t.equal(pickCluster(running, '30').pid, 30)
  t.throws(() => pickCluster([], undefined), { code: 'FST_CLUSTER_NO_CLUSTER' })
  t.throws(() => pickCluster(running, undefined), { code: 'FST_CLUSTER_SEVERAL_CLUSTERS', message: '3 clusters are running; name one: "api" (pid 10), "web" (pid 20), "web" (pid 30)' })
  t.throws(() => pickCluster(running, 'web'), { code: 'FST_CLUSTER_SEVERAL_CLUSTERS', message: /2 clusters are named "web"; name one: give the primary pid: "web" \(pid 20\), "web" \(pid 30\)/ })
  t.throws(() => pickCluster(running, 'db'), { code: 'FST_CLUSTER_NO_CLUSTER', message: /no cluster named "db" is running; running: "api" \(pid 10\)/ })
  t.throws(() => pickCluster(running, '99'), { code: 'FST_CLUSTER_NO_CLUSTER', message: /no cluster with primary pid "99"/ })
})

t.test('the default name: package.json (without scope), else the file name; --name and FASTIFY_CLUSTER_NAME validated', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fc-name-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  mkdirSync(join(dir, 'svc', 'src'), { recursive: true })
  writeFileSync(join(dir, 'svc', 'package.json'), JSON.stringify({ name: '@acme/billing api' }))
  t.equal(defaultClusterName(join(dir, 'svc', 'src', 'app.js')), 'billing-api')
  mkdirSync(join(dir, 'bare'))
  writeFileSync(join(dir, 'bare', 'package.json'), '{}')
  t.equal(defaultClusterName(join(dir, 'bare', 'server.mjs')), 'server', 'no package name: the file')
  const parsed = parseStartArgs(['--name', 'api-1', 'app.js'], {})
  t.equal(resolveOptions(parsed.options, parsed.names).name, 'api-1')
  const fromEnv = parseStartArgs(['app.js'], { FASTIFY_CLUSTER_NAME: 'from.env' })
  t.equal(resolveOptions(fromEnv.options, fromEnv.names).name, 'from.env')
  const noControl = parseStartArgs(['--no-control', 'app.js'], {})
  t.equal(resolveOptions(noControl.options, noControl.names).control, false)
  const envOff = parseStartArgs(['app.js'], { FASTIFY_CLUSTER_CONTROL: 'false' })
  t.equal(resolveOptions(envOff.options, envOff.names).control, false)
  t.equal(resolveOptions(parseStartArgs(['app.js'], {}).options).control, true, 'on by default')
  for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(65), '../etc', 'é']) {
    const p = parseStartArgs([`--name=${bad}`, 'app.js'], {})
    t.throws(() => resolveOptions(p.options, p.names), { code: 'FST_CLUSTER_INVALID_OPTION', message: /--name must be a name of 1 to 64 letters/ }, bad)
  }
  t.throws(() => resolveOptions({ appFile: 'a.js', name: 42 as unknown as string }), { code: 'FST_CLUSTER_INVALID_OPTION', message: 'name must be a name of 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, received 42' })
  t.throws(() => resolveOptions({ appFile: 'a.js', control: 'no' as unknown as boolean }), { code: 'FST_CLUSTER_INVALID_OPTION' })
})
