/**
 * The sync index against a plain model: random initial rooms, random key
 * updates (new keys, replaced heads, conflicts, deletions, expiry) between
 * snapshots; every snapshot equals the model's items sorted from scratch.
 */
import { describe, expect, it } from 'vitest'
import { prng, randomInt } from '../test-support.ts'
import { createSyncIndex, type IndexedHead } from './index.ts'
import { byteText, itemsFrom, type SyncItems } from './items.ts'

function bytes (random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => randomInt(random, 256))
}

const text = (items: SyncItems): string[] => Array.from({ length: items.count }, (_, i) =>
  byteText(items.keys.subarray(i * 32, i * 32 + 32)) + byteText(items.ids.subarray(i * 16, i * 16 + 16)))

describe('sync index', () => {
  it('snapshots equal the model after random updates (seeded)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = prng(seed)
      let now = 1000
      const model = new Map<string, { keyId: Uint8Array, heads: IndexedHead[] }>()
      const head = (): IndexedHead => ({ recordId: bytes(random, 16), expiresAt: random() < 0.1 ? now + randomInt(random, 50) : 0 })
      const initial = randomInt(random, 300)
      for (let i = 0; i < initial; i++) {
        const keyId = bytes(random, 32)
        model.set(byteText(keyId), { keyId, heads: Array.from({ length: 1 + randomInt(random, 2) }, head) })
      }
      const snapshotOfModel = (): SyncItems => itemsFrom([...model.values()].flatMap(k =>
        k.heads.filter(h => h.expiresAt === 0 || h.expiresAt > now).map(h => ({ keyId: k.keyId, recordId: h.recordId }))))
      const index = createSyncIndex({
        now: () => now,
        async * read () {
          for (const k of model.values()) for (const h of k.heads) yield { keyId: k.keyId, ...h }
        }
      })
      for (let round = 0; round < 8; round++) {
        expect(text(await index.items('room'))).toEqual(text(snapshotOfModel()))
        for (let u = randomInt(random, 40); u > 0; u--) {
          const keys = [...model.values()]
          const existing = keys.length > 0 && random() < 0.6 ? keys[randomInt(random, keys.length)] : undefined
          const keyId = existing?.keyId ?? bytes(random, 32)
          const heads = random() < 0.1 ? [] : Array.from({ length: 1 + randomInt(random, 3) }, head)
          if (heads.length === 0) model.delete(byteText(keyId))
          else model.set(byteText(keyId), { keyId, heads })
          index.update('room', keyId, heads)
        }
        now += randomInt(random, 30)
      }
    }
  })

  it('drops the least recently used rooms past maxItems, and rebuilds them on demand', async () => {
    const reads: string[] = []
    const index = createSyncIndex({
      maxItems: 150,
      async * read (roomId) {
        reads.push(roomId)
        for (let i = 0; i < 100; i++) yield { keyId: new Uint8Array(32).fill(i), recordId: new Uint8Array(16).fill(roomId.charCodeAt(0)), expiresAt: 0 }
      }
    })
    expect((await index.items('a')).count).toBe(100)
    expect((await index.items('b')).count).toBe(100)
    expect(index.size()).toBe(100)
    expect((await index.items('b')).count).toBe(100)
    expect((await index.items('a')).count).toBe(100)
    expect(reads).toEqual(['a', 'b', 'a'])
  })
})
