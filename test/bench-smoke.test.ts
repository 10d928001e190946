import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, alive, assertGone } from './helpers/cluster-process'

interface Cell {
  status: 'ok' | 'unsupported' | 'error'
  reason?: string
  metrics?: Record<string, { values: Array<number | null> }>
}

interface BenchDoc {
  config: { smoke: boolean, targets: string[], scenarios: string[] }
  summary: Record<string, Record<string, Cell>>
  runs: Array<{ scenario: string, target: string, status: string, reason?: string, metrics?: Record<string, unknown> }>
  goals: Array<{ status: string }>
  pids: number[]
  leftoverPids: number[]
}

// A full bench takes minutes; the smoke run is one short round of every target and scenario.
t.setTimeout(240_000)

t.test('npm run bench --smoke: every target x scenario reports numbers or says why not, and leaves no process', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'fastify-cluster-bench-'))
  t.teardown(() => { rmSync(out, { recursive: true, force: true }) })
  // tap's coverage hook (NODE_OPTIONS) would load into every target process the bench starts: leave it out.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('_TAPJS_')))
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'run.js'), '--smoke', '--out', out], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT') })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, `bench exits 0\n${stderr.slice(-3000)}`)

  const doc = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchDoc
  t.equal(doc.config.smoke, true)
  t.same(doc.config.targets, ['single', 'node-cluster', 'fastify-cluster', 'fastify-cluster-reuseport'], 'every target')
  t.same(doc.config.scenarios, ['keepalive', 'close', 'cpu', 'idle', 'reload', 'sigkill', 'stuck', 'coldstart'], 'every scenario')
  for (const scenario of doc.config.scenarios) {
    for (const target of doc.config.targets) {
      const cell = doc.summary[scenario]?.[target]
      const name = `${scenario} x ${target}`
      if (cell === undefined) {
        t.fail(`${name}: missing from the summary`)
        continue
      }
      if (cell.status === 'unsupported') {
        t.match(cell.reason, /\S/, `${name}: unsupported, with a reason (${cell.reason ?? ''})`)
        continue
      }
      t.equal(cell.status, 'ok', `${name}: ran (${cell.reason ?? ''})`)
      const values = Object.values(cell.metrics ?? {}).flatMap((m) => m.values)
      t.ok(values.length > 0 && values.every((v) => v === null || Number.isFinite(v)), `${name}: numbers (null = never happened)`)
      t.ok(values.some((v) => Number.isFinite(v)), `${name}: at least one measured number`)
    }
  }
  t.equal(doc.runs.filter((r) => r.status === 'error').length, 0, 'no scenario failed')
  t.ok(doc.goals.length > 0 && doc.goals.every((g) => ['PASS', 'MISS', 'N/A'].includes(g.status)), 'every goal judged')
  t.match(stdout, /\| target \|/, 'the Markdown table is printed')
  t.match(readFileSync(join(out, 'latest.md'), 'utf8'), /## Goals/)

  t.same(doc.leftoverPids, [], 'the bench stopped everything itself')
  t.ok(doc.pids.length >= 8, `the bench reports the pids it started (${doc.pids.length})`)
  await assertGone(doc.pids, 2000)
  t.same(doc.pids.filter(alive), [], 'no process the bench started is left')
})
