/*
 * What a publish or a git install ships: `npm pack` from a clean checkout (no dist/) must build the package
 * (the `prepare` script) and put the bin and every `exports` entry in the tarball.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const ROOT = join(__dirname, '..')

interface Manifest {
  bin: Record<string, string>
  main: string
  types: string
  exports: Record<string, string | Record<string, Record<string, string>>>
  files: string[]
}

/** Every file path an `exports` map points to. */
function exportTargets (exports: Manifest['exports']): string[] {
  const out: string[] = []
  const walk = (value: unknown): void => {
    if (typeof value === 'string') out.push(value)
    else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) walk(v)
  }
  walk(exports)
  return out
}

t.test('npm pack from a clean checkout builds and ships the bin and every exports entry', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'fastify-cluster-pack-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const checkout = join(work, 'checkout')
  // The checkout as git sees it (tracked and new files, nothing ignored: no dist/, no node_modules).
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0').filter((f) => f !== '')
  t.notOk(files.some((f) => f.startsWith('dist/')), 'the checkout has no dist/')
  for (const file of files) {
    mkdirSync(dirname(join(checkout, file)), { recursive: true })
    try { cpSync(join(ROOT, file), join(checkout, file)) } catch {} // a file deleted but not yet staged
  }
  // Dependencies as `npm ci` would install them; the build needs typescript from there.
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir')
  const out = join(work, 'out')
  mkdirSync(out)
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], {
    cwd: checkout, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000
  })) as Array<{ filename: string, files: Array<{ path: string }> }>
  const tarball = join(out, packed[0]?.filename ?? '')
  const entries = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n')
    .filter((e) => e !== '' && !e.endsWith('/')).map((e) => e.replace(/^package\//, ''))
  const has = new Set(entries)

  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest
  t.ok(entries.length > 20, `${entries.length} files in the tarball`)
  for (const [name, path] of Object.entries(manifest.bin)) {
    t.ok(has.has(path.replace(/^\.\//, '')), `bin ${name}: ${path} is in the tarball`)
    const head = execFileSync('tar', ['xzf', tarball, '-O', `package/${path.replace(/^\.\//, '')}`], { encoding: 'utf8' }).split('\n')[0]
    t.equal(head, '#!/usr/bin/env node', `bin ${name} starts with a node shebang`)
  }
  for (const path of [manifest.main, manifest.types, ...exportTargets(manifest.exports)]) {
    t.ok(has.has(path.replace(/^\.\//, '')), `${path} is in the tarball`)
  }
  // Forked by path at run time, not reachable through exports.
  t.ok(has.has('dist/plugin/worker-main.js'), 'the worker program is in the tarball')
  t.ok(has.has('README.md') && has.has('CHANGELOG.md') && has.has('package.json'))
  t.same(entries.filter((e) => /\.ts$/.test(e) && !/\.d\.(m|c)?ts$/.test(e)), [], 'no TypeScript sources')
  t.same(entries.filter((e) => e.startsWith('test/') || e.endsWith('.map')), [], 'no tests, no source maps')
})
