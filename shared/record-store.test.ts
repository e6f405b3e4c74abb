import { describe, expect, it } from 'vitest'
import { compare, toString } from 'uint8arrays'
import { DIGEST_ID_BYTES, MAX_RECORD_BYTES } from './constants.ts'
import { RoomkvError } from './errors.ts'
import { compareClocks, type Clock } from './hlc.ts'
import { createRecordStore, memoryRecordStorage, type MergeResult, type RecordStorage } from './record-store.ts'
import { compareRecords, sealRecord, verifyRecord, type SealInit, type VerifiedRecord } from './record.ts'
import { deriveRoomKeys, keyIdFor, type RoomKeys } from './room-keys.ts'

const NOW = 1_767_225_600_000
const keysA = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const keysB = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T> (items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')
const b32 = (bytes: Uint8Array): string => toString(bytes, 'base32')

function seal (init: Partial<SealInit> = {}, keys: RoomKeys = keysA): Uint8Array {
  return sealRecord(keys, { key: 'greeting', value: 'hello', clock: { wall: NOW, counter: 0 }, writer: 'writer-1', ...init })
}

const at = (wall: number, counter = 0): Clock => ({ wall, counter })

/** A manual clock for the store. */
function manualNow (start = NOW): { now: () => number, set: (t: number) => void } {
  let t = start
  return { now: () => t, set: (v: number) => { t = v } }
}

/** memoryRecordStorage that counts writes and can fail or pause on demand. */
function instrumented (inner: RecordStorage = memoryRecordStorage()): RecordStorage & {
  puts: number
  closed: boolean
  failNextPut: boolean
  pause?: () => Promise<void>
  /** Most get/put calls in flight at once for one key, and overall. */
  maxInFlightPerKey: number
  maxInFlight: number
} {
  const inFlight = new Map<string, number>()
  let total = 0
  const track = async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
    total++
    storage.maxInFlightPerKey = Math.max(storage.maxInFlightPerKey, inFlight.get(key) ?? 0)
    storage.maxInFlight = Math.max(storage.maxInFlight, total)
    try {
      return await fn()
    } finally {
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1)
      total--
    }
  }
  const storage = {
    puts: 0,
    closed: false,
    failNextPut: false,
    maxInFlightPerKey: 0,
    maxInFlight: 0,
    pause: undefined as undefined | (() => Promise<void>),
    async get (roomId: string, keyId: string) {
      return track(`${roomId}/${keyId}`, async () => {
        await storage.pause?.()
        const value = await inner.get(roomId, keyId)
        await storage.pause?.()
        return value
      })
    },
    async put (roomId: string, keyId: string, record: Uint8Array) {
      return track(`${roomId}/${keyId}`, async () => {
        await storage.pause?.()
        if (storage.failNextPut) {
          storage.failNextPut = false
          throw new Error('disk full')
        }
        storage.puts++
        await inner.put(roomId, keyId, record)
        await storage.pause?.()
      })
    },
    delete: async (roomId: string, keyId: string) => { await inner.delete(roomId, keyId) },
    list: (roomId: string) => inner.list(roomId),
    async close () {
      storage.closed = true
      await inner.close()
    }
  }
  return storage
}

/** Microtask-only pauses: interleaving is random but fully reproducible. */
function microPauses (random: () => number): () => Promise<void> {
  return async () => {
    const n = Math.floor(random() * 6)
    for (let i = 0; i < n; i++) await Promise.resolve()
  }
}

async function codeOf (promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (!(err instanceof RoomkvError)) throw new Error(`expected a RoomkvError, got ${String(err)}`)
    return err.code
  }
  return 'NO_ERROR'
}

async function collect<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

const verified = (bytes: Uint8Array): VerifiedRecord => verifyRecord(bytes, { now: NOW, allowExpired: true })

/** The expected winner, by the documented order, without compareRecords. */
function maxOf (records: Uint8Array[]): Uint8Array {
  return [...records].sort((x, y) => {
    const a = verified(x)
    const b = verified(y)
    return compareClocks(b.clock, a.clock) ||
      (a.body.writer === b.body.writer ? 0 : a.body.writer < b.body.writer ? 1 : -1) ||
      compare(b.id, a.id)
  })[0]
}

