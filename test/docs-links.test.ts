/*
 * Every relative link in README.md, the docs folder, bench/README.md and each example's README.md resolves: the
 * file (or folder) exists, and an anchor into a Markdown file names one of its headings or `<a id>`s.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'

const ROOT = join(__dirname, '..')

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')
}

function anchorsOf (file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  const anchors = new Set<string>()
  for (const m of text.matchAll(/^#{1,6} (.*)$/gm)) anchors.add(slug(m[1] ?? ''))
  for (const m of text.matchAll(/<a id="([^"]+)"/g)) anchors.add(m[1] ?? '')
  return anchors
}

/** Links outside code blocks and inline code: [text](target). */
function linksOf (file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '``')
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '')
}


const docs = join(ROOT, 'docs')
const files = [
  join(ROOT, 'README.md'),
  join(ROOT, 'bench', 'README.md'),
  ...(existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => join(docs, f)) : []),
  ...readdirSync(join(ROOT, 'examples')).map((d) => join(ROOT, 'examples', d, 'README.md')).filter((f) => existsSync(f))
]

t.test('README.md stays short and has a table of contents', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const lines = readme.split('\n').length
  t.ok(lines <= 320, `README.md is ${lines} lines (at most ~300: depth goes to docs/)`)
  const toc = readme.slice(0, readme.indexOf('\n## '))
  for (const section of ['Install', 'Quick start', 'Compatibility', 'TypeScript', 'Errors', 'Documentation']) {
    t.match(toc, `[${section}](#${slug(section)})`, `the table of contents links ${section}`)
  }
})

for (const file of files) {
  t.test(`links in ${relative(ROOT, file)} resolve`, async (t) => {
    const links = linksOf(file).filter((l) => !/^[a-z][a-z+.-]*:/i.test(l))
    for (const link of links) {
      const [path = '', anchor] = link.split('#')
      const target = path === '' ? file : join(dirname(file), decodeURIComponent(path))
      if (!existsSync(target)) {
        t.fail(`${link}: ${relative(ROOT, target)} does not exist`)
        continue
      }
      if (anchor !== undefined && anchor !== '' && statSync(target).isFile() && target.endsWith('.md')) {
        t.ok(anchorsOf(target).has(anchor), `${link}: #${anchor} is a heading of ${relative(ROOT, target)}`)
      } else {
        t.pass(`${link} exists`)
      }
    }
  })
}
