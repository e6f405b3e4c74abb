import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { describe, expect, it } from 'vitest'
import { toString } from 'uint8arrays'
import { dhtDatastore } from './dht-datastore.ts'
import { dhtKeyFor } from './dht-key.ts'
import { rejectionCode } from './test-support.ts'
import { createRecordStore, memoryRecordStorage, supersededBy, type RecordStore } from './record-store.ts'
import { verifyRecord, type SealInit, type VerifiedRecord } from './record.ts'
import { sealRecord } from './record-js.ts'
import { deriveRoomKeys, keyIdFor, type RoomKeys } from './room-keys.ts'

const NOW = 1_767_225_600_000
const keysA = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const keysB = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))

const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

const verified = (bytes: Uint8Array): VerifiedRecord => verifyRecord(bytes, { now: NOW, allowExpired: true })

function seal (init: Partial<SealInit> = {}, keys: RoomKeys = keysA): Uint8Array {
  return sealRecord(keys, { key: 'greeting', value: 'hello', clock: { wall: NOW, counter: 0 }, writer: 'writer-1', ...init })
}

/** The datastore key kad-dht uses for a DHT record key (bufferToRecordKey). */
function recordKey (dhtKey: Uint8Array, prefix = '/dht/record'): Key {
  return new Key(`${prefix}/${toString(dhtKey, 'base32')}`, false)
}

/** What kad-dht's PUT_VALUE handler writes: a serialized Libp2pRecord. */
function kadRecord (dhtKey: Uint8Array, value: Uint8Array): Uint8Array {
  return new Libp2pRecord(dhtKey, value, new Date()).serialize()
}

interface Setup {
  inner: MemoryDatastore
  records: RecordStore
  clock: { t: number }
  ds: ReturnType<typeof dhtDatastore>
}

function setup (prefix?: string): Setup {
  const inner = new MemoryDatastore()
  const clock = { t: NOW }
  const records = createRecordStore(memoryRecordStorage(), { now: () => clock.t })
  return { inner, records, clock, ds: dhtDatastore(inner, records, prefix == null ? {} : { recordPrefix: prefix }) }
}

const codeOf = async (promise: unknown): Promise<string> => await rejectionCode(Promise.resolve(promise))

async function errorName (promise: unknown): Promise<string> {
  try {
    await promise
  } catch (err) {
    return (err as Error).name
  }
  return 'NO_ERROR'
}

