import t from 'tap'
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import { ClusterProcess, FIXTURES, assertGone, request } from './helpers/cluster-process'

function tempDir (t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-degraded-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

async function getJson (port: number, path: string): Promise<Record<string, unknown>> {
  return JSON.parse((await request(port, path)).body) as Record<string, unknown>
}

async function getText (port: number, path: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve(body) })
    }).on('error', reject)
  })
}

/** Sequential requests until stopped: how many succeeded and failed. */
function steadyRequests (port: number): { stop: () => Promise<{ ok: number, failed: number }> } {
  let running = true
  const counts = { ok: 0, failed: 0 }
  const loop = (async () => {
    while (running) {
      try {
        const res = await request(port, '/', { timeout: 5000 })
        if (res.status === 200) counts.ok++
        else counts.failed++
      } catch {
        counts.failed++
      }
    }
  })()
  return { stop: async () => { running = false; await loop; return counts } }
}

const base = ['start', '--workers', '2', '--max-restart-delay', '1s', '--health-port', '0', '--health-status',
  '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/misbehaves.js`]

// Regression: a replacement whose boot failed with EADDRNOTAVAIL (an outbound connect) made the whole cluster exit 1
// after 570 ms while the other worker was serving.
t.test("a replacement whose boot fails with EADDRNOTAVAIL while another worker serves: degraded, serving, refilled", async (t) => {
  const dir = tempDir(t)
  const flag = join(dir, 'dependency-down')
  const cluster = ClusterProcess.cli(t, base, { env: { FIXTURE_BOOT_FAILS_IF: flag } })
  const port = await cluster.ready(30_000)
  const health = await cluster.healthPort()
  const [victim, survivor] = cluster.forkedPids() as [number, number]
  writeFileSync(flag, '')
  process.kill(victim, 'SIGKILL')
  await cluster.waitForEvent('worker:exit', 10_000, (l) => l.pid === victim)
  const load = steadyRequests(port)
  const failedAt = Date.now()
  const bootError = await cluster.waitForEvent('worker:boot-error', 60_000)
  t.match(bootError, { code: 'EADDRNOTAVAIL', stage: 'boot', fatal: false }, "the app's own boot failed, not fatal")
  await cluster.waitForEvent('cluster:degraded', 10_000)
  const status = await getJson(health, '/status')
  t.equal(status.degraded, true, '/status says degraded')
  t.match(await getText(health, '/metrics'), /fastify_cluster_degraded 1/, 'the gauge says degraded')
  // Retried at the backoff ceiling (1 s here) while the survivor serves.
  await cluster.waitForCount('worker:boot-error', 3, 90_000)
  t.equal(cluster.child.exitCode, null, 'the primary is still running')
  t.equal(cluster.events('cluster:give-up').length, 0, 'never gave up')
  const removedAt = Date.now()
  rmSync(flag)
  const recovered = await cluster.waitForEvent('cluster:recovered', 30_000)
  const refill = Date.now() - removedAt
  const counts = await load.stop()
  t.comment(`served while the slot could not boot (${removedAt - failedAt} ms): ${counts.ok} ok, ${counts.failed} failed; refilled ${refill} ms after the cause cleared`)
  t.ok(counts.ok > 20, `the survivor served (${counts.ok})`)
  t.equal(counts.failed, 0, 'no request failed')
  t.same(recovered.slots, [], 'every slot filled')
  t.equal((await getJson(health, '/status')).degraded, false, '/status no longer degraded')
  t.match(await getText(health, '/metrics'), /fastify_cluster_degraded 0/)
  t.ok(cluster.liveWorkerPids().includes(survivor), 'the survivor was never replaced')
  t.equal(cluster.liveWorkerPids().length, 2, 'two workers again')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})

// Regression: a module missing mid-deploy stopped the healthy worker after 5.5 s.
t.test('a module missing mid-deploy: the serving worker stays, the slot refills when the module is back', async (t) => {
  const dir = tempDir(t)
  const dep = join(dir, 'dep.js')
  writeFileSync(dep, 'module.exports = 42\n')
  const cluster = ClusterProcess.cli(t, base, { env: { FIXTURE_REQUIRE: dep } })
  const port = await cluster.ready(30_000)
  const [victim, survivor] = cluster.forkedPids() as [number, number]
  renameSync(dep, `${dep}.away`)
  process.kill(victim, 'SIGKILL')
  const bootError = await cluster.waitForEvent('worker:boot-error', 60_000)
  t.match(bootError, { code: 'MODULE_NOT_FOUND', stage: 'load', fatal: false }, 'a load error after a worker served: not fatal')
  await cluster.waitForEvent('cluster:degraded', 10_000)
  // Longer than the 5.5 s after which the old code stopped the cluster.
  await cluster.waitForCount('worker:boot-error', 5, 90_000)
  t.equal(cluster.child.exitCode, null, 'the primary is still running')
  t.equal((await request(port, '/')).status, 200, 'the survivor serves')
  copyFileSync(`${dep}.away`, dep)
  await cluster.waitForEvent('cluster:recovered', 30_000)
  t.ok(cluster.liveWorkerPids().includes(survivor), 'the survivor was never replaced')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
  await assertGone(cluster.forkedPids(), 2000)
})
