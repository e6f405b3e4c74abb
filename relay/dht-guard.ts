/**
 * The relay's limits on the DHT it serves to strangers.
 *
 * - `createDhtMessageGuard`: kad-dht answers any number of requests on one
 *   stream, so limits on streams count nothing. This sees every inbound
 *   message (through the `onInboundMessage` option patched into kad-dht) and
 *   charges it to the sending peer and to its IP, refuses PUT_VALUE outside
 *   the roomkv namespace and ADD_PROVIDER for keys that are not SHA-256
 *   multihashes. Throwing refuses: kad-dht resets the stream.
 * - `boundedProviderStore`: kad-dht keeps provider records in the libp2p
 *   datastore with no bound, and answers GET_PROVIDERS with a prefix scan of
 *   the whole store (1.7 s at 200,000 records). This holds them in an index
 *   by CID and by provider, capped per provider peer and in total, evicting
 *   the least recently announced.
 *
 * Provider keys are not filtered to roomkv's CIDs: room-members and key CIDs
 * are SHA-256 hashes of a label and ids (shared/room-cid.ts), so a relay
 * cannot tell them from random ones without the room's secret, and must not
 * learn it. The shape check plus the caps bound what a stranger can store.
 */
import { Libp2pRecord } from '@libp2p/record'
import { NotFoundError, type AbortOptions, type Connection } from '@libp2p/interface'
import { BaseDatastore } from 'datastore-core'
import { Key, type Datastore, type KeyQuery, type Pair, type Query } from 'interface-datastore'
import { RECORD_NAMESPACE } from '../shared/constants.ts'
import { dhtNamespaceOf, UnsupportedDhtKeyError } from '../shared/dht-key.ts'
import { RateLimitedError } from '../shared/errors.ts'
import { createRateLimiter } from '../shared/rate-limit.ts'

/** Provider records kept per provider peer, and in total (see boundedProviderStore). */
export const DEFAULT_PROVIDERS_PER_PEER = 1_000
export const DEFAULT_MAX_PROVIDERS = 100_000

/** The parts of a kad-dht RPC message the guard reads. */
export interface DhtInboundMessage {
  type: string
  key?: Uint8Array
  record?: Uint8Array
}

export type DhtRefusal = 'rate_peer' | 'rate_ip' | 'namespace' | 'provider_key'

export interface DhtMessageGuardInit {
  /** Sustained messages a minute, per peer id. */
  perPeerPerMinute: number
  /** @default perPeerPerMinute */
  perPeerBurst?: number
  /** Sustained messages a minute, per remote IP (all its peer ids together). */
  perIpPerMinute: number
  /** @default perIpPerMinute */
  perIpBurst?: number
  /** Record namespaces PUT_VALUE may write. @default ['roomkv'] */
  namespaces?: string[]
  /** The remote IP of a connection; undefined charges the peer only. */
  ipOf(connection: Connection): string | undefined
  /** Told about each refused message (after it is refused). */
  onRefused?(reason: DhtRefusal, connection: Connection, error: Error): void
}

/** SHA-256 multihash: what room-members and key CIDs announce. */
function isSha256Multihash (key: Uint8Array | undefined): boolean {
  return key != null && key.length === 34 && key[0] === 0x12 && key[1] === 0x20
}

/** kad-dht's `onInboundMessage`: throws to refuse a message. */
export function createDhtMessageGuard (init: DhtMessageGuardInit): (message: DhtInboundMessage, connection: Connection) => void {
  const perPeer = createRateLimiter({ perMinute: init.perPeerPerMinute, burst: init.perPeerBurst })
  const perIp = createRateLimiter({ perMinute: init.perIpPerMinute, burst: init.perIpBurst })
  const namespaces = new Set(init.namespaces ?? [RECORD_NAMESPACE])
  const refuse = (reason: DhtRefusal, connection: Connection, error: Error): never => {
    init.onRefused?.(reason, connection, error)
    throw error
  }
  return (message, connection) => {
    // Per IP first: a flood of fresh peer ids from one address must not
    // create a fresh peer bucket for each before it is stopped.
    const ip = init.ipOf(connection)
    if (ip != null && !perIp.take(ip)) refuse('rate_ip', connection, new RateLimitedError('DHT message rate exceeded for this address'))
    if (!perPeer.take(connection.remotePeer.toString())) refuse('rate_peer', connection, new RateLimitedError('DHT message rate exceeded for this peer'))
    if (message.type === 'PUT_VALUE') {
      // kad-dht stores under the key inside the record; check both.
      let recordKey: Uint8Array | undefined
      try {
        recordKey = message.record == null ? undefined : Libp2pRecord.deserialize(message.record).key
      } catch {}
      for (const key of [message.key, recordKey]) {
        const namespace = key == null ? undefined : dhtNamespaceOf(key)
        if (namespace == null || !namespaces.has(namespace)) {
          refuse('namespace', connection, new UnsupportedDhtKeyError(`DHT namespace "${namespace ?? ''}" is not served`))
        }
      }
    } else if (message.type === 'ADD_PROVIDER' && !isSha256Multihash(message.key)) {
      refuse('provider_key', connection, new UnsupportedDhtKeyError('Provider key is not a SHA-256 multihash'))
    }
  }
}

export interface ProviderStoreInit {
  /** kad-dht's `datastorePrefix` + `/provider`. @default '/dht/provider' */
  prefix?: string
  /** Records kept per provider peer; its oldest is evicted beyond. @default 1_000 */
  maxPerPeer?: number
  /** Records kept in total; the least recently announced is evicted beyond. @default 100_000 */
  maxTotal?: number
  /** Told about each eviction. */
  onEvicted?(reason: 'per_peer' | 'total'): void
}