async function collect<T> (source: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

describe('dhtDatastore', () => {
  const keyId = keyIdFor(keysA, 'greeting')
  const dhtKey = dhtKeyFor(keysA.roomId, keyId)
  const dsKey = recordKey(dhtKey)
  const older = seal({ clock: { wall: NOW - 10, counter: 0 }, value: 'older' })
  // written on top of `older`, as a session does: it replaces it
  const newer = seal({ clock: { wall: NOW - 5, counter: 0 }, value: 'newer', replaces: supersededBy([verified(older)]) })

  it('serves a put record back as a Libp2pRecord for the same DHT key', async () => {
    const { ds } = setup()
    expect((await ds.put(dsKey, kadRecord(dhtKey, older))).toString()).toBe(dsKey.toString())
    const got = Libp2pRecord.deserialize(await ds.get(dsKey))
    expect(hex(got.key)).toBe(hex(dhtKey))
    expect(hex(got.value)).toBe(hex(older))
    expect(got.timeReceived).toBeInstanceOf(Date)
    expect(await ds.has(dsKey)).toBe(true)
  })

  it('a late put of an older version keeps the newer one', async () => {
    const { ds, records } = setup()
    await ds.put(dsKey, kadRecord(dhtKey, newer))
    await ds.put(dsKey, kadRecord(dhtKey, older)) // kad-dht would overwrite here
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newer))
    expect(hex((await records.get(keysA.roomId, keyId))?.bytes ?? new Uint8Array())).toBe(hex(newer))
    expect((await records.heads(keysA.roomId, keyId)).map(r => hex(r.bytes))).toEqual([hex(newer)])
    // and a newer one does replace an older one
    const newest = seal({ clock: { wall: NOW - 1, counter: 0 }, value: 'newest', replaces: supersededBy(await records.heads(keysA.roomId, keyId)) })
    await ds.put(dsKey, kadRecord(dhtKey, newest))
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newest))
    expect((await records.heads(keysA.roomId, keyId)).map(r => hex(r.bytes))).toEqual([hex(newest)])
  })

  it('concurrent versions put through the DHT are all kept; GET serves the winner', async () => {
    const { ds, records } = setup()
    const mine = seal({ clock: { wall: NOW - 3, counter: 0 }, writer: 'writer-1', value: 'mine' })
    const theirs = seal({ clock: { wall: NOW - 3, counter: 1 }, writer: 'writer-2', value: 'theirs' })
    await ds.put(dsKey, kadRecord(dhtKey, theirs))
    await ds.put(dsKey, kadRecord(dhtKey, mine)) // did not see `theirs`: a conflict, not stale
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(theirs))
    expect((await records.heads(keysA.roomId, keyId)).map(r => hex(r.bytes))).toEqual([hex(theirs), hex(mine)])
    const resolved = seal({ clock: { wall: NOW - 2, counter: 0 }, value: 'resolved', replaces: supersededBy(await records.heads(keysA.roomId, keyId)) })
    await ds.put(dsKey, kadRecord(dhtKey, resolved))
    await ds.put(dsKey, kadRecord(dhtKey, mine)) // a late copy stays replaced
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(resolved))
    expect((await records.heads(keysA.roomId, keyId)).map(r => hex(r.bytes))).toEqual([hex(resolved)])
  })

  it('goes through the record store both ways (sync and DHT serve the same bytes)', async () => {
    const { ds, records } = setup()
    const heard: Array<[string, string[]]> = []
    records.onRecord((r, heads) => heard.push([hex(r.bytes), heads.map(h => hex(h.bytes))]))
    await records.merge(newer)
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newer))
    await ds.put(dsKey, kadRecord(dhtKey, older)) // replaced by `newer`: stale, nobody told
    expect(heard).toEqual([[hex(newer), [hex(newer)]]])
    const concurrent = seal({ clock: { wall: NOW - 7, counter: 0 }, writer: 'writer-2', value: 'concurrent' })
    await ds.put(dsKey, kadRecord(dhtKey, concurrent)) // a conflict: listeners hear it with both heads
    expect(heard).toEqual([[hex(newer), [hex(newer)]], [hex(concurrent), [hex(newer), hex(concurrent)]]])
  })

  it('refuses a record put under another DHT key, storing nothing', async () => {
    const { ds, records, inner } = setup()
    const otherKey = dhtKeyFor(keysA.roomId, keyIdFor(keysA, 'other'))
    expect(await codeOf(ds.put(recordKey(otherKey), kadRecord(otherKey, newer)))).toBe('ERR_WRONG_ROOM')
    const otherRoomKey = dhtKeyFor(keysB.roomId, keyIdFor(keysB, 'greeting'))
    expect(await codeOf(ds.put(recordKey(otherRoomKey), kadRecord(otherRoomKey, newer)))).toBe('ERR_WRONG_ROOM')
    expect(await ds.has(recordKey(otherKey))).toBe(false)
    expect(await collect(records.list(keysA.roomId))).toEqual([])
    expect(await collect(inner.queryKeys({}))).toEqual([])
  })

  it('refuses invalid records with their typed error', async () => {
    const { ds } = setup()
    const damaged = Uint8Array.from(newer)
    damaged[damaged.length - 1] ^= 0x80
    expect(await codeOf(ds.put(dsKey, kadRecord(dhtKey, damaged)))).toBe('ERR_BAD_SIGNATURE')
    expect(await codeOf(ds.put(dsKey, kadRecord(dhtKey, new Uint8Array([1, 2, 3]))))).toBe('ERR_INVALID_RECORD')
    expect(await ds.has(dsKey)).toBe(false)
  })

  it('get of a roomkv key with no record throws NotFoundError; has is false', async () => {
    const { ds } = setup()
    expect(await errorName(ds.get(dsKey))).toBe('NotFoundError')
    expect(await ds.has(dsKey)).toBe(false)
  })

  it('expired records are not served', async () => {
    const { ds, clock } = setup()
    await ds.put(dsKey, kadRecord(dhtKey, seal({ expiresAt: NOW + 1000 })))
    expect(await ds.has(dsKey)).toBe(true)
    clock.t = NOW + 1000
    expect(await ds.has(dsKey)).toBe(false)
    expect(await errorName(ds.get(dsKey))).toBe('NotFoundError')
  })

  it('delete of a roomkv key does not drop the record', async () => {
    const { ds, records } = setup()
    await ds.put(dsKey, kadRecord(dhtKey, newer))
    await ds.delete(dsKey)
    expect(await ds.has(dsKey)).toBe(true)
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newer))
    expect(await records.get(keysA.roomId, keyId)).toBeDefined()
  })

  it('passes non-roomkv keys through to the inner datastore', async () => {
    const { ds, inner, records } = setup()
    const pkKey = recordKey(utf8('/pk/some-peer'))
    const ipnsKey = recordKey(utf8('/ipns/some-name'))
    const provider = new Key('/dht/provider/abc/def')
    const other = new Key('/peers/xyz')
    const notBase32 = new Key('/dht/record/NOT-BASE32!', false)
    const entries: Array<[Key, Uint8Array]> = [
      [pkKey, kadRecord(utf8('/pk/some-peer'), new Uint8Array([1]))],
      [ipnsKey, new Uint8Array([2])], // need not even be a Libp2pRecord
      [provider, new Uint8Array([3])],
      [other, new Uint8Array([4])],
      [notBase32, new Uint8Array([5])]
    ]
    for (const [key, value] of entries) {
      await ds.put(key, value)
      expect(hex(await inner.get(key))).toBe(hex(value))
      expect(hex(await ds.get(key))).toBe(hex(value))
      expect(await ds.has(key)).toBe(true)
    }
    expect(await collect(records.list(keysA.roomId))).toEqual([])
    await ds.delete(pkKey)
    expect(await inner.has(pkKey)).toBe(false)
    expect(await ds.has(pkKey)).toBe(false)
    expect(await errorName(ds.get(pkKey))).toBe('NotFoundError')
    // query goes to the inner store
    expect((await collect(ds.queryKeys({ prefix: '/dht' }))).map(k => k.toString()).sort())
      .toEqual([ipnsKey, provider, notBase32].map(k => k.toString()).sort())
    expect((await collect(ds.query({ prefix: '/peers' }))).map(p => hex(p.value))).toEqual([hex(new Uint8Array([4]))])
  })

  it('roomkv records never reach the inner datastore', async () => {
    const { ds, inner } = setup()
    await ds.put(dsKey, kadRecord(dhtKey, newer))
    expect(await inner.has(dsKey)).toBe(false)
    expect(await collect(inner.queryKeys({}))).toEqual([])
  })

  it('batch and putMany go through the merge too', async () => {
    const { ds } = setup()
    const batch = ds.batch()
    batch.put(dsKey, kadRecord(dhtKey, newer))
    batch.put(dsKey, kadRecord(dhtKey, older))
    batch.delete(dsKey)
    await batch.commit()
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newer))
    await collect(ds.putMany([{ key: dsKey, value: kadRecord(dhtKey, older) }]))
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newer))
    const got = await collect(ds.getMany([dsKey]))
    expect(hex(Libp2pRecord.deserialize(got[0].value).value)).toBe(hex(newer))
  })

  it('honours a custom recordPrefix', async () => {
    const { ds, inner } = setup('/dht-lan/record')
    const lanKey = recordKey(dhtKey, '/dht-lan/record')
    await ds.put(lanKey, kadRecord(dhtKey, newer))
    await ds.put(lanKey, kadRecord(dhtKey, older))
    expect(hex(Libp2pRecord.deserialize(await ds.get(lanKey)).value)).toBe(hex(newer))
    expect(await inner.has(lanKey)).toBe(false)
    // the default prefix is now an ordinary key
    await ds.put(dsKey, new Uint8Array([7]))
    expect(hex(await inner.get(dsKey))).toBe('07')
  })
})