describe('createRecordStore merge', () => {
  const greeting = keyIdFor(keysA, 'greeting')

  it('stored, then known for the same record, then stale for an older one', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const v1 = seal({ clock: at(NOW - 10) })
    const v2 = seal({ clock: at(NOW - 5) })

    const first = await store.merge(v2)
    expect(first.status).toBe('stored')
    expect(hex(first.winner.bytes)).toBe(hex(v2))
    expect(hex(first.record.bytes)).toBe(hex(v2))

    const again = await store.merge(Uint8Array.from(v2))
    expect(again.status).toBe('known')
    expect(hex(again.winner.bytes)).toBe(hex(v2))

    const old = await store.merge(v1)
    expect(old.status).toBe('stale')
    expect(hex(old.record.bytes)).toBe(hex(v1))
    expect(hex(old.winner.bytes)).toBe(hex(v2))

    expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(v2))

    const v3 = seal({ clock: at(NOW - 5, 1) })
    const newer = await store.merge(v3)
    expect(newer.status).toBe('stored')
    expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(v3))
  })

  it('keeps the winner whatever the arrival order', { timeout: 60_000 }, async () => {
    const random = prng(0xa11)
    const versions = [
      seal({ clock: at(NOW - 3), writer: 'b' }),
      seal({ clock: at(NOW - 3), writer: 'a' }),
      seal({ clock: at(NOW - 2, 5), writer: 'a' }),
      seal({ clock: at(NOW - 2, 5), writer: 'a', value: 'other' }),
      seal({ clock: at(NOW - 2, 5), writer: 'c', deleted: true }),
      seal({ clock: at(NOW - 100), writer: 'z' })
    ]
    const winner = maxOf(versions)
    for (let round = 0; round < 20; round++) {
      const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
      const order = shuffle(versions, random)
      for (const bytes of order) await store.merge(bytes)
      expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(winner))
      expect((await collect(store.list(keysA.roomId))).map(r => hex(r.bytes))).toEqual([hex(winner)])
    }
  })

  it('keeps one winner per key, and rooms apart', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    await store.merge(seal({ key: 'a', value: 1 }))
    await store.merge(seal({ key: 'b', value: 2 }))
    await store.merge(seal({ key: 'a', value: 3, clock: at(NOW, 1) }))
    await store.merge(seal({ key: 'a', value: 4 }, keysB))
    const inA = await collect(store.list(keysA.roomId))
    const inB = await collect(store.list(keysB.roomId))
    expect(inA.map(r => b32(r.body.keyId)).sort()).toEqual([b32(keyIdFor(keysA, 'a')), b32(keyIdFor(keysA, 'b'))].sort())
    expect(inB.map(r => b32(r.body.keyId))).toEqual([b32(keyIdFor(keysB, 'a'))])
    expect((await store.get(keysA.roomId, keyIdFor(keysA, 'a')))?.clock).toEqual(at(NOW, 1))
    expect(await store.get(keysA.roomId, keyIdFor(keysA, 'missing'))).toBeUndefined()
    expect(await store.get(keysB.roomId, keyIdFor(keysA, 'a'))).toBeUndefined()
  })

  it('rejects invalid records with their typed error and changes nothing', async () => {
    const storage = instrumented()
    const store = createRecordStore(storage, { now: () => NOW })
    const heard: VerifiedRecord[] = []
    store.onRecord(r => heard.push(r))
    const good = seal({ clock: at(NOW - 10) })
    await store.merge(good)
    expect(storage.puts).toBe(1)
    expect(heard.length).toBe(1)

    const badSignature = seal({ clock: at(NOW) })
    badSignature[badSignature.length - 1] ^= 0x80
    const future = seal({ clock: at(NOW + 10 * 60_000) })
    const expired = seal({ clock: at(NOW - 5), expiresAt: NOW - 1 })
    const otherKey = seal({ key: 'other', clock: at(NOW) })
    const otherRoom = seal({ clock: at(NOW) }, keysB)
    const cases: Array<[Uint8Array, string, object?]> = [
      [badSignature, 'ERR_BAD_SIGNATURE'],
      [future, 'ERR_INVALID_RECORD'],
      [expired, 'ERR_RECORD_EXPIRED'],
      [otherKey, 'ERR_WRONG_ROOM', { keyId: greeting }],
      [otherRoom, 'ERR_WRONG_ROOM', { roomId: keysA.roomId }],
      [good.subarray(0, good.length - 1), 'ERR_INVALID_RECORD'],
      [Uint8Array.from({ length: 100 }, (_, i) => i * 7), 'ERR_INVALID_RECORD'],
      [new Uint8Array(MAX_RECORD_BYTES + 1), 'ERR_RECORD_TOO_LARGE'],
      [new Uint8Array(0), 'ERR_INVALID_RECORD']
    ]
    for (const [bytes, code, options] of cases) {
      expect(await codeOf(store.merge(bytes, options)), code).toBe(code)
    }
    expect(storage.puts).toBe(1)
    expect(heard.length).toBe(1)
    expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(good))
    expect((await collect(store.list(keysA.roomId))).length).toBe(1)
    expect(await collect(store.list(keysB.roomId))).toEqual([])
  })

  it('calls listeners only for new winners, until unsubscribed', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const heard: string[] = []
    const heardToo: string[] = []
    const stop = store.onRecord(r => heard.push(hex(r.bytes)))
    store.onRecord(r => heardToo.push(hex(r.bytes)))
    const v1 = seal({ clock: at(NOW - 10) })
    const v2 = seal({ clock: at(NOW - 5) })
    const v3 = seal({ clock: at(NOW - 1) })
    await store.merge(v2) // stored
    await store.merge(v2) // known
    await store.merge(v1) // stale
    expect(heard).toEqual([hex(v2)])
    stop()
    await store.merge(v3) // stored, but the first listener is gone
    expect(heard).toEqual([hex(v2)])
    expect(heardToo).toEqual([hex(v2), hex(v3)])
  })

  it('lists a digest of (key id, 8-byte record id prefix) per live key', async () => {
    const clock = manualNow()
    const store = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const records = new Map<string, VerifiedRecord>()
    for (const key of ['a', 'b', 'c']) {
      const result = await store.merge(seal({ key, value: key }))
      records.set(b32(result.record.body.keyId), result.record)
    }
    await store.merge(seal({ key: 'temp', expiresAt: NOW + 1000 }))
    await store.merge(seal({ key: 'a' }, keysB))

    const digest = await store.digest(keysA.roomId)
    expect(digest.length).toBe(4)
    clock.set(NOW + 1000) // 'temp' expires
    const later = await store.digest(keysA.roomId)
    expect(later.length).toBe(3)
    for (const entry of later) {
      const record = records.get(b32(entry.keyId))
      expect(record).toBeDefined()
      expect(entry.recordId.length).toBe(DIGEST_ID_BYTES)
      expect(hex(entry.recordId)).toBe(hex(record!.id.subarray(0, DIGEST_ID_BYTES)))
    }
    expect(new Set(later.map(e => b32(e.keyId))).size).toBe(3)
    expect((await store.digest(keysB.roomId)).map(e => b32(e.keyId))).toEqual([b32(keyIdFor(keysB, 'a'))])
    expect(await store.digest(deriveRoomKeys(new Uint8Array(32)).roomId)).toEqual([])
  })

  it('hides expired records from get, list and digest', async () => {
    const clock = manualNow()
    const store = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const keyId = keyIdFor(keysA, 'greeting')
    const bytes = seal({ expiresAt: NOW + 1000 })
    expect((await store.merge(bytes)).status).toBe('stored')
    expect(hex((await store.get(keysA.roomId, keyId))?.bytes ?? new Uint8Array())).toBe(hex(bytes))
    clock.set(NOW + 999)
    expect(await store.get(keysA.roomId, keyId)).toBeDefined()
    clock.set(NOW + 1000)
    expect(await store.get(keysA.roomId, keyId)).toBeUndefined()
    expect(await collect(store.list(keysA.roomId))).toEqual([])
    expect(await store.digest(keysA.roomId)).toEqual([])
    // and an already expired record is refused outright
    expect(await codeOf(store.merge(seal({ clock: at(NOW, 5), expiresAt: NOW + 500 })))).toBe('ERR_RECORD_EXPIRED')
  })

  it('a newer live version replaces an expired one', async () => {
    const clock = manualNow()
    const store = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const keyId = keyIdFor(keysA, 'greeting')
    await store.merge(seal({ expiresAt: NOW + 1000 }))
    clock.set(NOW + 2000)
    const fresh = seal({ clock: at(NOW + 2000) })
    expect((await store.merge(fresh)).status).toBe('stored')
    expect(hex((await store.get(keysA.roomId, keyId))?.bytes ?? new Uint8Array())).toBe(hex(fresh))
  })

  // Regression guard (shared/record-store.ts, merge): an expired stored winner still beats
  // live, older versions ('stale'), while a replica that never saw the expiring
  // version can no longer accept it (verifyRecord: ERR_RECORD_EXPIRED). Two
  // replicas that have exchanged every record they hold then disagree forever:
  // A (saw v100 before it expired) returns nothing, B returns v90, and B's push
  // of v90 to A is answered 'stale'. Fixed by: in merge, treat an expired
  // current winner as absent (`if (current != null && !isLive(current)) order = 1`),
  // so both converge on the newest live version.
  it('replicas converge after a winner expires (an expired winner does not block a live older version)', async () => {
    const clock = manualNow()
    const a = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const b = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const keyId = keyIdFor(keysA, 'greeting')
    const v90 = seal({ clock: at(NOW - 10), value: 90 })
    const v100 = seal({ clock: at(NOW), value: 100, expiresAt: NOW + 10 })
    await a.merge(v100)
    await b.merge(v90)
    clock.set(NOW + 20)
    // Full exchange: each replica offers the other everything it holds.
    await codeOf(b.merge(v100))
    await a.merge(v90)
    const fromA = await a.get(keysA.roomId, keyId)
    const fromB = await b.get(keysA.roomId, keyId)
    expect(hex(fromA?.bytes ?? new Uint8Array())).toBe(hex(fromB?.bytes ?? new Uint8Array()))
  })

  it('ignores unreadable bytes in storage: hidden, and any valid record replaces them', async () => {
    const storage = memoryRecordStorage()
    const store = createRecordStore(storage, { now: () => NOW })
    const keyId = keyIdFor(keysA, 'greeting')
    await storage.put(keysA.roomIdText, b32(keyId), new Uint8Array([1, 2, 3]))
    expect(await store.get(keysA.roomId, keyId)).toBeUndefined()
    expect(await collect(store.list(keysA.roomId))).toEqual([])
    const old = seal({ clock: at(1) })
    expect((await store.merge(old)).status).toBe('stored')
    expect(hex((await storage.get(keysA.roomIdText, b32(keyId))) ?? new Uint8Array())).toBe(hex(old))
  })

  it('stores under base32 room id and key id text', async () => {
    const storage = memoryRecordStorage()
    const store = createRecordStore(storage, { now: () => NOW })
    const bytes = seal()
    await store.merge(bytes)
    expect(hex((await storage.get(keysA.roomIdText, b32(keyIdFor(keysA, 'greeting')))) ?? new Uint8Array())).toBe(hex(bytes))
  })

  it('concurrent merges of 50 versions of one key, in random order, leave the max', { timeout: 60_000 }, async () => {
    const random = prng(0xc0ffee)
    const distinct = Array.from({ length: 40 }, (_, i) =>
      seal({ clock: at(NOW - Math.floor(random() * 4), Math.floor(random() * 3)), writer: `w${Math.floor(random() * 3)}`, value: i }))
    const all = [...distinct, ...Array.from({ length: 10 }, () => distinct[Math.floor(random() * distinct.length)])]
    const winner = maxOf(distinct)

    for (let round = 0; round < 5; round++) {
      const storage = instrumented()
      storage.pause = microPauses(random)
      const store = createRecordStore(storage, { now: () => NOW })
      const heard: string[] = []
      store.onRecord(r => heard.push(hex(r.bytes)))
      const order = shuffle(all, random)
      const results: MergeResult[] = await Promise.all(order.map(async bytes => store.merge(bytes)))

      expect(hex((await store.get(keysA.roomId, keyIdFor(keysA, 'greeting')))?.bytes ?? new Uint8Array())).toBe(hex(winner))
      // Merges of one key are serialized in call order, so every status is predictable.
      let best: VerifiedRecord | undefined
      const expectedHeard: string[] = []
      order.forEach((bytes, i) => {
        const record = verified(bytes)
        const cmp = best == null ? 1 : compareRecords(record, best)
        const status = cmp > 0 ? 'stored' : cmp === 0 ? 'known' : 'stale'
        if (cmp > 0) {
          best = record
          expectedHeard.push(hex(bytes))
        }
        expect(results[i].status, `merge ${i}`).toBe(status)
        expect(hex(results[i].winner.bytes), `merge ${i}`).toBe(hex(best!.bytes))
      })
      expect(heard).toEqual(expectedHeard)
      expect(storage.puts).toBe(expectedHeard.length)
      // Storage calls for the key never overlapped: merges of one key run one at a time.
      expect(storage.maxInFlightPerKey).toBe(1)
    }
  })

  it('merges of different keys do not block each other and all land', async () => {
    const random = prng(5)
    const storage = instrumented()
    storage.pause = microPauses(random)
    const store = createRecordStore(storage, { now: () => NOW })
    const records = Array.from({ length: 30 }, (_, i) => seal({ key: `k${i % 10}`, clock: at(NOW - 30 + i), value: i }))
    await Promise.all(shuffle(records, random).map(async bytes => store.merge(bytes)))
    for (let k = 0; k < 10; k++) {
      const record = await store.get(keysA.roomId, keyIdFor(keysA, `k${k}`))
      expect(record?.clock).toEqual(at(NOW - 30 + 20 + k))
    }
    expect(storage.maxInFlightPerKey).toBe(1)
    expect(storage.maxInFlight).toBeGreaterThan(1) // different keys did run side by side
  })

  it('a failed storage write rejects that merge only; later merges of the key proceed', async () => {
    const storage = instrumented()
    const store = createRecordStore(storage, { now: () => NOW })
    const heard: string[] = []
    store.onRecord(r => heard.push(hex(r.bytes)))
    const v1 = seal({ clock: at(NOW - 2) })
    const v2 = seal({ clock: at(NOW - 1) })
    storage.failNextPut = true
    const [first, second] = await Promise.allSettled([store.merge(v1), store.merge(v2)])
    expect(first.status).toBe('rejected')
    expect(second.status).toBe('fulfilled')
    expect(second.status === 'fulfilled' && second.value.status).toBe('stored')
    expect(heard).toEqual([hex(v2)])
    expect(hex((await store.get(keysA.roomId, keyIdFor(keysA, 'greeting')))?.bytes ?? new Uint8Array())).toBe(hex(v2))
  })

  it('close waits for merges in flight, then closes the storage', async () => {
    const storage = instrumented()
    storage.pause = microPauses(prng(1))
    const store = createRecordStore(storage, { now: () => NOW })
    const merging = store.merge(seal())
    await store.close()
    expect(storage.closed).toBe(true)
    expect(storage.puts).toBe(1)
    expect((await merging).status).toBe('stored')
  })
})

describe('memoryRecordStorage', () => {
  it('gets, puts, deletes and lists per room', async () => {
    const storage = memoryRecordStorage()
    expect(await storage.get('r', 'k')).toBeUndefined()
    await storage.put('r', 'k', new Uint8Array([1]))
    await storage.put('r', 'k2', new Uint8Array([2]))
    await storage.put('other', 'k', new Uint8Array([3]))
    expect(await storage.get('r', 'k')).toEqual(new Uint8Array([1]))
    expect((await collect(storage.list('r'))).map(b => b[0]).sort()).toEqual([1, 2])
    await storage.put('r', 'k', new Uint8Array([4]))
    await storage.delete('r', 'k2')
    await storage.delete('nothing', 'here')
    expect((await collect(storage.list('r'))).map(b => b[0])).toEqual([4])
    expect(await collect(storage.list('none'))).toEqual([])
    await storage.close()
  })
})
