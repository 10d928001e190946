import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'

function tempApp (t: { teardown: (fn: () => void) => void }, name: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-load-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, name)
  writeFileSync(file, source, { mode: 0o600 })
  return file
}

const BAD = 'async function app (fastify, opts) {\n  const x = 1\n  this is bad\n}\n'

// Regression: a syntax error forked 6 workers, printed 5 stacks from our runtime and lost file:line.
for (const [name, source] of [['app.js', `module.exports = ${BAD}`], ['app.mjs', `export default ${BAD}`]] as const) {
  t.test(`a syntax error in ${name} at first start: one fork, exit 1, shown as Node shows it`, async (t) => {
    const file = tempApp(t, name, source)
    const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', file])
    const exit = await cluster.exit(60_000)
    t.equal(exit.code, 1, 'exit 1')
    t.equal(cluster.forkedPids().length, 1, 'one fork')
    t.match(cluster.stderr, /FST_CLUSTER_FATAL_BOOT/, 'coded')
    t.match(cluster.stderr, new RegExp(`${name.replace('.', '\\.')}:3\\n\\s*this is bad\\n\\s*\\^+`), 'file:line, the source line, a caret')
    t.equal(cluster.stderr.match(/SyntaxError/g)?.length, 1, 'shown once')
    t.notMatch(cluster.stderr, /worker-runtime/, 'no stack from our runtime')
    await assertGone(cluster.forkedPids(), 2000)
  })
}

t.test('an app file that exports no plugin: one fork, exit 1', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', `${FIXTURES}/not-a-plugin.js`])
  t.equal((await cluster.exit(60_000)).code, 1)
  t.equal(cluster.forkedPids().length, 1, 'one fork')
  t.match(cluster.stderr, /FST_CLUSTER_APP_NOT_PLUGIN/)
})

t.test("the crash-loop message names the workers' last uncaught error and where it was thrown", async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '--crash-loop-limit', '3', '-p', '0', '-a', '127.0.0.1',
    `${FIXTURES}/misbehaves.js`], { env: { FIXTURE_THROW_AFTER_MS: '200' } })
  t.equal((await cluster.exit(60_000)).code, 1)
  t.match(cluster.stderr, /FST_CLUSTER_CRASH_LOOP.*fixture: the cache client lost its connection.*misbehaves\.js:\d+/,
    'message and top frame')
  const exit = cluster.events('worker:exit')[0]
  t.match(exit, { reason: 'crashed', error: { message: /the cache client lost its connection/, frame: /misbehaves\.js/ } },
    'the exit event carries the error')
  await assertGone(cluster.forkedPids(), 3000)
})
