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

/** `import ... from '...'`, `export ... from '...'`, `import '...'`; group 1 is `type ` for a type-only one. */
const STATIC = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gm
/** `import('...')` and `require('...')`: loaded when run. */
const DYNAMIC = /\b(?:import|require)\s*\(\s*'([^']+)'\s*\)/g

export interface Imports {
  /** Relative imports, as repository paths (type-only ones too: they tie modules together for a reader). */
  local: string[]
  /** The relative imports that load code when run (not `import type`/`export type`). */
  runtime: string[]
  /** The relative imports loaded with the module (static, not type-only). */
  eager: string[]
  /** The relative imports loaded on demand, by `import()` or `require()`. */
  lazy: string[]
  /** Bare specifiers: packages and Node built-ins. */
  packages: string[]
}

/** What a module imports. */
export function importsOf (file: string): Imports {
  const source = readFileSync(join(ROOT, file), 'utf8')
  const found = [
    ...[...source.matchAll(STATIC)].map((m) => ({ spec: m[2] ?? '', typeOnly: m[1] !== undefined, lazy: false })),
    ...[...source.matchAll(DYNAMIC)].map((m) => ({ spec: m[1] ?? '', typeOnly: false, lazy: true }))
  ]
  const path = (spec: string): string => relative(ROOT, resolve(dirname(join(ROOT, file)), spec.replace(/\.js$/, '.ts')))
  const local = found.filter((f) => f.spec.startsWith('.'))
  return {
    local: [...new Set(local.map((f) => path(f.spec)))],
    runtime: [...new Set(local.filter((f) => !f.typeOnly).map((f) => path(f.spec)))],
    eager: [...new Set(local.filter((f) => !f.typeOnly && !f.lazy).map((f) => path(f.spec)))],
    lazy: [...new Set(local.filter((f) => f.lazy).map((f) => path(f.spec)))],
    packages: [...new Set(found.filter((f) => !f.spec.startsWith('.')).map((f) => f.spec))]
  }
}
