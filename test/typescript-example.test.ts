import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterProcess, ROOT, assertGone, request } from './helpers/cluster-process'

const EXAMPLE = join(ROOT, 'examples', 'typescript')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

interface Hello {
  hello: string
  pid: number
  isWorker: boolean
  workerId: number | null
  slot: number | null
  draining: boolean
}

/** Runs `tsc`, resolving with its exit code and output instead of throwing on a type error. */
async function tsc (args: string[]): Promise<{ code: number, output: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [TSC, ...args], { cwd: ROOT, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, output: stdout + stderr })
    })
  })
}

/** `fastify-cluster start --workers 2 <file>`: both workers answer with their typed `fastify.cluster`; SIGTERM ends with 0. */
async function runsOnTwoWorkers (t: Test, file: string): Promise<void> {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', file])
  const port = await cluster.ready()
  const ready = new Map(cluster.events('worker:ready').map((l) => [l.id as number, l]))
  t.equal(ready.size, 2, 'two workers ready')

  // Fresh connections go round-robin, so a few requests reach both workers.
  const answers = new Map<number, Hello>()
  for (let i = 0; i < 20 && answers.size < 2; i++) {
    const res = await request(port, '/')
    t.equal(res.status, 200, 'GET / answers 200')
    const body = JSON.parse(res.body) as Hello
    answers.set(body.pid, body)
  }
  t.equal(answers.size, 2, 'both workers answered')
  for (const body of answers.values()) {
    t.match(body, { hello: 'typescript', isWorker: true, draining: false }, `worker ${body.pid}: the app ran with its default greeting`)
    const line = ready.get(body.workerId ?? -1)
    t.ok(line, `worker ${body.pid}: fastify.cluster.workerId ${String(body.workerId)} is a worker the primary forked`)
    t.equal(body.pid, line?.pid, 'and its pid is that worker\'s')
    t.equal(body.slot, line?.slot, 'and so is its slot')
  }

  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0, 'SIGTERM: exit 0')
  t.equal(cluster.forkedPids().length, 2, 'no worker was replaced along the way')
  await assertGone([cluster.pid, ...cluster.forkedPids()], 2000)
}

t.test('examples/typescript built with tsc (strict): fastify-cluster start runs dist/app.js', async (t) => {
  const outDir = await mkdtemp(join(tmpdir(), 'fastify-cluster-ts-example-'))
  t.teardown(async () => { await rm(outDir, { recursive: true, force: true }) })

  const { code, output } = await tsc(['-p', join(EXAMPLE, 'tsconfig.json'), '--outDir', outDir])
  t.equal(code, 0, 'tsc exits 0: the example type-checks in strict mode, fastify.cluster typed by the package')
  t.equal(output, '', 'with no diagnostics')
  t.ok(await stat(join(outDir, 'app.js')), 'and emits app.js')
  // The build is an ES module like its source: it needs the example's package.json ("type": "module") beside it.
  await copyFile(join(EXAMPLE, 'package.json'), join(outDir, 'package.json'))

  await runsOnTwoWorkers(t, join(outDir, 'app.js'))
})

const strips = (process.features as { typescript?: string | false }).typescript
t.test('examples/typescript run as .ts where Node strips types: fastify-cluster start runs app.ts', {
  skip: strips === undefined || strips === false
    ? `Node ${process.version} does not strip types (22.18+, 23.6+ do); the CI run on Node 24 covers it`
    : false
}, async (t) => {
  await runsOnTwoWorkers(t, join(EXAMPLE, 'app.ts'))
})
