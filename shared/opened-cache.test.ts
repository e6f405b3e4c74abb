import { describe, expect, test } from 'vitest'
import { createOpenedCache } from './opened-cache.ts'
import { openRecordAsync, sealRecordAsync } from './record.ts'
import { deriveRoomKeys, newRoomSecret } from './room-keys.ts'

const id = (n: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => (n >> (i % 4 * 8)) & 0xff)

describe('opened cache', () => {
  test('keeps payloads by record id, least recently used out first, within count and characters', () => {
    const cache = createOpenedCache({ maxEntries: 3, maxChars: 10_000 })
    for (let i = 0; i < 3; i++) cache.set(id(i), { name: `k${i}`, value: String(i) })
    expect(cache.get(id(0))).toEqual({ name: 'k0', value: '0' }) // 0 is now the most recent
    cache.set(id(3), { name: 'k3', value: '3' })
    expect(cache.get(id(1))).toBeUndefined()
    expect(cache.get(id(0))).toBeDefined()
    expect(cache.size).toBe(3)

    const small = createOpenedCache({ maxChars: 200 })
    small.set(id(1), { name: 'a', value: 'x'.repeat(100) })
    small.set(id(2), { name: 'b', value: 'y'.repeat(100) }) // 2 x (101 + 64) > 200: the older goes
    expect(small.get(id(1))).toBeUndefined()
    expect(small.get(id(2))?.name).toBe('b')
    small.set(id(3), { name: 'c', value: 'z'.repeat(500) }) // larger than the whole cache: not kept
    expect(small.get(id(3))).toBeUndefined()
    expect(small.get(id(2))).toBeDefined()
  })

  test('a record opened twice gives equal entries that share no value object', async () => {
    const keys = deriveRoomKeys(newRoomSecret())
    const cache = createOpenedCache()
    const record = await sealRecordAsync(keys, { key: 'doc', value: { name: 'Ada', tags: ['x'] }, writer: 'w', clock: { wall: Date.now(), counter: 0 } })
    const first = await openRecordAsync(keys, record, cache)
    expect(cache.size).toBe(1)
    const second = await openRecordAsync(keys, record, cache)
    expect(second).toEqual(first)
    expect(second.value).not.toBe(first.value)
    ;(first.value as { name: string }).name = 'changed'
    expect(((await openRecordAsync(keys, record, cache)).value as { name: string }).name).toBe('Ada')

    const deletion = await sealRecordAsync(keys, { key: 'doc', deleted: true, writer: 'w', clock: { wall: Date.now(), counter: 1 } })
    await openRecordAsync(keys, deletion, cache)
    expect(await openRecordAsync(keys, deletion, cache)).toMatchObject({ key: 'doc', deleted: true, value: undefined })
  })

  test('a cached record of another room is still refused', async () => {
    const keys = deriveRoomKeys(newRoomSecret())
    const other = deriveRoomKeys(newRoomSecret())
    const cache = createOpenedCache()
    const record = await sealRecordAsync(keys, { key: 'k', value: 1, writer: 'w', clock: { wall: Date.now(), counter: 0 } })
    await openRecordAsync(keys, record, cache)
    await expect(openRecordAsync(other, record, cache)).rejects.toMatchObject({ code: 'ERR_WRONG_ROOM' })
  })
})
