import t from 'tap'
import { createRequire } from 'node:module'
import { join } from 'node:path'

// bench/watt.js decides from Watt's `engines` whether the watt target can run on the Node the bench uses.
const { meetsNodeEngine } = createRequire(__filename)(join(__dirname, '..', 'bench', 'watt.js')) as {
  meetsNodeEngine: (version: string, range: string | undefined) => boolean | null
}

t.test('meetsNodeEngine compares a Node version with a ">=" engines range', async (t) => {
  t.equal(meetsNodeEngine('v22.19.0', '>=22.19.0'), true)
  t.equal(meetsNodeEngine('v24.1.0', '>=22.19.0'), true)
  t.equal(meetsNodeEngine('v22.20.0', '>=22.19.0'), true)
  t.equal(meetsNodeEngine('v22.18.9', '>=22.19.0'), false)
  t.equal(meetsNodeEngine('v20.20.2', '>=22.19.0'), false)
  t.equal(meetsNodeEngine('v22.19.0', '>= 22'), true)
  t.equal(meetsNodeEngine('v21.9.0', '>=22'), false)
})

t.test('meetsNodeEngine answers null for a range it does not read', async (t) => {
  t.equal(meetsNodeEngine('v24.1.0', '^22.19.0 || >=24'), null)
  t.equal(meetsNodeEngine('v24.1.0', undefined), null)
})
