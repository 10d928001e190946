import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { watchSettings } from '../dist/lib/primary/file-watcher.js'
import { ClusterProcess, ROOT, assertGone, request } from './helpers/cluster-process'
import { keepAliveLoad } from './helpers/keep-alive-load'

t.test('watch settings come from fastify-cli\'s parser: its default ignore list, --ignore-watch, --follow-watch', async (t) => {
  t.equal(await watchSettings([]), null, 'off without --watch')
  const plain = await watchSettings(['-w'], '/srv/app')
  t.equal(plain?.dir, '/srv/app', 'the working directory by default')
  t.equal(plain?.verbose, false)
  for (const path of ['/srv/app/node_modules/x.js', '/srv/app/.git/HEAD', '/srv/app/dist/app.js', '/srv/app/logs/a.log']) {
    t.ok(plain?.ignored.test(path), `ignores ${path}`)
  }
  t.notOk(plain?.ignored.test('/srv/app/routes/root.js'), 'watches the app')
  const custom = await watchSettings(['--watch', '--ignore-watch', 'tmp', '--follow-watch', '/srv/src', '-V'])
  t.ok(custom?.ignored.test('/srv/src/tmp/a.js'), '--ignore-watch adds a pattern')
  t.ok(custom?.ignored.test('/srv/src/node_modules/a.js'), 'and keeps the defaults')
  t.equal(custom?.dir, '/srv/src')
  t.equal(custom?.verbose, true)
})

function appSource (version: string): string {
  return `'use strict'\nmodule.exports = async function app (fastify, opts) {\n  fastify.get('/', async () => ({ version: '${version}', pid: process.pid }))\n}\n`
}

async function version (port: number): Promise<{ version: string, pid: number }> {
  return JSON.parse((await request(port, '/')).body) as { version: string, pid: number }
}

t.test('start --watch: a change reloads the workers one by one; ignored paths do not; broken code keeps the old workers', async (t) => {
  // Inside the repository, so the app resolves fastify like a user's app would.
  const dir = mkdtempSync(join(ROOT, 'test', '.watch-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const app = join(dir, 'app.js')
  writeFileSync(app, appSource('v1'))
  mkdirSync(join(dir, 'scratch'))

  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--watch', '--verbose-watch',
    '--follow-watch', dir, '--ignore-watch', 'scratch', app])
  const port = await cluster.ready()
  await cluster.waitForEvent('watch:start', 10_000)
  t.equal((await version(port)).version, 'v1')

  // Keep-alive load through the reloads (a client that honours Connection: close): no request may fail.
  const load = keepAliveLoad(port, 10)
  t.teardown(async () => { await load.stop() })

  // An ignored path first, then the app: exactly one reload, and it names only the app.
  writeFileSync(join(dir, 'scratch', 'notes.txt'), 'ignored')
  writeFileSync(app, appSource('v2'))
  const reload = await cluster.waitForEvent('watch:reload', 30_000)
  t.same(reload.files, [join(dir, 'app.js').slice(ROOT.length + 1)], 'the reload names the changed app file only')
  t.ok(cluster.events('watch:change').length >= 1, '--verbose-watch logs the change')
  t.notOk(cluster.events('watch:change').some((l) => String(l.file).includes('scratch')), 'the ignored path is not seen')
  const done = await cluster.waitForEvent('cluster:reload:done', 30_000)
  t.equal(done.replaced, 2, 'both workers replaced')
  t.equal((await version(port)).version, 'v2', 'the new code serves')
  const v2pids = cluster.liveWorkerPids()

  // A syntax error: the replacement fails to boot, the reload stops, the v2 workers keep serving.
  const bootErrorsBefore = cluster.events('worker:boot-error').length
  writeFileSync(app, "module.exports = async function app (fastify, opts) {\n  fastify.get('/', async () => ({ version: 'v3' })\n")
  const failed = await cluster.waitForEvent('cluster:reload:failed', 90_000)
  t.equal(failed.aborted, 'failure')
  const bootErrors = cluster.events('worker:boot-error').slice(bootErrorsBefore)
  t.equal(bootErrors.length, 1, 'the error is reported once')
  t.match(bootErrors[0]?.message, /SyntaxError|Unexpected|missing/)
  t.equal((await version(port)).version, 'v2', 'the old workers keep serving')
  t.same(cluster.liveWorkerPids().sort(), v2pids.sort(), 'no worker was lost')

  // Fixed: the next save reloads again.
  writeFileSync(app, appSource('v3'))
  await cluster.waitForCount('cluster:reload:done', 2, 30_000)
  t.equal((await version(port)).version, 'v3')
  t.equal(cluster.events('cluster:reload:start').length, 3, 'one reload per change')

  // The app file removed: the cluster serves, so a replacement's load error is not fatal (issue 9's rule): it
  // fails that reload only.
  rmSync(app)
  await cluster.waitForCount('cluster:reload:failed', 2, 90_000)
  t.match(cluster.events('worker:boot-error').at(-1), { code: 'FST_CLUSTER_APP_NOT_FOUND', stage: 'load', fatal: false })
  t.equal((await version(port)).version, 'v3', 'the v3 workers keep serving')

  const result = await load.stop()
  t.ok(result.ok > 100, `${result.ok} requests`)
  t.equal(result.failed, 0, 'no failed request across the reloads', { errors: result.errors })
  t.equal(result.non2xx, 0)
  t.equal(cluster.events('cluster:give-up').length, 0, 'a broken save does not trip the breaker')

  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 5000)
})
