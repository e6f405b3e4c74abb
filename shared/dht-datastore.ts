/**
 * A libp2p datastore that routes kad-dht's roomkv records into the record
 * store. kad-dht's PUT_VALUE handler overwrites whatever it holds, so an old
 * version arriving late would replace a newer one; here every DHT write goes
 * through RecordStore.merge and the winner is kept. It also means the DHT and
 * the sync protocol serve the same bytes from one place.
 */
import { Libp2pRecord } from '@libp2p/record'
import { BaseDatastore } from 'datastore-core'
import { Key, type Datastore, type KeyQuery, type Pair, type Query } from 'interface-datastore'
import { NotFoundError } from '@libp2p/interface'
import { fromString } from 'uint8arrays'
import { isRoomkvDhtKey, parseDhtKey } from './dht-key.ts'
import type { RecordStore } from './record-store.ts'
import type { AbortOptions } from '@libp2p/interface'

export interface DhtDatastoreInit {
  /** kad-dht's `datastorePrefix` + `/record`. @default '/dht/record' */
  recordPrefix?: string
  /** Told about every roomkv record written (a DHT PUT, ours or a peer's) or read (a DHT GET). */
  onRecord?(access: 'dht_put' | 'dht_get'): void
}

export function dhtDatastore (inner: Datastore, records: RecordStore, init: DhtDatastoreInit = {}): Datastore {
  return new DhtDatastore(inner, records, init.recordPrefix ?? '/dht/record', init.onRecord)
}

class DhtDatastore extends BaseDatastore {
  readonly #inner: Datastore
  readonly #records: RecordStore
  readonly #prefix: string
  readonly #onRecord?: (access: 'dht_put' | 'dht_get') => void

  constructor (inner: Datastore, records: RecordStore, prefix: string, onRecord?: (access: 'dht_put' | 'dht_get') => void) {
    super()
    this.#inner = inner
    this.#records = records
    this.#prefix = `${prefix}/`
    this.#onRecord = onRecord
  }

  /** The DHT key behind a datastore key, when it is one of ours. */
  #dhtKey (key: Key): Uint8Array | undefined {
    const name = key.toString()
    if (!name.startsWith(this.#prefix)) return undefined
    try {
      const dhtKey = fromString(name.slice(this.#prefix.length), 'base32')
      if (!isRoomkvDhtKey(dhtKey)) return undefined
      parseDhtKey(dhtKey) // malformed roomkv keys fall through to the inner store: NotFound, not an RPC error
      return dhtKey
    } catch {
      return undefined
    }
  }

  async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    const dhtKey = this.#dhtKey(key)
    if (dhtKey == null) return this.#inner.put(key, val, options)
    const record = Libp2pRecord.deserialize(val)
    await this.#records.merge(record.value, parseDhtKey(dhtKey))
    this.#onRecord?.('dht_put')
    return key
  }

  async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const dhtKey = this.#dhtKey(key)
    if (dhtKey == null) return this.#inner.get(key, options)
    const { roomId, keyId } = parseDhtKey(dhtKey)
    const record = await this.#records.get(roomId, keyId)
    if (record == null) throw new NotFoundError('No record for this key')
    this.#onRecord?.('dht_get')
    // Our records carry their own expiry; kad-dht's age check must not drop them.
    return new Libp2pRecord(dhtKey, record.bytes, new Date()).serialize()
  }

  async has (key: Key, options?: AbortOptions): Promise<boolean> {
    const dhtKey = this.#dhtKey(key)
    if (dhtKey == null) return this.#inner.has(key, options)
    const { roomId, keyId } = parseDhtKey(dhtKey)
    return (await this.#records.get(roomId, keyId)) != null
  }

  async delete (key: Key, options?: AbortOptions): Promise<void> {
    // Expiry and deletion of room records are the record store's job (TTL,
    // tombstones); kad-dht's own age-based deletes are ignored for them.
    if (this.#dhtKey(key) == null) await this.#inner.delete(key, options)
  }

  async * _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    yield * this.#inner.query(q, options)
  }

  async * _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    yield * this.#inner.queryKeys(q, options)
  }

  // query/queryKeys in BaseDatastore apply filters/orders on top of _all; the
  // inner store already does that, so delegate directly.
  query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    return this.#inner.query(q, options) as AsyncGenerator<Pair>
  }

  queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    return this.#inner.queryKeys(q, options) as AsyncGenerator<Key>
  }
}
