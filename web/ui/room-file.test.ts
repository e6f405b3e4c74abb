import { describe, expect, test } from 'vitest'
import type { KeyEntry } from '../../shared/room.ts'
import { exportRoom, MAX_IMPORT_KEYS, parseRoomFile, planImport } from './room-file.ts'

const row = (key: string, value: unknown, extra: Partial<KeyEntry> = {}): KeyEntry => ({
  key, value, deleted: false, clock: { wall: 1, counter: 0 }, writer: 'w', expiresAt: 0,
  keyId: new Uint8Array(), id: new Uint8Array(), replaces: [], conflicts: [], ...extra
})

describe('room export files', () => {
  test('export keeps types and expiries, skips deletions and expired values; parse reads it back', () => {
    const rows = [row('n', 42), row('o', { a: [1] }), row('t', 'text', { expiresAt: 5000 }), row('d', undefined, { deleted: true }), row('x', 'old', { expiresAt: 10 })]
    const file = exportRoom(rows, 1000)
    expect(file.keys).toEqual([{ key: 'n', value: 42 }, { key: 'o', value: { a: [1] } }, { key: 't', value: 'text', expiresAt: 5000 }])
    expect(parseRoomFile(JSON.stringify(file))).toEqual({ ok: true, keys: file.keys })
  })

  test('hostile files are refused with a reason, before anything is written', () => {
    const file = (keys: unknown, extra = {}): string => JSON.stringify({ format: 'roomkv-export', version: 1, keys, ...extra })
    expect(parseRoomFile('{')).toMatchObject({ ok: false, message: expect.stringMatching(/not JSON/) })
    expect(parseRoomFile('[]')).toMatchObject({ ok: false, message: 'This is not a roomkv export file' })
    expect(parseRoomFile(file([], { version: 2 }))).toMatchObject({ ok: false, message: 'Unsupported export version 2' })
    expect(parseRoomFile(file([{ key: 'a', value: 1 }, { key: 'a', value: 2 }]))).toMatchObject({ ok: false, message: '"a" appears twice' })
    expect(parseRoomFile(file([{ key: '', value: 1 }])).ok).toBe(false)
    expect(parseRoomFile(file([{ key: 'a' }]))).toMatchObject({ ok: false, message: '"a" has no value' })
    expect(parseRoomFile(file([{ key: 'a', value: 1, expiresAt: -5 }])).ok).toBe(false)
    expect(parseRoomFile(file(Array.from({ length: MAX_IMPORT_KEYS + 1 }, (_, i) => ({ key: `k${i}`, value: i })))).ok).toBe(false)
    expect(parseRoomFile(file([{ key: 'z', value: null }]))).toEqual({ ok: true, keys: [{ key: 'z', value: null }] })
  })

  test('the plan says what would change: new, changed, unchanged, expired', () => {
    const current = new Map([['same', row('same', { a: 1 })], ['diff', row('diff', 1)], ['gone', row('gone', undefined, { deleted: true })]])
    const plan = planImport([
      { key: 'same', value: { a: 1 } }, { key: 'diff', value: '1' }, { key: 'gone', value: 2 }, { key: 'new', value: true }, { key: 'old', value: 1, expiresAt: 5 }
    ], key => current.get(key), 1000)
    expect(plan.added.map(k => k.key)).toEqual(['gone', 'new'])
    expect(plan.changed.map(k => k.key)).toEqual(['diff'])
    expect(plan.unchanged).toBe(1)
    expect(plan.expired).toBe(1)
  })
})
