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