export interface ProviderStore extends Datastore {
  /** Provider records held now. */
  readonly providerRecords: number
}

/**
 * Wraps the libp2p datastore: provider records live in a bounded index here,
 * everything else in `inner`.
 */
export function boundedProviderStore (inner: Datastore, init: ProviderStoreInit = {}): ProviderStore {
  return new BoundedProviderStore(inner, init)
}

class BoundedProviderStore extends BaseDatastore implements ProviderStore {
  readonly #inner: Datastore
  readonly #prefix: string
  readonly #maxPerPeer: number
  readonly #maxTotal: number
  readonly #onEvicted?: (reason: 'per_peer' | 'total') => void
  /** Datastore key -> value, in announce order (oldest first). */
  readonly #entries = new Map<string, Uint8Array>()
  /** CID segment -> datastore keys. */
  readonly #byCid = new Map<string, Set<string>>()
  /** Provider peer -> datastore keys, in announce order. */
  readonly #byPeer = new Map<string, Set<string>>()

  constructor (inner: Datastore, init: ProviderStoreInit) {
    super()
    this.#inner = inner
    this.#prefix = `${init.prefix ?? '/dht/provider'}/`
    this.#maxPerPeer = init.maxPerPeer ?? DEFAULT_PROVIDERS_PER_PEER
    this.#maxTotal = init.maxTotal ?? DEFAULT_MAX_PROVIDERS
    this.#onEvicted = init.onEvicted
  }

  get providerRecords (): number {
    return this.#entries.size
  }

  /** `[cid, peer]` for a provider record key (`<prefix>/<cid>/<peer>`). */
  #parse (key: string): [string, string] | undefined {
    if (!key.startsWith(this.#prefix)) return undefined
    const parts = key.slice(this.#prefix.length).split('/')
    return parts.length === 2 && parts[0] !== '' && parts[1] !== '' ? [parts[0], parts[1]] : undefined
  }

  #remove (key: string, cid: string, peer: string): void {
    this.#entries.delete(key)
    const ofCid = this.#byCid.get(cid)
    ofCid?.delete(key)
    if (ofCid?.size === 0) this.#byCid.delete(cid)
    const ofPeer = this.#byPeer.get(peer)
    ofPeer?.delete(key)
    if (ofPeer?.size === 0) this.#byPeer.delete(peer)
  }

  #evict (key: string, reason: 'per_peer' | 'total'): void {
    const [cid, peer] = this.#parse(key) as [string, string]
    this.#remove(key, cid, peer)
    this.#onEvicted?.(reason)
  }

  async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    const name = key.toString()
    const parsed = this.#parse(name)
    if (parsed == null) return this.#inner.put(key, val, options)
    const [cid, peer] = parsed
    // A re-announce moves the record to the young end of both orders.
    this.#remove(name, cid, peer)
    this.#entries.set(name, val)
    let ofCid = this.#byCid.get(cid)
    if (ofCid == null) this.#byCid.set(cid, ofCid = new Set())
    ofCid.add(name)
    let ofPeer = this.#byPeer.get(peer)
    if (ofPeer == null) this.#byPeer.set(peer, ofPeer = new Set())
    ofPeer.add(name)
    while (ofPeer.size > this.#maxPerPeer) this.#evict(ofPeer.values().next().value as string, 'per_peer')
    while (this.#entries.size > this.#maxTotal) this.#evict(this.#entries.keys().next().value as string, 'total')
    return key
  }

  async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const name = key.toString()
    if (this.#parse(name) == null) return this.#inner.get(key, options)
    const value = this.#entries.get(name)
    if (value == null) throw new NotFoundError('No provider record')
    return value
  }

  async has (key: Key, options?: AbortOptions): Promise<boolean> {
    const name = key.toString()
    if (this.#parse(name) == null) return this.#inner.has(key, options)
    return this.#entries.has(name)
  }

  async delete (key: Key, options?: AbortOptions): Promise<void> {
    const name = key.toString()
    const parsed = this.#parse(name)
    if (parsed == null) { await this.#inner.delete(key, options); return }
    this.#remove(name, ...parsed)
  }

  /** Provider keys a query prefix can match, without scanning when it names one CID. */
  #providerKeys (prefix: string | undefined): Iterable<string> {
    if (prefix == null || this.#prefix.startsWith(prefix)) return this.#entries.keys()
    if (!prefix.startsWith(this.#prefix)) return []
    const rest = prefix.slice(this.#prefix.length)
    // kad-dht asks for one CID's directory (GET_PROVIDERS): an index lookup.
    // A prefix of a CID segment would need a scan; CID segments of one hash
    // have one length, so kad-dht never sends one.
    const cid = rest.split('/')[0]
    return [...(this.#byCid.get(cid) ?? [])].filter(key => key.startsWith(prefix))
  }

  /** The inner store holds nothing under the provider prefix. */
  #innerMayMatch (prefix: string | undefined): boolean {
    return prefix == null || !prefix.startsWith(this.#prefix)
  }

  async * _all (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    if (this.#innerMayMatch(q.prefix)) yield * this.#inner.query({ prefix: q.prefix }, options)
    for (const key of this.#providerKeys(q.prefix)) {
      const value = this.#entries.get(key)
      if (value != null) yield { key: new Key(key), value }
    }
  }

  async * _allKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    if (this.#innerMayMatch(q.prefix)) yield * this.#inner.queryKeys({ prefix: q.prefix }, options)
    for (const key of this.#providerKeys(q.prefix)) {
      if (this.#entries.has(key)) yield new Key(key)
    }
  }
}
