/*
 * The source layout's rules, read from the import statements (docs/how-it-works.md, "Source layout").
 */
import t from 'tap'
import { importsOf, sourceFiles } from './helpers/source-files'

/** The adapter: the one module of the primary that touches node:cluster (the worker side, plugin/, uses it too). */
const ADAPTER = 'lib/worker-process.ts'

t.test('only the adapter touches node:cluster on the primary side', async (t) => {
  const users = sourceFiles().filter((file) => importsOf(file).packages.some((p) => p === 'node:cluster' || p === 'cluster'))
  t.ok(users.includes(ADAPTER), `the scan sees the adapter's import (${users.join(', ')})`)
  t.same(users.filter((file) => !file.startsWith('plugin/') && file !== ADAPTER), [],
    'no other module outside plugin/ imports node:cluster: route it through the adapter')
})
