import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ROOT } from './cluster-process'

/** Every TypeScript module under lib/ and plugin/, subfolders included, as paths relative to the repository. */
export function sourceFiles (): string[] {
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path)
    }
  }
  for (const folder of ['lib', 'plugin']) walk(folder)
  return files.sort()
}

/** What a module imports: its relative imports as repository paths (type-only ones too), and its bare specifiers. */
export function importsOf (file: string): { local: string[], packages: string[] } {
  const source = readFileSync(join(ROOT, file), 'utf8')
  const specifiers = [...source.matchAll(/(?:\bfrom|\bimport|\brequire)\s*\(?\s*'([^']+)'/g)].map((m) => m[1] ?? '')
  return {
    local: specifiers.filter((s) => s.startsWith('.'))
      .map((s) => relative(ROOT, resolve(dirname(join(ROOT, file)), s.replace(/\.js$/, '.ts')))),
    packages: specifiers.filter((s) => !s.startsWith('.'))
  }
}
