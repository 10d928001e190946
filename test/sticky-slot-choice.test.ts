import t from 'tap'
import { keyHash, pickSlot, rankSlots, slotWeight } from '../dist/lib/primary/sticky-hash.js'

const keys = Array.from({ length: 20_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
const all = (): boolean => true

t.test('the same key always picks the same slot, and the hash is stable across runs', async (t) => {
  t.equal(keyHash(''), 0x811c9dc5, 'FNV-1a offset basis for the empty key')
  t.equal(keyHash('127.0.0.1'), keyHash('127.0.0.1'))
  for (const key of keys.slice(0, 100)) t.equal(pickSlot(key, 8, all), pickSlot(key, 8, all))
  t.same(rankSlots('10.0.0.1', 4).sort(), [0, 1, 2, 3], 'a ranking is a permutation of the slots')
  t.equal(rankSlots('10.0.0.1', 4)[0], pickSlot('10.0.0.1', 4, all), 'the pick is the first of the ranking')
  t.ok(slotWeight(1, 0) !== slotWeight(1, 1), 'slots weigh differently for one key')
})

t.test('keys spread evenly over the slots (within 10% of the mean)', async (t) => {
  for (const slots of [2, 4, 7, 16]) {
    const counts = new Array<number>(slots).fill(0)
    for (const key of keys) { const s = pickSlot(key, slots, all) as number; counts[s] = (counts[s] ?? 0) + 1 }
    const mean = keys.length / slots
    const worst = Math.max(...counts.map((c) => Math.abs(c - mean) / mean))
    t.ok(worst < 0.1, `${slots} slots: counts ${counts.join(' ')} (worst deviation ${(worst * 100).toFixed(1)}%)`)
  }
})

t.test('a slot without a usable worker moves only its own keys, each to its next slot; nobody else moves', async (t) => {
  const slots = 4
  const before = keys.map((k) => pickSlot(k, slots, all))
  const down = 2
  const after = keys.map((k) => pickSlot(k, slots, (s) => s !== down))
  let moved = 0
  let wrongPlace = 0
  let movedNeedlessly = 0
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === down) {
      moved++
      if (after[i] !== rankSlots(keys[i] as string, slots)[1]) wrongPlace++
    } else if (before[i] !== after[i]) {
      movedNeedlessly++
    }
  }
  t.equal(wrongPlace, 0, 'every moved key went to its second choice')
  t.equal(movedNeedlessly, 0, 'no key whose slot is up moved')
  t.ok(moved > keys.length / slots * 0.9 && moved < keys.length / slots * 1.1, `about a quarter moved (${moved})`)
  const back = keys.map((k) => pickSlot(k, slots, all))
  t.same(back, before, 'when the slot is back (its replacement is ready), every key returns to it')
  // The moved keys spread over the remaining slots rather than piling onto one.
  const landing = new Map<number, number>()
  for (let i = 0; i < keys.length; i++) if (before[i] === down) landing.set(after[i] as number, (landing.get(after[i] as number) ?? 0) + 1)
  t.equal(landing.size, 3, `the moved keys spread over the 3 other slots (${[...landing.values()].join(' ')})`)
})

t.test('no usable slot: null; one usable slot takes every key', async (t) => {
  t.equal(pickSlot('a', 4, () => false), null)
  t.equal(pickSlot('a', 0, all), null, 'no slots')
  for (const key of keys.slice(0, 50)) t.equal(pickSlot(key, 4, (s) => s === 3), 3)
})

t.test('a pick is fast: 100,000 picks over 16 slots well under a second', async (t) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < 100_000; i++) pickSlot(keys[i % keys.length] as string, 16, all)
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.ok(ms < 1000, `${ms.toFixed(1)} ms`)
})
