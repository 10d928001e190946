import t from 'tap'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLUSTER_FLAGS, startHelp } from '../dist/lib/cli/flags.js'
import { DEFAULTS, OPTIONS, OPTION_KEYS, type OptionSpec } from '../dist/lib/shared/options.js'
import { ROOT } from './helpers/cluster-process'
import {
  GENERATED_END, GENERATED_START, expectedCells, optionTables, optionTsDoc, renderOptionsTable
} from './helpers/options-doc'

const docs = optionTsDoc()
const spec = (key: string): OptionSpec<unknown, unknown> => OPTIONS[key as keyof typeof OPTIONS] as OptionSpec<unknown, unknown>
const DOC_FILE = join(ROOT, 'docs', 'options.md')

t.test('every option has TSDoc, and its @default is the spec\'s', async (t) => {
  t.same([...docs.keys()], [...OPTION_KEYS], 'the .d.ts declares every option, in order')
  for (const key of OPTION_KEYS) {
    const doc = docs.get(key)
    t.ok((doc?.description.length ?? 0) > 10, `${key} has a description`)
    const expected = spec(key).docs.default
    t.equal(doc?.default ?? '', expected, `${key}: @default ${expected === '' ? '(none)' : expected}`)
  }
})

t.test('DEFAULTS, the known keys and the CLI flags derive from the spec', async (t) => {
  for (const [key, value] of Object.entries(DEFAULTS)) t.same(value, spec(key).default, `DEFAULTS.${key}`)
  const withFlag = OPTION_KEYS.filter((key) => spec(key).cli !== undefined)
  t.same(CLUSTER_FLAGS.map((f) => f.option), withFlag, 'one flag per option that has one, in spec order')
  const help = startHelp()
  for (const flag of CLUSTER_FLAGS) {
    const cli = spec(flag.option).cli
    t.same(flag.env, [cli?.env], `--${flag.name} reads ${String(cli?.env)}`)
    t.match(help, `--${flag.name}`, `--help lists --${flag.name}`)
  }
})

t.test('docs/options.md holds the table generated from the spec', async (t) => {
  const table = renderOptionsTable(docs)
  if (process.env.FASTIFY_CLUSTER_WRITE_DOCS === '1') {
    // Regenerate: FASTIFY_CLUSTER_WRITE_DOCS=1 npx tap test/options-docs.test.ts
    mkdirSync(join(ROOT, 'docs'), { recursive: true })
    const current = existsSync(DOC_FILE) ? readFileSync(DOC_FILE, 'utf8') : `# Options\n\n${GENERATED_START}\n${GENERATED_END}\n`
    const start = current.indexOf(GENERATED_START)
    const end = current.indexOf(GENERATED_END)
    writeFileSync(DOC_FILE, `${current.slice(0, start + GENERATED_START.length)}\n${table}\n${current.slice(end)}`)
  }
  const text = readFileSync(DOC_FILE, 'utf8')
  const start = text.indexOf(GENERATED_START)
  const end = text.indexOf(GENERATED_END)
  t.ok(start !== -1 && end > start, 'the generated section is marked')
  t.equal(text.slice(start + GENERATED_START.length, end).trim(), table,
    'up to date (regenerate with FASTIFY_CLUSTER_WRITE_DOCS=1 npx tap test/options-docs.test.ts)')
})

// Every hand-written copy of the table is checked wherever it lives (README.md, docs/*.md): the option set and the
// type, default, flag and env cells; the description too in the generated reference.
const tableFiles = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
t.ok(tableFiles.some((file) => file !== 'docs/options.md' &&
  optionTables(readFileSync(join(ROOT, file), 'utf8')).some((table) => table.header.includes('Env var'))),
`a user-facing options table exists besides the generated one (in ${tableFiles.join(', ')})`)
for (const file of tableFiles) {
  t.test(`${file}: the options table of start() agrees with the spec`, async (t) => {
    const path = join(ROOT, file)
    if (!existsSync(path)) {
      t.pass(`${file} does not exist`)
      return
    }
    const tables = optionTables(readFileSync(path, 'utf8')).filter((table) => table.header.includes('Env var'))
    if (file === 'docs/options.md') t.equal(tables.length, 1, 'the reference has the table')
    for (const table of tables) {
      t.same(table.rows.map((r) => r.Option?.replace(/`/g, '')).sort(), [...OPTION_KEYS].sort(), 'exactly the options of the spec')
      for (const row of table.rows) {
        const key = (row.Option ?? '').replace(/`/g, '')
        if (!OPTION_KEYS.includes(key as never)) continue
        const expected: Record<string, string> = { ...expectedCells(key), Description: docs.get(key)?.description ?? '' }
        for (const column of table.header) {
          if (column === 'Description' && file !== 'docs/options.md') continue
          t.equal(row[column], expected[column], `${key}: ${column}`)
        }
      }
    }
  })
}
