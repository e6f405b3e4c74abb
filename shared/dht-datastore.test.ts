import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { describe, expect, it } from 'vitest'
import { toString } from 'uint8arrays'
import { dhtDatastore } from './dht-datastore.ts'
import { dhtKeyFor } from './dht-key.ts'
import { RoomkvError } from './errors.ts'
import { createRecordStore, memoryRecordStorage, type RecordStore } from './record-store.ts'
import { sealRecord, type SealInit } from './record.ts'
import { deriveRoomKeys, keyIdFor, type RoomKeys } from './room-keys.ts'

const NOW = 1_767_225_600_000
const keysA = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const keysB = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))

const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

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

async function codeOf (promise: unknown): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (!(err instanceof RoomkvError)) throw new Error(`expected a RoomkvError, got ${String(err)}`)
    return err.code
  }
  return 'NO_ERROR'
}

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
  const newer = seal({ clock: { wall: NOW - 5, counter: 0 }, value: 'newer' })

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
    // and a newer one does replace an older one
    const newest = seal({ clock: { wall: NOW - 1, counter: 0 }, value: 'newest' })
    await ds.put(dsKey, kadRecord(dhtKey, newest))
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newest))
  })

  it('goes through the record store both ways (sync and DHT serve the same bytes)', async () => {
    const { ds, records } = setup()
    const heard: string[] = []
    records.onRecord(r => heard.push(hex(r.bytes)))
    await records.merge(newer)
    expect(hex(Libp2pRecord.deserialize(await ds.get(dsKey)).value)).toBe(hex(newer))
    await ds.put(dsKey, kadRecord(dhtKey, older))
    expect(heard).toEqual([hex(newer)])
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
