import { describe, expect, it } from 'vitest'
import { compare, equals } from 'uint8arrays'
import { DIGEST_ID_BYTES, MAX_RECORD_BYTES, MAX_REPLACES, RECORD_ID_BYTES } from './constants.ts'
import { compareClocks, type Clock } from './hlc.ts'
import { HeadSet } from './proto/record.ts'
import {
  createRecordStore, memoryRecordStorage, supersededBy, writeContext, type MergeResult, type MergeStatus, type RecordStorage
} from './record-store.ts'
import { compareRecords, readStoredRecord, sealRecordAsync, type SealInit, type VerifiedRecord } from './record.ts'
import { sealRecord } from './record-js.ts'
import { deriveRoomKeys, keyIdFor, type RoomKeys } from './room-keys.ts'
import { b32, collect, hex, pick, prng, randomInt, rejectionCode, shuffle, verified as verifiedAt } from './test-support.ts'

const NOW = 1_767_225_600_000
const keysA = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const keysB = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))

function seal (init: Partial<SealInit> = {}, keys: RoomKeys = keysA): Uint8Array {
  return sealRecord(keys, { key: 'greeting', value: 'hello', clock: { wall: NOW, counter: 0 }, writer: 'writer-1', ...init })
}

const at = (wall: number, counter = 0): Clock => ({ wall, counter })

