import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as errors from '../dist/lib/shared/errors.js'

t.test("the README's errors table lists exactly the exported error codes", async (t) => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Errors'))
  const table = section.slice(0, section.indexOf('\n## ', 1))
  const documented = new Set([...table.matchAll(/^\| `(FST_CLUSTER_[A-Z_]+)` \|/gm)].map((m) => m[1]))
  const exported = new Set(Object.keys(errors))
  t.ok(exported.size > 10, `found ${exported.size} exported codes`)
  t.same([...documented].sort(), [...exported].sort())
})
