/*
 * Sticky sessions, pure part two: which slot serves a key. Rendezvous (highest-random-weight) hashing over the
 * slots, not the workers: a slot's replacement inherits its clients, and a slot without a usable worker moves only
 * its own clients, each to its next slot in the key's own order (the others stay where they are).
 */

/** FNV-1a over the key's UTF-16 code units, 32 bits. */
export function keyHash (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The weight of `slot` for a key: murmur3's finalizer over the key's hash mixed with the slot. */
export function slotWeight (hash: number, slot: number): number {
  let h = (hash ^ Math.imul(slot + 1, 0x9e3779b1)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The usable slot of highest weight for `key` among `slotCount`, or `null` when none is usable. Ties (rare)
 * go to the lower slot, so the choice is deterministic.
 */
export function pickSlot (key: string, slotCount: number, usable: (slot: number) => boolean): number | null {
  const hash = keyHash(key)
  let best: number | null = null
  let bestWeight = -1
  for (let slot = 0; slot < slotCount; slot++) {
    const weight = slotWeight(hash, slot)
    if (weight > bestWeight && usable(slot)) {
      best = slot
      bestWeight = weight
    }
  }
  return best
}

/** Every slot in the key's order of preference (for tests and diagnostics). */
export function rankSlots (key: string, slotCount: number): number[] {
  const hash = keyHash(key)
  return Array.from({ length: slotCount }, (_, slot) => slot)
    .sort((a, b) => slotWeight(hash, b) - slotWeight(hash, a) || a - b)
}
