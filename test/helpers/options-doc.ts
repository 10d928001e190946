/*
 * The options reference, rendered from the one spec per option (dist/lib/shared/options.js) and its TSDoc (read from the
 * shipped dist/lib/shared/options.d.ts with the TypeScript compiler): docs/options.md is generated from it and checked.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { OPTIONS, OPTION_KEYS, type OptionSpec } from '../../dist/lib/shared/options.js'
import { ROOT } from './cluster-process'

export interface OptionDoc {
  description: string
  /** The `@default` tag's text, or `null` when there is none. */
  default: string | null
}

/** Each entry's TSDoc in the OPTIONS declaration of the built .d.ts. */
export function optionTsDoc (dts: string = join(ROOT, 'dist', 'lib', 'shared', 'options.d.ts')): Map<string, OptionDoc> {
  const source = ts.createSourceFile(dts, readFileSync(dts, 'utf8'), ts.ScriptTarget.Latest, true)
  const docs = new Map<string, OptionDoc>()
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && node.name.getText() === 'OPTIONS' && node.type !== undefined &&
      ts.isTypeLiteralNode(node.type)) {
      for (const member of node.type.members) {
        const jsDoc = (member as { jsDoc?: ts.JSDoc[] }).jsDoc?.[0]
        const text = (c: ts.JSDoc['comment'] | ts.JSDocTag['comment']): string =>
          (typeof c === 'string' ? c : ts.getTextOfJSDocComment(c) ?? '').replace(/\s*\n\s*/g, ' ').trim()
        const tag = jsDoc?.tags?.find((t) => t.tagName.text === 'default')
        docs.set(member.name?.getText() ?? '', {
          description: jsDoc === undefined ? '' : text(jsDoc.comment),
          default: tag === undefined ? null : text(tag.comment)
        })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return docs
}

const PLAIN_TYPES = new Set(['Duration', 'Size', 'Fastify plugin'])

function spec (key: string): OptionSpec<unknown, unknown> {
  return OPTIONS[key as keyof typeof OPTIONS] as OptionSpec<unknown, unknown>
}

/** The cells an options table row must hold for `key`, by column header. */
export function expectedCells (key: string): Record<string, string> {
  const s = spec(key)
  return {
    Option: `\`${key}\``,
    Type: PLAIN_TYPES.has(s.docs.type) ? s.docs.type : `\`${s.docs.type}\``,
    Default: s.docs.default,
    'CLI flag': s.docs.flag ?? (s.cli === undefined ? '' : `\`--${s.cli.flag}\``),
    'Env var': s.docs.env ?? (s.cli === undefined ? '' : `\`${s.cli.env}\``)
  }
}

const escapeCell = (text: string): string => text.replace(/\|/g, '\\|')

/** The options table of docs/options.md. */
export function renderOptionsTable (docs: Map<string, OptionDoc> = optionTsDoc()): string {
  const rows = OPTION_KEYS.map((key) => {
    const cells = expectedCells(key)
    return `| ${[cells.Option, cells.Type, cells.Default, cells['CLI flag'], cells['Env var'], docs.get(key)?.description ?? '']
      .map((c) => escapeCell(c ?? '')).join(' | ')} |`
  })
  return ['| Option | Type | Default | CLI flag | Env var | Description |', '|---|---|---|---|---|---|', ...rows].join('\n')
}

export interface ParsedTable {
  header: string[]
  rows: Array<Record<string, string>>
}

/** Every Markdown table in `markdown` whose first column is "Option" and which has a "Default" column. */
export function optionTables (markdown: string): ParsedTable[] {
  const tables: ParsedTable[] = []
  const lines = markdown.split('\n')
  const split = (line: string): string[] =>
    line.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'))
  for (let i = 0; i < lines.length; i++) {
    const header = split(lines[i] ?? '')
    if (header[0] !== 'Option' || !header.includes('Default') || !/^\|[-| ]+\|$/.test(lines[i + 1]?.trim() ?? '')) continue
    const rows: Array<Record<string, string>> = []
    let j = i + 2
    for (; j < lines.length && lines[j]?.trim().startsWith('|') === true; j++) {
      const cells = split(lines[j] as string)
      rows.push(Object.fromEntries(header.map((h, k) => [h, cells[k] ?? ''])))
    }
    tables.push({ header, rows })
    i = j
  }
  return tables
}

export const GENERATED_START = '<!-- options table: generated from lib/shared/options.ts by test/options-docs.test.ts; do not edit -->'
export const GENERATED_END = '<!-- end of generated options table -->'
