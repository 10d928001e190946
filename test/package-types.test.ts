import t from 'tap'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const ATTW = join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')

t.test('the packed tarball: types resolve for require and import (attw), and CJS and ESM consumers type-check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-types-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // npm test built dist/ already; prepare would rebuild it under the tests running alongside.
  const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ filename: string, files: Array<{ path: string }> }>
  const tarball = join(dir, packed[0]?.filename ?? '')
  const files = packed[0]?.files.map((f) => f.path) ?? []
  t.ok(files.includes('dist/lib/index.mjs') && files.includes('dist/lib/index.d.mts') && files.includes('dist/plugin/worker-main.js'), 'the tarball has both entries and the worker')
  t.notOk(files.some((f) => f.startsWith('test/') || f.startsWith('lib/') || f.endsWith('.map')), 'and no sources, tests or maps')

  const report = JSON.parse(execFileSync(process.execPath, [ATTW, tarball, '--format', 'json'], { encoding: 'utf8' })) as { analysis: { problems: unknown[] } }
  t.same(report.analysis.problems, [], '@arethetypeswrong/cli finds no problem')

  // A consumer project: the extracted package plus this repo's dependencies.
  const modules = join(dir, 'consumer', 'node_modules')
  mkdirSync(modules, { recursive: true })
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== 'fastify-cluster' && !name.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name))
  }
  mkdirSync(join(modules, 'fastify-cluster'))
  execFileSync('tar', ['-xzf', tarball, '-C', join(modules, 'fastify-cluster'), '--strip-components=1'])
  cpSync(join(ROOT, 'test', 'fixtures', 'types-consumer'), join(dir, 'consumer'), { recursive: true })
  let output = ''
  try {
    execFileSync(process.execPath, [TSC, '-p', join(dir, 'consumer', 'tsconfig.json')], { encoding: 'utf8' })
  } catch (err) {
    output = String((err as { stdout?: string }).stdout)
  }
  t.equal(output, '', 'esm.mts and cjs.cts type-check (and each @ts-expect-error is an error)')
})
