import { describe, expect, test } from 'vitest'
import type { KeyEntry } from '../../shared/room.ts'
import { keyGroups, parentPrefix, visibleKeys } from './key-filter.ts'
import { writerName } from './writer-names.ts'

const entry = (key: string, wall: number, conflictWall?: number): KeyEntry => ({
  key, value: key, deleted: false, clock: { wall, counter: 0 }, writer: 'w', expiresAt: 0,
  keyId: new Uint8Array(), id: new Uint8Array(), replaces: [],
  conflicts: conflictWall == null ? [] : [{ ...entry(key, conflictWall), conflicts: undefined } as any]
})

describe('key list view', () => {
  const rows = [entry('a/1', 5), entry('a/2', 1, 9), entry('b', 3)]
  test('prefix filter keeps the key order; no filter returns the rows as they are', () => {
    expect(visibleKeys(rows, '', 'key')).toBe(rows)
    expect(visibleKeys(rows, 'a/', 'key').map(e => e.key)).toEqual(['a/1', 'a/2'])
    expect(visibleKeys(rows, 'zzz', 'key')).toEqual([])
  })
  test('sorts: reverse key order, and most recent change first (a conflict counts)', () => {
    expect(visibleKeys(rows, '', 'key-desc').map(e => e.key)).toEqual(['b', 'a/2', 'a/1'])
    expect(visibleKeys(rows, '', 'recent').map(e => e.key)).toEqual(['a/2', 'a/1', 'b'])
    expect(rows.map(e => e.key)).toEqual(['a/1', 'a/2', 'b']) // the input is never reordered
  })
  test('writer names: stable two words, "you" for this tab', () => {
    expect(writerName('w-abc', 'w-abc')).toBe('you')
    expect(writerName('w-abc')).toBe(writerName('w-abc'))
    expect(writerName('w-abc')).toMatch(/^[a-z]+ [a-z]+$/)
    expect(writerName('w-abc')).not.toBe(writerName('w-abd'))
  })
})

describe('prefix runs by binary search', () => {
  test('match a plain filter on random sorted keys, with odd characters', () => {
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    const alphabet = ['a', 'b', '/', 'é', '\uffff', '0', 'ab']
    const keys = [...new Set(Array.from({ length: 400 }, () => Array.from({ length: 1 + rand(4) }, () => alphabet[rand(alphabet.length)]).join('')))]
      .sort((x, y) => x < y ? -1 : x > y ? 1 : 0)
    const rows = keys.map(k => entry(k, 1))
    for (const prefix of ['', 'a', 'ab', 'a/', '/', 'é', '\uffff', 'b\uffff', 'zzz', 'ab/b']) {
      expect(visibleKeys(rows, prefix, 'key').map(e => e.key), prefix).toEqual(keys.filter(k => k.startsWith(prefix)))
      const groups = new Map<string, number>()
      for (const k of keys) {
        if (!k.startsWith(prefix)) continue
        const slash = k.indexOf('/', prefix.length)
        if (slash >= 0) groups.set(k.slice(0, slash + 1), (groups.get(k.slice(0, slash + 1)) ?? 0) + 1)
      }
      expect(keyGroups(rows, prefix, 1000).map(g => [g.prefix, g.count]), prefix).toEqual([...groups])
    }
  })
})

describe('key-path groups', () => {
  const rows = ['a', 'a/b/c', 'a/b/d', 'a/e', 'b/x', 'c'].map(k => entry(k, 1))
  test('one level below the prefix, with counts, in key order', () => {
    expect(keyGroups(rows, '')).toEqual([{ prefix: 'a/', count: 3 }, { prefix: 'b/', count: 1 }])
    expect(keyGroups(rows, 'a/')).toEqual([{ prefix: 'a/b/', count: 2 }])
    expect(keyGroups(rows, 'a/b/')).toEqual([])
    expect(keyGroups(rows, '', 1)).toEqual([{ prefix: 'a/', count: 3 }])
    expect(parentPrefix('a/b/')).toBe('a/')
    expect(parentPrefix('a/')).toBe('')
    expect(parentPrefix('a/b')).toBe('a/')
  })
})
