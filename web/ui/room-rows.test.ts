import { describe, expect, test } from 'vitest'
import type { KeyEntry } from '../../shared/room.ts'
import { RoomRows, shownConflicts } from './room-rows.ts'

const entry = (key: string, value: unknown, extra: Partial<KeyEntry> = {}): KeyEntry => ({
  key, value, deleted: false, clock: { wall: 1, counter: 0 }, writer: 'w', expiresAt: 0,
  keyId: new Uint8Array(), id: new Uint8Array(), replaces: [], conflicts: [], ...extra
})
const keys = (rows: RoomRows): string[] => rows.sorted().map(e => e.key)

describe('room rows patched from changes', () => {
  test('new keys merge into the key order; a won deletion removes the row unless a value conflicts', () => {
    const rows = new RoomRows()
    rows.reset([entry('b', 1), entry('d', 2)])
    rows.apply(entry('c', 3))
    rows.apply(entry('a', 0))
    expect(keys(rows)).toEqual(['a', 'b', 'c', 'd'])
    rows.apply(entry('b', undefined, { deleted: true }))
    expect(keys(rows)).toEqual(['a', 'c', 'd'])
    rows.apply(entry('c', undefined, { deleted: true, conflicts: [entry('c', 'still')] }))
    expect(keys(rows)).toEqual(['a', 'c', 'd'])
    expect(rows.get('c')?.deleted).toBe(true)
    rows.apply(entry('b', 'back'))
    expect(keys(rows)).toEqual(['a', 'b', 'c', 'd'])
  })

  test('expired versions leave: the best live one becomes the winner, none left removes the row', () => {
    const rows = new RoomRows()
    rows.reset([entry('k', 'soon', { expiresAt: 100, conflicts: [entry('k', 'later', { expiresAt: 300 })] }), entry('z', 'forever')])
    expect(rows.nextExpiry()).toBe(100)
    expect(rows.expire(150)).toBe(300)
    expect(rows.get('k')).toMatchObject({ value: 'later', conflicts: [] })
    expect(rows.expire(300)).toBeUndefined()
    expect(keys(rows)).toEqual(['z'])
  })
})

describe('room rows patched from changes, against a full sort', () => {
  test('random sets, updates and deletions: sorted() equals the rows sorted from scratch, as new arrays', () => {
    let seed = 7 // mulberry32: seeded, so a failure replays
    const random = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n)
    }
    const rows = new RoomRows()
    const truth = new Map<string, KeyEntry>()
    const initial = Array.from({ length: 300 }, (_, i) => entry(`k${String(i * 3).padStart(4, '0')}`, i))
    rows.reset(initial)
    for (const e of initial) truth.set(e.key, e)
    let previous = rows.sorted()
    for (let round = 0; round < 200; round++) {
      // Mostly a few changes per call (new keys placed by binary search),
      // now and then a burst (merged in one pass).
      for (let i = random(10) === 0 ? 400 + random(400) : random(40); i >= 0; i--) {
        const key = random(5) === 0 ? `x${random(50)}` : `k${String(random(1000)).padStart(4, '0')}`
        if (random(4) === 0) {
          rows.apply(entry(key, undefined, { deleted: true }))
          truth.delete(key)
        } else {
          const e = entry(key, round)
          rows.apply(e)
          truth.set(key, e)
        }
      }
      const sorted = rows.sorted()
      expect(sorted).not.toBe(previous)
      expect(sorted.map(e => e.key)).toEqual([...truth.keys()].sort((a, b) => a < b ? -1 : a > b ? 1 : 0))
      expect(sorted.every(e => truth.get(e.key) === e)).toBe(true)
      previous = sorted
    }
  })
})

describe('conflicts shown to people', () => {
  test('a version equal to the winner (or to another shown one) is no choice and is hidden', () => {
    const same = entry('k', { a: 1 })
    const other = entry('k', 2)
    const deletion = entry('k', undefined, { deleted: true })
    expect(shownConflicts(entry('k', { a: 1 }, { conflicts: [same, other, entry('k', 2), deletion, deletion] }))).toEqual([other, deletion])
    expect(shownConflicts(entry('k', undefined, { deleted: true, conflicts: [deletion] }))).toEqual([])
  })
})
