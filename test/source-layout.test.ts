/*
 * The source layout's rules, read from the import statements (docs/how-it-works.md, "Source layout"): a module's
 * folder says which process runs it.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './helpers/cluster-process'
import { importsOf, sourceFiles } from './helpers/source-files'

/** The adapter: the one module of the primary that touches node:cluster (the worker side, plugin/, uses it too). */
const ADAPTER = 'lib/primary/worker-process.ts'
/** The entry points at the top of lib/: they run in whichever process loads them and dispatch by role. */
const ENTRIES = ['lib/index.ts', 'lib/start.ts']
/** The plugin's door: `listen()` in a plain process makes it the primary, loading this module lazily. */
const PLUGIN_DOOR = { from: 'plugin/index.ts', to: 'lib/primary/plugin-primary.ts' }

const files = sourceFiles()
const under = (folder: string) => (file: string): boolean => file.startsWith(`${folder}/`)

/** Each `from -> to` import where `from` is in the first folder and `to` in one of the others. */
function crossings (from: (file: string) => boolean, to: Array<(file: string) => boolean>, kind: 'local' | 'runtime' = 'local'): string[] {
  return files.filter(from).flatMap((file) => importsOf(file)[kind].filter((target) => to.some((test) => test(target)))
    .map((target) => `${file} -> ${target}`))
}

t.test('every module of lib/ is in primary/, cli/ or shared/, but for the entries', async (t) => {
  t.ok(files.length > 40, `read the modules (${files.length})`)
  const elsewhere = files.filter(under('lib')).filter((f) => !['primary', 'cli', 'shared'].some((d) => f.startsWith(`lib/${d}/`)))
  t.same(elsewhere, ENTRIES)
})

t.test('lib/shared imports nothing from the primary, the CLI or the worker side', async (t) => {
  t.ok(files.some(under('lib/shared')) && importsOf('lib/shared/options.ts').local.includes('lib/shared/errors.ts'), 'the scan sees imports')
  t.same(crossings(under('lib/shared'), [under('lib/primary'), under('lib/cli'), under('plugin')]), [])
})

t.test('the worker side (plugin/) reaches into the primary only through the plugin\'s door', async (t) => {
  const found = crossings(under('plugin'), [under('lib/primary'), under('lib/cli')])
  t.same(found, [`${PLUGIN_DOOR.from} -> ${PLUGIN_DOOR.to}`])
  const door = importsOf(PLUGIN_DOOR.from)
  t.ok(door.lazy.includes(PLUGIN_DOOR.to) && !door.eager.includes(PLUGIN_DOOR.to),
    'the door is an import() when listen() launches, so a worker never loads the primary')
})

t.test('the CLI reaches the primary only through start() (lib/start.ts)', async (t) => {
  t.same(crossings(under('lib/cli'), [under('lib/primary'), under('plugin')]), [])
  t.ok(importsOf('lib/cli/main.ts').runtime.includes('lib/start.ts'), 'the start command calls start()')
})

t.test('the primary loads no worker code (types of the plugin\'s decorator only)', async (t) => {
  t.same(crossings(under('lib/primary'), [under('plugin'), under('lib/cli')], 'runtime'), [])
  t.same(crossings(under('lib/primary'), [under('lib/cli')]), [], 'nor the CLI\'s types')
})

t.test('only the adapter signals other processes on the primary side', async (t) => {
  const senders = files.filter(under('lib/primary')).filter((file) => /\bprocess\.kill\(/.test(readFileSync(join(ROOT, file), 'utf8')))
  t.same(senders, [ADAPTER], 'process.kill() in lib/primary/ only in the adapter (killPid)')
})

t.test('only the adapter touches node:cluster on the primary side', async (t) => {
  const users = files.filter((file) => importsOf(file).packages.some((p) => p === 'node:cluster' || p === 'cluster'))
  t.ok(users.includes(ADAPTER), `the scan sees the adapter's import (${users.join(', ')})`)
  t.same(users.filter((file) => !under('plugin')(file) && file !== ADAPTER), [],
    'no other module outside plugin/ imports node:cluster: route it through the adapter')
})