const verified = (bytes: Uint8Array): VerifiedRecord => verifiedAt(bytes, NOW)
const idOf = (bytes: Uint8Array): Uint8Array => verified(bytes).id
/** Hex ids, in order. */
const idsOf = (records: Array<VerifiedRecord | Uint8Array>): string[] =>
  records.map(r => hex(r instanceof Uint8Array ? idOf(r) : r.id))

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
    async put (roomId: string, keyId: string, value: Uint8Array) {
      return track(`${roomId}/${keyId}`, async () => {
        await storage.pause?.()
        if (storage.failNextPut) {
          storage.failNextPut = false
          throw new Error('disk full')
        }
        storage.puts++
        await inner.put(roomId, keyId, value)
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

const codeOf = rejectionCode

/** The documented order (clock, writer, id), greatest first, written out without compareRecords. */
function byRankDesc (a: VerifiedRecord, b: VerifiedRecord): number {
  return compareClocks(b.clock, a.clock) ||
    (a.body.writer === b.body.writer ? 0 : a.body.writer < b.body.writer ? 1 : -1) ||
    compare(b.id, a.id)
}

/** Distinct records, greatest first. */
function ranked (records: Array<Uint8Array | VerifiedRecord>): VerifiedRecord[] {
  const distinct = new Map<string, VerifiedRecord>()
  for (const r of records) {
    const record = r instanceof Uint8Array ? verified(r) : r
    distinct.set(hex(record.id), record)
  }
  return [...distinct.values()].sort(byRankDesc)
}

/** The expected winner, by the documented order. */
function maxOf (records: Uint8Array[]): Uint8Array {
  return ranked(records)[0].bytes
}

/**
 * The heads a replica that saw `records` must hold: every version no seen
 * version replaces, greatest first. Order-independent by construction.
 */
function expectedHeads (records: Uint8Array[]): string[] {
  const all = ranked(records)
  const replaced = new Set(all.flatMap(r => r.body.replaces.map(hex)))
  return idsOf(all.filter(r => !replaced.has(hex(r.id))))
}

/** The documented merge rule, step by step: known (already a head), stale (a head replaces it), else stored. */
function modelMerge (heads: VerifiedRecord[], record: VerifiedRecord): { status: MergeStatus, heads: VerifiedRecord[] } {
  if (heads.some(h => equals(h.id, record.id))) return { status: 'known', heads }
  if (heads.some(h => h.body.replaces.some(id => equals(id, record.id)))) return { status: 'stale', heads }
  const next = heads.filter(h => !record.body.replaces.some(id => equals(id, h.id)))
  next.push(record)
  return { status: 'stored', heads: next.sort(byRankDesc) }
}

/**
 * A random multi-writer history of one key: each writer writes on top of
 * the heads it knows (supersededBy, as a session does) and now and then
 * learns another writer's version. Kept below MAX_REPLACES versions so every
 * record's `replaces` lists its whole history.
 */
function history (random: () => number, count: number, writers = 3): Uint8Array[] {
  expect(count).toBeLessThanOrEqual(MAX_REPLACES)
  const views: VerifiedRecord[][] = Array.from({ length: writers }, () => [])
  const all: VerifiedRecord[] = []
  for (let i = 0; i < count; i++) {
    const w = randomInt(random, writers)
    while (all.length > 0 && random() < 0.5) views[w] = modelMerge(views[w], pick(random, all)).heads
    // Nearby clocks, so ties fall through to writer and id.
    const clock = at(NOW - 100 + i - randomInt(random, 3), randomInt(random, 2))
    const record = verified(seal({ clock, writer: `w${w}`, value: i, deleted: random() < 0.2, replaces: supersededBy(views[w]) }))
    all.push(record)
    views[w] = modelMerge(views[w], record).heads
  }
  return all.map(r => r.bytes)
}

/** The HeadSet stored for a key, as hex record encodings. */
async function storedHeads (storage: RecordStorage, keyId: Uint8Array, keys: RoomKeys = keysA): Promise<string[]> {
  const value = await storage.get(keys.roomIdText, b32(keyId))
  return value == null ? [] : HeadSet.decode(value).records.map(hex)
}

describe('supersededBy', () => {
  it('lists every head, then what the heads replace, without duplicates', () => {
    const v1 = verified(seal({ clock: at(NOW - 3) }))
    const v2 = verified(seal({ clock: at(NOW - 2), replaces: [v1.id] }))
    const c = verified(seal({ clock: at(NOW - 2), writer: 'other', replaces: [v1.id] }))
    expect(supersededBy([])).toEqual([])
    expect(supersededBy([v1]).map(hex)).toEqual(idsOf([v1]))
    expect(supersededBy([v2, c]).map(hex)).toEqual([v2, c, v1].map(r => hex(r.id)))
  })

  it(`is capped at MAX_REPLACES (${MAX_REPLACES}) ids, heads first`, () => {
    const old = Array.from({ length: MAX_REPLACES }, (_, i) => Uint8Array.from({ length: RECORD_ID_BYTES }, () => i + 1))
    const a = verified(seal({ clock: at(NOW - 2), replaces: old }))
    const b = verified(seal({ clock: at(NOW - 1), writer: 'other' }))
    const out = supersededBy([a, b])
    expect(out.length).toBe(MAX_REPLACES)
    expect(out.map(hex)).toEqual([a.id, b.id, ...old.slice(0, MAX_REPLACES - 2)].map(hex))
    // and the result is always sealable
    expect(() => seal({ replaces: out })).not.toThrow()
  })
})

describe('createRecordStore merge', () => {
  const greeting = keyIdFor(keysA, 'greeting')

  it('stored, then known for the same record, then stale for a version it replaces', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const v1 = seal({ clock: at(NOW - 10) })
    const v2 = seal({ clock: at(NOW - 5), replaces: [idOf(v1)] })

    const first = await store.merge(v2)
    expect(first.status).toBe('stored')
    expect(hex(first.winner.bytes)).toBe(hex(v2))
    expect(hex(first.record.bytes)).toBe(hex(v2))
    expect(idsOf(first.heads)).toEqual(idsOf([v2]))

    const again = await store.merge(Uint8Array.from(v2))
    expect(again.status).toBe('known')
    expect(hex(again.winner.bytes)).toBe(hex(v2))
    expect(idsOf(again.heads)).toEqual(idsOf([v2]))

    const old = await store.merge(v1)
    expect(old.status).toBe('stale')
    expect(hex(old.record.bytes)).toBe(hex(v1))
    expect(hex(old.winner.bytes)).toBe(hex(v2))
    expect(idsOf(old.heads)).toEqual(idsOf([v2]))

    expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(v2))
    expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([v2]))

    const v3 = seal({ clock: at(NOW - 5, 1), replaces: supersededBy(await store.heads(keysA.roomId, greeting)) })
    const newer = await store.merge(v3)
    expect(newer.status).toBe('stored')
    expect(idsOf(newer.heads)).toEqual(idsOf([v3]))
    expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(v3))
  })

  it('heads read back carry their ids, from storage that returns the values it was given and from storage that copies', async () => {
    const same = memoryRecordStorage()
    const copying: RecordStorage = {
      ...same,
      get: async (roomId, keyId) => { const v = await same.get(roomId, keyId); return v == null ? undefined : Uint8Array.from(v) },
      async * list (roomId) { for await (const v of same.list(roomId)) yield Uint8Array.from(v) }
    }
    for (const storage of [same, copying]) {
      const store = createRecordStore(storage, { now: () => NOW })
      const a = seal({ clock: at(NOW - 10), writer: 'writer-a' })
      const b = seal({ clock: at(NOW - 9), writer: 'writer-b' }) // concurrent: two heads
      const other = seal({ key: 'other', clock: at(NOW - 8) })
      await store.mergeMany([a, b, other])
      const check = async (): Promise<void> => {
        for (const record of await collect(store.list(keysA.roomId))) expect(hex(record.id)).toBe(hex(idOf(record.bytes)))
      }
      await check()
      await check() // a second read (ids kept from the first, or computed again)
      const c = seal({ clock: at(NOW - 5), replaces: supersededBy(await store.heads(keysA.roomId, greeting)) })
      await store.merge(c)
      await check()
      expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([c]))
    }
  })

  it('an older version that does not replace the winner is a conflict, not stale', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const newer = seal({ clock: at(NOW - 5), writer: 'a' })
    const older = seal({ clock: at(NOW - 10), writer: 'b', value: 'offline edit' })
    await store.merge(newer)
    const late = await store.merge(older)
    expect(late.status).toBe('stored')
    expect(hex(late.winner.bytes)).toBe(hex(newer))
    expect(idsOf(late.heads)).toEqual(idsOf([newer, older]))
    expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(newer))
    expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([newer, older]))
  })

  it('concurrent versions are all heads; the winner is the greatest, whatever the arrival order', { timeout: 60_000 }, async () => {
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
    const heads = idsOf(ranked(versions))
    // compareRecords agrees with the documented order
    expect(idsOf(versions.map(verified).sort((a, b) => compareRecords(b, a)))).toEqual(heads)
    for (let round = 0; round < 8; round++) {
      const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
      const order = shuffle(versions, random)
      for (const bytes of order) expect((await store.merge(bytes)).status).toBe('stored')
      expect(hex((await store.get(keysA.roomId, greeting))?.bytes ?? new Uint8Array())).toBe(hex(winner))
      expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(heads)
      expect(idsOf(await collect(store.list(keysA.roomId)))).toEqual(heads)
      expect((await collect(store.keys(keysA.roomId))).map(idsOf)).toEqual([heads])
    }
  })

  it('a write built with supersededBy(heads) resolves a conflict, on every replica', async () => {
    const here = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const there = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const a = seal({ clock: at(NOW - 3), writer: 'a', value: 'A' })
    const b = seal({ clock: at(NOW - 4), writer: 'b', value: 'B' })
    await here.merge(a)
    expect(idsOf((await here.merge(b)).heads)).toEqual(idsOf([a, b]))

    const resolved = seal({ clock: at(NOW - 1), writer: 'b', value: 'A+B', replaces: supersededBy(await here.heads(keysA.roomId, greeting)) })
    expect(verified(resolved).body.replaces.map(hex)).toEqual(idsOf([a, b]))
    const merged = await here.merge(resolved)
    expect(merged.status).toBe('stored')
    expect(idsOf(merged.heads)).toEqual(idsOf([resolved]))
    expect(idsOf(await here.heads(keysA.roomId, greeting))).toEqual(idsOf([resolved]))

    // A replica that gets the resolution first treats both sides as replaced.
    expect((await there.merge(resolved)).status).toBe('stored')
    expect((await there.merge(b)).status).toBe('stale')
    expect((await there.merge(a)).status).toBe('stale')
    expect(idsOf(await there.heads(keysA.roomId, greeting))).toEqual(idsOf([resolved]))

    // A deletion resolves a conflict the same way.
    const c1 = seal({ clock: at(NOW), writer: 'a', value: 1 })
    const c2 = seal({ clock: at(NOW), writer: 'b', value: 2, replaces: [idOf(resolved)] })
    await here.merge(c2)
    await here.merge(c1)
    expect(idsOf(await here.heads(keysA.roomId, greeting))).toEqual(idsOf([c2, c1]))
    const gone = seal({ clock: at(NOW, 1), writer: 'a', deleted: true, replaces: supersededBy(await here.heads(keysA.roomId, greeting)) })
    expect(idsOf((await here.merge(gone)).heads)).toEqual(idsOf([gone]))
    expect((await here.get(keysA.roomId, greeting))?.body.tombstone).toBe(true)
  })

  it('replacement is transitive: a replica that never saw v2 still treats v1 as replaced by v3', async () => {
    const v1 = seal({ clock: at(NOW - 3), value: 1 })
    const v2 = seal({ clock: at(NOW - 2), value: 2, replaces: supersededBy([verified(v1)]) })
    const v3 = seal({ clock: at(NOW - 1), value: 3, replaces: supersededBy([verified(v2)]) })
    // v3 lists v2 (the head it saw) and v1 (what v2 replaced)
    expect(verified(v3).body.replaces.map(hex)).toEqual(idsOf([v2, v1]))

    for (const order of [[v1, v3], [v3, v1]]) {
      const storage = memoryRecordStorage()
      const store = createRecordStore(storage, { now: () => NOW })
      const statuses: MergeStatus[] = []
      for (const bytes of order) statuses.push((await store.merge(bytes)).status)
      expect(statuses).toEqual(order[0] === v1 ? ['stored', 'stored'] : ['stored', 'stale'])
      expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([v3]))
      expect(await storedHeads(storage, greeting)).toEqual([hex(v3)])
      // v2 arriving last changes nothing
      expect((await store.merge(v2)).status).toBe('stale')
      expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([v3]))
    }

    // Without v2's replaces carried forward, v1 would survive as a conflict.
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const v3direct = seal({ clock: at(NOW - 1), value: 3, replaces: [idOf(v2)] })
    await store.merge(v3direct)
    expect((await store.merge(v1)).status).toBe('stored')
    expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([v3direct, v1]))
  })

  // `replaces` names at most MAX_REPLACES ids; past that, the per-writer
  // `seen` clocks of writeContext are what keep an old version replaced
  // when a replica that held it (offline during the edits) reconnects.
  it('a version replaced more than MAX_REPLACES edits ago stays replaced when a replica that held it reconnects', async () => {
    const online = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const offline = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const v0 = seal({ clock: at(NOW - 100), value: 0 })
    await online.merge(v0)
    await offline.merge(v0)
    let last = v0
    for (let i = 1; i <= MAX_REPLACES + 1; i++) {
      last = seal({ clock: at(NOW - 100 + i), value: i, ...writeContext(await online.heads(keysA.roomId, greeting)) })
      expect(idsOf((await online.merge(last)).heads)).toEqual(idsOf([last]))
    }
    // Reconnect: each side offers its heads (what the sync protocol does).
    expect((await online.merge(v0)).status).toBe('stale')
    await offline.merge(last)
    expect(idsOf(await online.heads(keysA.roomId, greeting))).toEqual(idsOf([last]))
    expect(idsOf(await offline.heads(keysA.roomId, greeting))).toEqual(idsOf([last]))
  })

  it(`a version replaced up to MAX_REPLACES edits ago stays replaced when a replica that held it reconnects`, async () => {
    const online = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const offline = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const v0 = seal({ clock: at(NOW - 100), value: 0 })
    await online.merge(v0)
    await offline.merge(v0)
    let last = v0
    for (let i = 1; i <= MAX_REPLACES; i++) {
      last = seal({ clock: at(NOW - 100 + i), value: i, replaces: supersededBy(await online.heads(keysA.roomId, greeting)) })
      await online.merge(last)
    }
    expect((await online.merge(v0)).status).toBe('stale')
    expect((await offline.merge(last)).status).toBe('stored')
    expect(idsOf(await online.heads(keysA.roomId, greeting))).toEqual(idsOf([last]))
    expect(idsOf(await offline.heads(keysA.roomId, greeting))).toEqual(idsOf([last]))
  })

  it('keeps heads per key, and rooms apart', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const a1 = seal({ key: 'a', value: 1 })
    const b1 = seal({ key: 'b', value: 2 })
    const a2 = seal({ key: 'a', value: 3, clock: at(NOW, 1), replaces: [idOf(a1)] })
    const b2 = seal({ key: 'b', value: 4, clock: at(NOW - 1), writer: 'writer-2' })
    const other = seal({ key: 'a', value: 5 }, keysB)
    for (const bytes of [a1, b1, a2, b2, other]) await store.merge(bytes)
    const inA = await collect(store.list(keysA.roomId))
    const inB = await collect(store.list(keysB.roomId))
    expect(idsOf(inA).sort()).toEqual(idsOf([a2, b1, b2]).sort())
    expect(inA.map(r => b32(r.body.keyId)).sort()).toEqual([b32(keyIdFor(keysA, 'a')), b32(keyIdFor(keysA, 'b')), b32(keyIdFor(keysA, 'b'))].sort())
    expect(inB.map(r => b32(r.body.keyId))).toEqual([b32(keyIdFor(keysB, 'a'))])
    // keys(): one group per key, winner first
    const groups = (await collect(store.keys(keysA.roomId))).map(idsOf).sort((x, y) => x.length - y.length)
    expect(groups).toEqual([idsOf([a2]), idsOf([b1, b2])])
    expect((await store.get(keysA.roomId, keyIdFor(keysA, 'a')))?.clock).toEqual(at(NOW, 1))
    expect(await store.get(keysA.roomId, keyIdFor(keysA, 'missing'))).toBeUndefined()
    expect(await store.heads(keysA.roomId, keyIdFor(keysA, 'missing'))).toEqual([])
    expect(await store.get(keysB.roomId, keyIdFor(keysA, 'a'))).toBeUndefined()
    expect(await store.heads(keysB.roomId, keyIdFor(keysA, 'a'))).toEqual([])
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
    expect(idsOf(await store.heads(keysA.roomId, greeting))).toEqual(idsOf([good]))
    expect((await collect(store.list(keysA.roomId))).length).toBe(1)
    expect(await collect(store.list(keysB.roomId))).toEqual([])
  })

  it('calls listeners for every new head, with the heads after it, until unsubscribed', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const heard: Array<[string, string[]]> = []
    const heardToo: Array<[string, string[]]> = []
    const stop = store.onRecord((r, heads) => heard.push([hex(r.id), idsOf(heads)]))
    store.onRecord((r, heads) => heardToo.push([hex(r.id), idsOf(heads)]))
    const v1 = seal({ clock: at(NOW - 10) })
    const v2 = seal({ clock: at(NOW - 5), replaces: [idOf(v1)] })
    const conflict = seal({ clock: at(NOW - 7), writer: 'writer-2' })
    await store.merge(v2) // stored
    await store.merge(v2) // known
    await store.merge(v1) // stale
    expect(heard).toEqual([[hex(idOf(v2)), idsOf([v2])]])
    await store.merge(conflict) // stored as a conflict: losers are heard too
    expect(heard).toEqual([[hex(idOf(v2)), idsOf([v2])], [hex(idOf(conflict)), idsOf([v2, conflict])]])
    stop()
    const v3 = seal({ clock: at(NOW - 1), replaces: supersededBy(await store.heads(keysA.roomId, greeting)) })
    await store.merge(v3) // stored, but the first listener is gone
    expect(heard.length).toBe(2)
    expect(heardToo).toEqual([...heard, [hex(idOf(v3)), idsOf([v3])]])
  })

  it('lists a digest of (key id, 8-byte record id prefix) per live head', async () => {
    const clock = manualNow()
    const store = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const records = new Map<string, VerifiedRecord>()
    for (const key of ['a', 'b', 'c']) {
      const result = await store.merge(seal({ key, value: key }))
      records.set(hex(result.record.id.subarray(0, DIGEST_ID_BYTES)), result.record)
    }
    const conflict = await store.merge(seal({ key: 'c', value: 'c2', writer: 'writer-2' }))
    records.set(hex(conflict.record.id.subarray(0, DIGEST_ID_BYTES)), conflict.record)
    await store.merge(seal({ key: 'temp', expiresAt: NOW + 1000 }))
    await store.merge(seal({ key: 'a' }, keysB))

    const digest = await store.digest(keysA.roomId)
    expect(digest.length).toBe(5)
    clock.set(NOW + 1000) // 'temp' expires
    const later = await store.digest(keysA.roomId)
    expect(later.length).toBe(4)
    for (const entry of later) {
      const record = records.get(hex(entry.recordId))
      expect(record).toBeDefined()
      expect(entry.recordId.length).toBe(DIGEST_ID_BYTES)
      expect(b32(entry.keyId)).toBe(b32(record!.body.keyId))
    }
    expect(new Set(later.map(e => hex(e.recordId))).size).toBe(4)
    expect(new Set(later.map(e => b32(e.keyId))).size).toBe(3)
    expect(later.filter(e => b32(e.keyId) === b32(keyIdFor(keysA, 'c'))).length).toBe(2)
    expect((await store.digest(keysB.roomId)).map(e => b32(e.keyId))).toEqual([b32(keyIdFor(keysB, 'a'))])
    expect(await store.digest(deriveRoomKeys(new Uint8Array(32)).roomId)).toEqual([])
  })

  it('hides expired records from get, heads, list and digest', async () => {
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
    expect(await store.heads(keysA.roomId, keyId)).toEqual([])
    expect(await collect(store.list(keysA.roomId))).toEqual([])
    expect(await collect(store.keys(keysA.roomId))).toEqual([])
    expect(await store.digest(keysA.roomId)).toEqual([])
    // and an already expired record is refused outright
    expect(await codeOf(store.merge(seal({ clock: at(NOW, 5), expiresAt: NOW + 500 })))).toBe('ERR_RECORD_EXPIRED')
  })

  it('an expired head drops out of a conflict; the live one stays', async () => {
    const clock = manualNow()
    const storage = memoryRecordStorage()
    const store = createRecordStore(storage, { now: clock.now })
    const keyId = keyIdFor(keysA, 'greeting')
    const expiring = seal({ clock: at(NOW), writer: 'b', expiresAt: NOW + 1000 })
    const lasting = seal({ clock: at(NOW - 1), writer: 'a' })
    await store.merge(expiring)
    await store.merge(lasting)
    expect(idsOf(await store.heads(keysA.roomId, keyId))).toEqual(idsOf([expiring, lasting]))
    clock.set(NOW + 1000)
    expect(idsOf(await store.heads(keysA.roomId, keyId))).toEqual(idsOf([lasting]))
    expect(hex((await store.get(keysA.roomId, keyId))?.bytes ?? new Uint8Array())).toBe(hex(lasting))
    expect((await collect(store.keys(keysA.roomId))).map(idsOf)).toEqual([idsOf([lasting])])
    expect((await store.digest(keysA.roomId)).length).toBe(1)
    // reads hide it; the next merge drops it from storage
    expect((await storedHeads(storage, keyId)).length).toBe(2)
    expect((await store.merge(lasting)).status).toBe('known')
    const next = seal({ clock: at(NOW + 1000), writer: 'c' })
    expect(idsOf((await store.merge(next)).heads)).toEqual(idsOf([next, lasting]))
    expect(await storedHeads(storage, keyId)).toEqual([hex(next), hex(lasting)])
  })

  it('a newer live version replaces an expired one', async () => {
    const clock = manualNow()
    const storage = memoryRecordStorage()
    const store = createRecordStore(storage, { now: clock.now })
    const keyId = keyIdFor(keysA, 'greeting')
    await store.merge(seal({ expiresAt: NOW + 1000 }))
    clock.set(NOW + 2000)
    const fresh = seal({ clock: at(NOW + 2000) })
    expect((await store.merge(fresh)).status).toBe('stored')
    expect(hex((await store.get(keysA.roomId, keyId))?.bytes ?? new Uint8Array())).toBe(hex(fresh))
    expect(idsOf(await store.heads(keysA.roomId, keyId))).toEqual(idsOf([fresh]))
    expect(await storedHeads(storage, keyId)).toEqual([hex(fresh)])
  })

  // Regression guard (shared/record-store.ts, merge): an expired head must not
  // count. A replica that never saw the expiring version can no longer accept
  // it (verifyRecord: ERR_RECORD_EXPIRED), so if the replica that saw it kept
  // treating it as a head (and its `replaces` as authoritative), the two would
  // disagree forever. merge and reads filter expired heads first.
  it('replicas converge after a winner expires (an expired head does not block a live older version)', async () => {
    const clock = manualNow()
    const a = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const b = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const keyId = keyIdFor(keysA, 'greeting')
    const v90 = seal({ clock: at(NOW - 10), value: 90 })
    const v100 = seal({ clock: at(NOW), value: 100, expiresAt: NOW + 10, replaces: [idOf(v90)] })
    await a.merge(v100)
    await b.merge(v90)
    clock.set(NOW + 20)
    // Full exchange: each replica offers the other everything it holds.
    expect(await codeOf(b.merge(v100))).toBe('ERR_RECORD_EXPIRED')
    expect((await a.merge(v90)).status).toBe('stored')
    const fromA = await a.heads(keysA.roomId, keyId)
    const fromB = await b.heads(keysA.roomId, keyId)
    expect(idsOf(fromA)).toEqual(idsOf([v90]))
    expect(idsOf(fromB)).toEqual(idsOf([v90]))
  })

  it('ignores unreadable bytes in storage: hidden, and replaced by the next merge', async () => {
    const storage = memoryRecordStorage()
    const store = createRecordStore(storage, { now: () => NOW })
    const keyId = keyIdFor(keysA, 'greeting')
    await storage.put(keysA.roomIdText, b32(keyId), new Uint8Array([1, 2, 3]))
    expect(await store.get(keysA.roomId, keyId)).toBeUndefined()
    expect(await store.heads(keysA.roomId, keyId)).toEqual([])
    expect(await collect(store.list(keysA.roomId))).toEqual([])
    expect(await store.digest(keysA.roomId)).toEqual([])
    const old = seal({ clock: at(1) })
    expect((await store.merge(old)).status).toBe('stored')
    expect(hex((await storage.get(keysA.roomIdText, b32(keyId))) ?? new Uint8Array()))
      .toBe(hex(HeadSet.encode({ records: [old] })))

    // A readable HeadSet with unreadable entries: the readable heads are kept, the rest dropped on the next merge.
    const truncated = seal({ clock: at(NOW), writer: 'z' })
    await storage.put(keysA.roomIdText, b32(keyId), HeadSet.encode({ records: [new Uint8Array([9, 9, 9]), truncated.subarray(0, truncated.length - 1), old] }))
    expect(idsOf(await store.heads(keysA.roomId, keyId))).toEqual(idsOf([old]))
    expect(idsOf(await collect(store.list(keysA.roomId)))).toEqual(idsOf([old]))
    const next = seal({ clock: at(2), writer: 'other' })
    expect(idsOf((await store.merge(next)).heads)).toEqual(idsOf([next, old]))
    expect(await storedHeads(storage, keyId)).toEqual([hex(next), hex(old)])
  })

  it('stores an encoded HeadSet (winner first) under base32 room id and key id text', async () => {
    const storage = memoryRecordStorage()
    const store = createRecordStore(storage, { now: () => NOW })
    const keyId = keyIdFor(keysA, 'greeting')
    const bytes = seal()
    await store.merge(bytes)
    expect(hex((await storage.get(keysA.roomIdText, b32(keyId))) ?? new Uint8Array()))
      .toBe(hex(HeadSet.encode({ records: [bytes] })))
    const loser = seal({ clock: at(NOW - 1), writer: 'writer-2' })
    const winner = seal({ clock: at(NOW, 1), writer: 'writer-3' })
    await store.merge(loser)
    await store.merge(winner)
    expect(await storedHeads(storage, keyId)).toEqual([hex(winner), hex(bytes), hex(loser)])
    const resolved = seal({ clock: at(NOW, 2), replaces: supersededBy(await store.heads(keysA.roomId, keyId)) })
    await store.merge(resolved)
    expect(await storedHeads(storage, keyId)).toEqual([hex(resolved)])
  })

  it('merging a history in any order, one by one or all at once, ends with the same heads', { timeout: 60_000 }, async () => {
    const random = prng(0xc0ffee)
    const distinct = history(random, MAX_REPLACES)
    // A few versions written without seeing anything (offline writers), and duplicates.
    distinct.push(seal({ clock: at(NOW - 50), writer: 'w9', value: 'offline' }), seal({ clock: at(NOW - 200), writer: 'w8', value: 'old offline' }))
    const all = [...distinct, ...Array.from({ length: 6 }, () => pick(random, distinct))]
    const expected = expectedHeads(distinct)
    expect(expected.length).toBeGreaterThan(1) // the history does hold a conflict
    expect(expected.length).toBeLessThan(distinct.length) // and replaced versions

    for (let round = 0; round < 5; round++) {
      const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
      for (const bytes of shuffle(all, random)) await store.merge(bytes)
      expect(idsOf(await store.heads(keysA.roomId, greeting)), `sequential round ${round}`).toEqual(expected)
    }

    for (let round = 0; round < 3; round++) {
      const storage = instrumented()
      storage.pause = microPauses(random)
      const store = createRecordStore(storage, { now: () => NOW })
      const heard: string[] = []
      store.onRecord((r, heads) => {
        heard.push(hex(r.id))
        expect(idsOf(heads)).toContain(hex(r.id))
      })
      const order = shuffle(all, random)
      const results: MergeResult[] = await Promise.all(order.map(async bytes => store.merge(bytes)))

      expect(idsOf(await store.heads(keysA.roomId, greeting)), `concurrent round ${round}`).toEqual(expected)
      expect(hex((await store.get(keysA.roomId, greeting))?.id ?? new Uint8Array())).toBe(expected[0])
      // Merges of one key are serialized in call order, so every status is predictable.
      let heads: VerifiedRecord[] = []
      const expectedHeard: string[] = []
      order.forEach((bytes, i) => {
        const step = modelMerge(heads, verified(bytes))
        heads = step.heads
        if (step.status === 'stored') expectedHeard.push(hex(idOf(bytes)))
        expect(results[i].status, `merge ${i}`).toBe(step.status)
        expect(idsOf(results[i].heads), `merge ${i}`).toEqual(idsOf(heads))
        expect(hex(results[i].winner.id), `merge ${i}`).toBe(hex(heads[0].id))
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
    // Storage slow enough that writes of different keys overlap whatever
    // order the (asynchronous) signature checks finish in.
    storage.pause = async () => { await new Promise(resolve => setTimeout(resolve, 1 + Math.floor(random() * 5))) }
    const store = createRecordStore(storage, { now: () => NOW })
    const records = Array.from({ length: 30 }, (_, i) => seal({ key: `k${i % 10}`, clock: at(NOW - 30 + i), value: i }))
    await Promise.all(shuffle(records, random).map(async bytes => store.merge(bytes)))
    for (let k = 0; k < 10; k++) {
      const keyId = keyIdFor(keysA, `k${k}`)
      const record = await store.get(keysA.roomId, keyId)
      expect(record?.clock).toEqual(at(NOW - 30 + 20 + k))
      // written without replaces: all three versions are concurrent heads
      expect((await store.heads(keysA.roomId, keyId)).map(h => h.clock)).toEqual([at(NOW - 10 + k), at(NOW - 20 + k), at(NOW - 30 + k)])
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
    expect(idsOf(await store.heads(keysA.roomId, keyIdFor(keysA, 'greeting')))).toEqual(idsOf([v2]))
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

describe('createRecordStore prune', () => {
  it('drops expired heads from storage, and keys left with none', async () => {
    const clock = manualNow()
    const inner = memoryRecordStorage()
    const roomsSeen = new Set<string>()
    const storage: RecordStorage = {
      ...inner,
      put: async (roomId, keyId, value) => { roomsSeen.add(roomId); await inner.put(roomId, keyId, value) },
      write: async (ops) => { for (const op of ops) roomsSeen.add(op.roomId); return inner.write!(ops) },
      async * rooms () { yield * roomsSeen }
    }
    const store = createRecordStore(storage, { now: clock.now })
    const mixed = keyIdFor(keysA, 'mixed')
    const gone = keyIdFor(keysA, 'gone')
    const lasting = seal({ key: 'mixed', writer: 'a' })
    await store.merge(seal({ key: 'mixed', writer: 'b', expiresAt: NOW + 10 }))
    await store.merge(lasting)
    await store.merge(seal({ key: 'gone', expiresAt: NOW + 10 }))
    expect(await store.prune()).toBe(0)
    clock.set(NOW + 10)
    expect(await store.prune()).toBe(2)
    expect(await storedHeads(storage, mixed)).toEqual([hex(lasting)])
    expect(await storage.get(keysA.roomIdText, b32(gone))).toBeUndefined()
    expect(await store.prune()).toBe(0)
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

describe('createRecordStore batches', () => {
  /** Storage that counts batch reads and writes (one transaction each). */
  function batched (): RecordStorage & { reads: number, writes: number, refuse?: (keyId: string) => Error | undefined } {
    const inner = memoryRecordStorage()
    const storage = {
      reads: 0,
      writes: 0,
      refuse: undefined as undefined | ((keyId: string) => Error | undefined),
      get: inner.get,
      put: inner.put,
      delete: inner.delete,
      list: inner.list,
      close: inner.close,
      async getMany (roomId: string, keyIds: string[]) {
        storage.reads++
        return Promise.all(keyIds.map(async k => inner.get(roomId, k)))
      },
      async write (ops: Array<{ roomId: string, keyId: string, value?: Uint8Array }>) {
        storage.writes++
        return Promise.all(ops.map(async (op) => {
          const refused = storage.refuse?.(op.keyId)
          if (refused != null) return { ok: false as const, error: refused }
          if (op.value == null) await inner.delete(op.roomId, op.keyId)
          else await inner.put(op.roomId, op.keyId, op.value)
          return { ok: true as const }
        }))
      }
    }
    return storage
  }

  it('merges of one tick are read and written in one storage transaction', async () => {
    const storage = batched()
    const store = createRecordStore(storage, { now: () => NOW })
    const records = Array.from({ length: 100 }, (_, i) => seal({ key: `k${i}`, value: i }))
    const results = await Promise.all(records.map(async r => store.merge(r)))
    expect(results.every(r => r.status === 'stored')).toBe(true)
    expect(storage.writes).toBe(1)
    expect(storage.reads).toBe(1)
    const again = await store.mergeMany(records)
    expect(again.every(r => !(r instanceof Error) && r.status === 'known')).toBe(true)
    expect(storage.writes).toBe(1) // nothing new: nothing written
  })

  it('computes the next batch while one commits; callers and listeners hear of each batch once durable, in order', async () => {
    // Applies each batch at once (reads after write() see it, as IndexedDB
    // orders transactions) but commits only when released.
    const inner = memoryRecordStorage()
    const commits: Array<() => void> = []
    let durable = 0
    const storage: RecordStorage = {
      ...inner,
      getMany: inner.getMany,
      async write (ops) {
        const results = await inner.write!(ops)
        await new Promise<void>(resolve => commits.push(() => { durable += ops.length; resolve() }))
        return results
      }
    }
    const store = createRecordStore(storage, { now: () => NOW, maxBatch: 4 })
    const heard: number[] = []
    store.onRecord(() => heard.push(durable))
    // Two versions of each key: the second must see the first as a head.
    const first = Array.from({ length: 8 }, (_, i) => seal({ key: `k${i}`, clock: at(NOW - 10), value: i }))
    const merging = store.mergeMany(first)
    while (commits.length < 2) await new Promise(resolve => setTimeout(resolve, 1))
    // Batch 2 was written before batch 1 committed, and nobody heard of either yet.
    expect(heard).toEqual([])
    commits.shift()!()
    // Batch 1 only: batch 2's commit is still held, so nothing more can be heard.
    while (heard.length < 4) await new Promise(resolve => setTimeout(resolve, 1))
    expect(heard).toEqual([4, 4, 4, 4])
    commits.shift()!()
    const results = await merging
    expect(results.every(r => !(r instanceof Error) && r.status === 'stored')).toBe(true)
    // Every listener call came after its batch was durable.
    expect(heard).toEqual([4, 4, 4, 4, 8, 8, 8, 8])
    const ids = results.map(r => (r as { record: VerifiedRecord }).record.id)
    const second = ids.map((id, i) => seal({ key: `k${i}`, clock: at(NOW - 5), value: i + 100, replaces: [id] }))
    const merging2 = store.mergeMany(second)
    while (commits.length < 2) await new Promise(resolve => setTimeout(resolve, 1))
    commits.shift()!()
    commits.shift()!()
    for (const r of await merging2) expect(!(r instanceof Error) && r.heads.length).toBe(1)
  })

  it('a refused write rejects only its record, with the storage error', async () => {
    const storage = batched()
    storage.refuse = (keyId) => keyId === b32(keyIdFor(keysA, 'k3')) ? Object.assign(new Error('room full'), { code: 'ERR_ROOM_FULL' }) : undefined
    const store = createRecordStore(storage, { now: () => NOW })
    const heard: string[] = []
    store.onRecord(r => heard.push(hex(r.id)))
    const records = Array.from({ length: 5 }, (_, i) => seal({ key: `k${i}`, value: i }))
    const results = await store.mergeMany(records)
    expect(results.map(r => r instanceof Error ? (r as any).code : r.status)).toEqual(['stored', 'stored', 'stored', 'ERR_ROOM_FULL', 'stored'])
    expect(heard).toHaveLength(4)
    expect(await store.get(keysA.roomId, keyIdFor(keysA, 'k3'))).toBeUndefined()
  })

  it('a known record is answered without a signature check (a forged copy of a held id stays known, nothing changes)', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const good = seal()
    await store.merge(good)
    // Same bytes, again: known. A bit flip elsewhere makes another id: checked, rejected.
    expect((await store.merge(good)).status).toBe('known')
    const forged = good.slice()
    forged[forged.length - 1] ^= 1 // signature byte: same body, same id
    expect((await store.merge(forged)).status).toBe('known')
    expect(hex((await store.get(keysA.roomId, keyIdFor(keysA, 'greeting')))!.bytes)).toBe(hex(good))
  })

  it(`keeps at most MAX_HEADS concurrent versions of a key, the greatest, in any arrival order`, async () => {
    const random = prng(11)
    const records = Array.from({ length: 20 }, (_, i) => seal({ clock: at(NOW - 100 + i), writer: `w${i}`, value: i }))
    const expected = idsOf(ranked(records).slice(0, 8))
    for (let run = 0; run < 3; run++) {
      const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
      for (const r of shuffle(records, random)) await store.merge(r)
      expect(idsOf(await store.heads(keysA.roomId, keyIdFor(keysA, 'greeting')))).toEqual(expected)
    }
  })
})

describe('createRecordStore writeOwn', () => {
  it('seals local writes inside the batch: a burst is one write; writes of one key see each other in call order', async () => {
    let writes = 0
    const inner = memoryRecordStorage()
    const storage: RecordStorage = {
      ...inner,
      async write (ops) {
        writes++
        for (const op of ops) await inner.put(op.roomId, op.keyId, op.value as Uint8Array)
        return ops.map(() => ({ ok: true as const }))
      }
    }
    const store = createRecordStore(storage, { now: () => NOW })
    const write = async (key: string, value: unknown, tick: number): Promise<MergeResult> =>
      store.writeOwn(keysA.roomId, keyIdFor(keysA, key), async (heads) =>
        sealRecordAsync(keysA, { key, value, clock: at(NOW - 100 + tick), writer: 'w', ...writeContext(heads) }))
    const results = await Promise.all(Array.from({ length: 100 }, async (_, i) => write(`k${i}`, i, i)))
    expect(results.every(r => r.status === 'stored')).toBe(true)
    expect(writes).toBe(1)
    // Three writes of one key in one tick: each replaces the one before, no self-conflict.
    const chain = await Promise.all([write('same', 1, 1), write('same', 2, 2), write('same', 3, 3)])
    expect(chain.map(r => r.status)).toEqual(['stored', 'stored', 'stored'])
    const heads = await store.heads(keysA.roomId, keyIdFor(keysA, 'same'))
    expect(heads).toHaveLength(1)
    expect(hex(heads[0].id)).toBe(hex(chain[2].record.id))
    // A build that fails rejects its write only.
    await expect(store.writeOwn(keysA.roomId, keyIdFor(keysA, 'bad'), async () => { throw new Error('nope') })).rejects.toThrow('nope')
  })
})

describe('createRecordStore mergeMany with parsed records', () => {
  it('takes records already parsed by readStoredRecord and still verifies them in full', async () => {
    const store = createRecordStore(memoryRecordStorage(), { now: () => NOW })
    const good = seal({ key: 'p1' })
    const forged = seal({ key: 'p2' })
    forged[forged.length - 1] ^= 1 // inside the signature
    const results = await store.mergeMany([readStoredRecord(good), readStoredRecord(forged)], { roomId: keysA.roomId })
    expect(results.map(r => r instanceof Error ? (r as any).code : r.status)).toEqual(['stored', 'ERR_BAD_SIGNATURE'])
    const wrong = await store.mergeMany([readStoredRecord(seal({ key: 'p3' }, keysB))], { roomId: keysA.roomId })
    expect((wrong[0] as any).code).toBe('ERR_WRONG_ROOM')
  })
})


describe('sync index (syncItems, storedHeads)', () => {
  const itemIds = (items: { count: number, ids: Uint8Array }): string[] =>
    Array.from({ length: items.count }, (_, i) => hex(items.ids.subarray(i * 16, i * 16 + 16)))

  it('holds one item per live head, sorted by key id then record id, and follows merges, replacements and expiry', async () => {
    const clock = manualNow()
    const store = createRecordStore(memoryRecordStorage(), { now: clock.now })
    const a = seal({ key: 'a' })
    const b1 = seal({ key: 'b', writer: 'w1' })
    const b2 = seal({ key: 'b', writer: 'w2', clock: at(NOW, 1) })
    const expiring = seal({ key: 'c', expiresAt: NOW + 1000 })
    await store.mergeMany([a, b1, b2, expiring])
    const expected = (records: Uint8Array[]): string[] => records.map(verified)
      .sort((x, y) => compare(x.body.keyId, y.body.keyId) || compare(x.id, y.id)).map(r => hex(r.id))
    expect(itemIds(await store.syncItems(keysA.roomId))).toEqual(expected([a, b1, b2, expiring]))
    // A write that replaces both heads of b: one item left for b.
    const b3 = seal({ key: 'b', writer: 'w1', clock: at(NOW, 2), replaces: [idOf(b1), idOf(b2)] })
    await store.merge(b3)
    expect(itemIds(await store.syncItems(keysA.roomId))).toEqual(expected([a, b3, expiring]))
    clock.set(NOW + 1000)
    expect(itemIds(await store.syncItems(keysA.roomId))).toEqual(expected([a, b3]))
    // Another room's index is its own.
    expect((await store.syncItems(keysB.roomId)).count).toBe(0)
    await store.merge(seal({ key: 'a' }, keysB))
    expect((await store.syncItems(keysB.roomId)).count).toBe(1)
    expect(itemIds(await store.syncItems(keysA.roomId))).toEqual(expected([a, b3]))
  })

  it('is built from storage once, on the first sync of a room, and is dropped past maxIndexedItems', async () => {
    const storage = memoryRecordStorage()
    const first = createRecordStore(storage)
    await first.mergeMany(Array.from({ length: 20 }, (_, i) => seal({ key: `k${i}` })))
    // A second store over the same storage (a restart) reads the room.
    let lists = 0
    const counted: RecordStorage = { ...storage, list: (roomId) => { lists++; return storage.list(roomId) } }
    const store = createRecordStore(counted, { maxIndexedItems: 25 })
    expect((await store.syncItems(keysA.roomId)).count).toBe(20)
    expect((await store.syncItems(keysA.roomId)).count).toBe(20)
    expect(lists).toBe(1)
    // A second room of 10 items passes the cap of 25: the least recently synced room is dropped.
    await store.mergeMany(Array.from({ length: 10 }, (_, i) => seal({ key: `k${i}` }, keysB)))
    expect((await store.syncItems(keysB.roomId)).count).toBe(10)
    expect((await store.syncItems(keysA.roomId)).count).toBe(20)
    expect(lists).toBe(3)
  })

  it('storedHeads returns the encoded heads of many keys in the order asked, unknown keys empty', async () => {
    const store = createRecordStore(memoryRecordStorage())
    const x1 = seal({ key: 'x', writer: 'w1' })
    const x2 = seal({ key: 'x', writer: 'w2' })
    const y = seal({ key: 'y' })
    await store.mergeMany([x1, x2, y])
    const heads = await store.storedHeads(keysA.roomId, [keyIdFor(keysA, 'y'), keyIdFor(keysA, 'nothing'), keyIdFor(keysA, 'x')])
    expect(heads.map(h => h.map(hex).sort())).toEqual([[hex(y)], [], [hex(x1), hex(x2)].sort()])
  })
})
