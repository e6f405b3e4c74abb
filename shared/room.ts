/**
 * A joined room: the key-value API on top of a libp2p node that runs the
 * roomkv DHT and room protocols. Environment-agnostic: the browser app and
 * Node peers build their own libp2p node and record storage and hand them in.
 *
 * Data paths, in order of speed:
 *   local store (IndexedDB / disk) -> push to room members and relays ->
 *   DHT put to the closest DHT servers. Catch-up runs the sync protocol with
 *   relays and every member found through DHT provider records.
 */
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import type { Connection, PeerId, PeerInfo } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p } from 'libp2p'
import type { Multiaddr } from '@multiformats/multiaddr'
import { minute, second } from './constants.ts'
import { errorCode } from './errors.ts'
import { dhtKeyFor } from './dht-key.ts'
import { createHybridClock, type HybridClock } from './hlc.ts'
import { openRecord, sealRecord, selectRecord, validateKeyName, verifyRecord, type RoomEntry, type VerifiedRecord } from './record.ts'
import type { RecordStore } from './record-store.ts'
import { roomMembersCid } from './room-cid.ts'
import { keyIdFor, type RoomKeys } from './room-keys.ts'
import type { RoomProtocol } from './protocol/room-protocol.ts'

export type RoomNode = Libp2p<{ dht: KadDHT, rooms: RoomProtocol }>

export interface RoomSessionInit {
  node: RoomNode
  keys: RoomKeys
  store: RecordStore
  /** Opaque id of this writer, kept across restarts by the caller. */
  writer: string
  /** Peers that relay and store every room (the bootstrap relays). */
  relays(): PeerId[]
  /** Timeout of one push / DHT step. @default 5 s */
  stepTimeout?: number
  /** How often members are looked up while none is connected. @default 2 s */
  discoverFastInterval?: number
  /** How often members are looked up otherwise. @default 30 s */
  discoverInterval?: number
  /** How often a full sync with a relay and one member runs. @default 30 s */
  antiEntropyInterval?: number
  /** Tries for a WebRTC dial to a member (the transport can hang). @default 3 */
  dialAttempts?: number
  /** Timeout of one WebRTC dial attempt. @default 6 s */
  dialTimeout?: number
}

export interface PutOptions {
  /** Time to live in ms; the record disappears everywhere after it. */
  ttl?: number
}

export interface PutResult {
  key: string
  /** Record id, hex. */
  id: string
  /** Distinct peers that acknowledged holding the record (push or DHT). */
  peers: number
  /** The peers, as peer id strings. */
  storedOn: string[]
}

export interface RoomPeerStatus {
  id: string
  /** direct: WebRTC (or WebSockets to a relay); relayed: only a limited circuit. */
  connection: 'direct' | 'relayed' | 'none'
  address?: string
}

export interface RoomStatus {
  roomId: string
  relaysConnected: number
  members: RoomPeerStatus[]
  direct: number
  relayed: number
  /** Why this room has no connected member yet, in words; empty when it has one. */
  alone: string
  lastSync?: { at: number, peer: string, received: number, sent: number }
  lastError?: string
}

export type RoomChange = RoomEntry & { source: 'local' | 'remote' }

export interface RoomSession {
  readonly roomId: string
  start(): Promise<void>
  put(key: string, value: unknown, options?: PutOptions): Promise<PutResult>
  get(key: string, options?: { network?: boolean }): Promise<RoomEntry | undefined>
  delete(key: string): Promise<PutResult>
  list(options?: { prefix?: string }): Promise<RoomEntry[]>
  watch(callback: (change: RoomChange) => void): () => void
  onStatus(callback: (status: RoomStatus) => void): () => void
  status(): RoomStatus
  /** Find and connect members now, then sync with everyone reachable. */
  refresh(): Promise<void>
  /** Record that a peer pushed or synced this room. */
  addMember(peer: PeerId): void
  close(): Promise<void>
}

const hex = (bytes: Uint8Array): string => toString(bytes, 'base16')

export function createRoomSession (init: RoomSessionInit): RoomSession {
  return new Session(init)
}

class Session implements RoomSession {
  readonly roomId: string
  readonly #init: RoomSessionInit
  readonly #node: RoomNode
  readonly #keys: RoomKeys
  readonly #store: RecordStore
  readonly #clock: HybridClock
  readonly #log
  readonly #members = new Map<string, PeerId>()
  readonly #dialing = new Set<string>()
  readonly #watchers = new Set<(change: RoomChange) => void>()
  readonly #statusWatchers = new Set<(status: RoomStatus) => void>()
  readonly #localWrites = new Set<string>()
  readonly #timers: Array<ReturnType<typeof setTimeout>> = []
  readonly #abort = new AbortController()
  readonly #cleanups: Array<() => void> = []
  #lastSync?: RoomStatus['lastSync']
  #lastError?: string
  #closed = false
  #discovering?: Promise<void>

  constructor (init: RoomSessionInit) {
    this.#init = init
    this.#node = init.node
    this.#keys = init.keys
    this.#store = init.store
    this.roomId = init.keys.roomIdText
    this.#clock = createHybridClock()
    this.#log = logger(`roomkv:room:${this.roomId.slice(0, 8)}`)
  }

  get #step (): number { return this.#init.stepTimeout ?? 5 * second }

  #signal (ms = this.#step): AbortSignal {
    return AbortSignal.any([this.#abort.signal, AbortSignal.timeout(ms)])
  }

  async start (): Promise<void> {
    this.#cleanups.push(this.#store.onRecord((record) => { this.#onStored(record) }))
    const onConnection = (): void => { this.#emitStatus() }
    const onDisconnect = (evt: CustomEvent<PeerId>): void => {
      if (this.#isRelay(evt.detail)) this.#lastError = 'relay connection lost'
      this.#emitStatus()
    }
    const onRelayConnect = (evt: CustomEvent<PeerId>): void => {
      // A relay (re)connected: catch up with it, and push what we wrote while it was away.
      if (this.#isRelay(evt.detail)) void this.#syncWith(evt.detail)
    }
    this.#node.addEventListener('connection:open', onConnection)
    this.#node.addEventListener('connection:close', onConnection)
    this.#node.addEventListener('peer:disconnect', onDisconnect)
    this.#node.addEventListener('peer:connect', onRelayConnect)
    const onSelfUpdate = (): void => { this.#announceSoon() }
    this.#node.addEventListener('self:peer:update', onSelfUpdate)
    this.#cleanups.push(() => {
      this.#node.removeEventListener('connection:open', onConnection)
      this.#node.removeEventListener('connection:close', onConnection)
      this.#node.removeEventListener('peer:disconnect', onDisconnect)
      this.#node.removeEventListener('peer:connect', onRelayConnect)
      this.#node.removeEventListener('self:peer:update', onSelfUpdate)
    })
    for (const relay of this.#connectedRelays()) void this.#syncWith(relay)
    this.#announceSoon()
    this.#scheduleDiscovery(0)
    this.#every(this.#init.antiEntropyInterval ?? 30 * second, () => { void this.#antiEntropy() })
    this.#every(5 * minute, () => { void this.#announce() })
  }

  #every (ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms)
    this.#timers.push(timer)
  }

  #isRelay (peer: PeerId): boolean {
    return this.#init.relays().some(r => r.equals(peer))
  }

  #connectedRelays (): PeerId[] {
    return this.#init.relays().filter(r => this.#node.getConnections(r).some(c => c.status === 'open'))
  }

  /** The best open connection to a peer: unlimited beats limited. */
  #connectionTo (peer: PeerId): Connection | undefined {
    const open = this.#node.getConnections(peer).filter(c => c.status === 'open')
    return open.find(c => c.limits == null) ?? open[0]
  }

  #onStored (record: VerifiedRecord): void {
    if (hex(record.roomId) !== hex(this.#keys.roomId)) return
    this.#clock.observe(record.clock)
    let entry: RoomEntry
    try {
      entry = openRecord(this.#keys, record)
    } catch (err) {
      this.#log.error('stored record does not open: %e', err)
      return
    }
    const id = hex(record.id)
    const source = this.#localWrites.delete(id) ? 'local' : 'remote'
    for (const watcher of this.#watchers) watcher({ ...entry, source })
  }

  // ---- writes ----

  async put (key: string, value: unknown, options: PutOptions = {}): Promise<PutResult> {
    return this.#write(key, { value, deleted: false, ttl: options.ttl })
  }

  async delete (key: string): Promise<PutResult> {
    return this.#write(key, { deleted: true })
  }

  async #write (key: string, change: { value?: unknown, deleted: boolean, ttl?: number }): Promise<PutResult> {
    validateKeyName(key)
    const keyId = keyIdFor(this.#keys, key)
    const previous = await this.#store.get(this.#keys.roomId, keyId)
    const bytes = sealRecord(this.#keys, {
      key,
      value: change.value,
      deleted: change.deleted,
      clock: this.#clock.tick(),
      writer: this.#init.writer,
      expiresAt: change.ttl != null && change.ttl > 0 ? Date.now() + change.ttl : 0,
      replaces: previous != null ? [previous.id] : []
    })
    const record = verifyRecord(bytes)
    this.#localWrites.add(hex(record.id))
    // Local first: the write is kept even if nobody is reachable right now.
    await this.#store.merge(bytes, { roomId: this.#keys.roomId })
    const storedOn = new Set<string>()
    await Promise.allSettled([
      this.#pushToAll([bytes], storedOn),
      this.#dhtPut(keyId, bytes, storedOn)
    ])
    return { key, id: hex(record.id), peers: storedOn.size, storedOn: [...storedOn] }
  }

  /** Push to every relay and every directly connected member. */
  async #pushToAll (records: Uint8Array[], storedOn?: Set<string>): Promise<void> {
    const targets = new Map<string, PeerId>()
    for (const relay of this.#connectedRelays()) targets.set(relay.toString(), relay)
    for (const [id, peer] of this.#members) {
      if (this.#connectionTo(peer)?.limits == null && this.#connectionTo(peer) != null) targets.set(id, peer)
    }
    await Promise.allSettled([...targets.values()].map(async (peer) => {
      try {
        const result = await this.#node.services.rooms.push(peer, this.#keys.roomId, records, { signal: this.#signal() })
        if (result.stored + result.known > 0) storedOn?.add(peer.toString())
      } catch (err) {
        this.#log('push to %p failed: %e', peer, err)
      }
    }))
  }

  async #dhtPut (keyId: Uint8Array, bytes: Uint8Array, storedOn: Set<string>): Promise<void> {
    try {
      for await (const event of this.#node.services.dht.put(dhtKeyFor(this.#keys.roomId, keyId), bytes, { signal: this.#signal() })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') storedOn.add(event.from.toString())
      }
    } catch (err) {
      this.#log('dht put failed: %e', err)
    }
  }

  // ---- reads ----

  async get (key: string, options: { network?: boolean } = {}): Promise<RoomEntry | undefined> {
    validateKeyName(key)
    const keyId = keyIdFor(this.#keys, key)
    const local = await this.#store.get(this.#keys.roomId, keyId)
    if (local != null && options.network !== true) return this.#visible(openRecord(this.#keys, local))
    const found = await this.#dhtGet(keyId)
    const best = found ?? local
    return best == null ? undefined : this.#visible(openRecord(this.#keys, best))
  }

  #visible (entry: RoomEntry): RoomEntry | undefined {
    return entry.deleted ? undefined : entry
  }

  async #dhtGet (keyId: Uint8Array): Promise<VerifiedRecord | undefined> {
    const values: Uint8Array[] = []
    try {
      for await (const event of this.#node.services.dht.get(dhtKeyFor(this.#keys.roomId, keyId), { signal: this.#signal() })) {
        if (event.name === 'VALUE') values.push(event.value)
      }
    } catch (err) {
      this.#log('dht get failed: %e', err)
    }
    if (values.length === 0) return undefined
    const winner = values[selectRecord(values, { roomId: this.#keys.roomId, keyId })]
    try {
      const merged = await this.#store.merge(winner, { roomId: this.#keys.roomId, keyId })
      return merged.winner
    } catch (err) {
      this.#log('dht returned an invalid record: %e', err)
      return undefined
    }
  }

  async list (options: { prefix?: string } = {}): Promise<RoomEntry[]> {
    const entries: RoomEntry[] = []
    for await (const record of this.#store.list(this.#keys.roomId)) {
      try {
        const entry = openRecord(this.#keys, record)
        if (!entry.deleted && (options.prefix == null || entry.key.startsWith(options.prefix))) entries.push(entry)
      } catch (err) {
        this.#log.error('record %s does not open: %e', hex(record.id), err)
      }
    }
    return entries.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  }

  watch (callback: (change: RoomChange) => void): () => void {
    this.#watchers.add(callback)
    return () => { this.#watchers.delete(callback) }
  }

  // ---- members ----

  addMember (peer: PeerId): void {
    if (peer.equals(this.#node.peerId) || this.#isRelay(peer)) return
    if (!this.#members.has(peer.toString())) {
      this.#members.set(peer.toString(), peer)
      this.#log('member %p joined', peer)
      this.#emitStatus()
    }
  }

  #announceTimer?: ReturnType<typeof setTimeout>
  #announceSoon (): void {
    clearTimeout(this.#announceTimer)
    // Addresses change in bursts (reservation, WebRTC listener): announce once they settle.
    this.#announceTimer = setTimeout(() => { void this.#announce() }, 300)
  }

  async #announce (): Promise<void> {
    if (this.#closed) return
    const hasCircuit = this.#node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
    if (!hasCircuit) return // nobody could dial us yet; self:peer:update brings us back
    try {
      let sent = 0
      for await (const event of this.#node.services.dht.provide(roomMembersCid(this.#keys.roomId), { signal: this.#signal(10 * second) })) {
        if (event.name === 'PEER_RESPONSE') sent++
      }
      this.#log('announced membership to %d peers', sent)
    } catch (err) {
      this.#fail('announcing membership', err)
    }
  }

  #scheduleDiscovery (delay: number): void {
    if (this.#closed) return
    const timer = setTimeout(() => {
      void this.refresh().finally(() => {
        const alone = this.status().direct === 0
        this.#scheduleDiscovery(alone ? (this.#init.discoverFastInterval ?? 2 * second) : (this.#init.discoverInterval ?? 30 * second))
      })
    }, delay)
    this.#timers.push(timer)
  }

  async refresh (): Promise<void> {
    this.#discovering ??= this.#discover().finally(() => { this.#discovering = undefined })
    return this.#discovering
  }

  async #discover (): Promise<void> {
    if (this.#connectedRelays().length === 0 && this.#node.getConnections().length === 0) return
    const found: PeerInfo[] = []
    try {
      for await (const event of this.#node.services.dht.findProviders(roomMembersCid(this.#keys.roomId), { signal: this.#signal(8 * second) })) {
        if (event.name === 'PROVIDER') found.push(...event.providers)
      }
    } catch (err) {
      if (found.length === 0) this.#fail('looking up room members', err)
    }
    await Promise.allSettled(found
      .filter(p => !p.id.equals(this.#node.peerId))
      .map(async (p) => { await this.#connectMember(p.id, p.multiaddrs) }))
  }

  async #connectMember (peer: PeerId, addrs: Multiaddr[]): Promise<void> {
    const id = peer.toString()
    if (this.#connectionTo(peer)?.limits == null && this.#connectionTo(peer) != null) {
      if (!this.#members.has(id)) {
        this.addMember(peer)
        await this.#syncWith(peer)
      }
      return
    }
    if (this.#dialing.has(id)) return
    const webrtc = addrs.filter(ma => ma.toString().includes('/webrtc'))
    if (webrtc.length === 0) return
    this.#dialing.add(id)
    try {
      const attempts = this.#init.dialAttempts ?? 3
      for (let attempt = 1; attempt <= attempts && !this.#closed; attempt++) {
        try {
          await this.#node.dial(webrtc, { signal: this.#signal(this.#init.dialTimeout ?? 6 * second) })
          this.addMember(peer)
          await this.#syncWith(peer)
          return
        } catch (err) {
          this.#log('webrtc dial %p attempt %d/%d failed: %e', peer, attempt, attempts, err)
          if (attempt === attempts) this.#fail(`connecting to member ${id.slice(-6)} over WebRTC`, err)
        }
      }
    } finally {
      this.#dialing.delete(id)
    }
  }

  async #syncWith (peer: PeerId): Promise<void> {
    if (this.#closed) return
    try {
      const result = await this.#node.services.rooms.sync(peer, this.#keys.roomId, { signal: this.#signal(60 * second) })
      this.#lastSync = { at: Date.now(), peer: peer.toString(), received: result.received, sent: result.sent }
      this.#log('synced with %p: received %d (%d new), sent %d', peer, result.received, result.stored, result.sent)
      this.#emitStatus()
    } catch (err) {
      this.#fail(`syncing with ${peer.toString().slice(-6)}`, err)
    }
  }

  async #antiEntropy (): Promise<void> {
    const relays = this.#connectedRelays()
    const members = [...this.#members.values()].filter(p => this.#connectionTo(p)?.limits == null && this.#connectionTo(p) != null)
    const pick = <T>(list: T[]): T | undefined => list[Math.floor(Math.random() * list.length)]
    const targets = [pick(relays), pick(members)].filter((p): p is PeerId => p != null)
    await Promise.allSettled(targets.map(async p => { await this.#syncWith(p) }))
  }

  #fail (step: string, err: unknown): void {
    if (this.#closed) return
    this.#lastError = `${step}: ${errorCode(err)}`
    this.#log('%s failed: %e', step, err)
    this.#emitStatus()
  }

  // ---- status ----

  status (): RoomStatus {
    const members: RoomPeerStatus[] = [...this.#members.values()].map(peer => {
      const connection = this.#connectionTo(peer)
      return {
        id: peer.toString(),
        connection: connection == null ? 'none' : connection.limits == null ? 'direct' : 'relayed',
        address: connection?.remoteAddr.toString()
      }
    })
    const relaysConnected = this.#connectedRelays().length
    const direct = members.filter(m => m.connection === 'direct').length
    const relayed = members.filter(m => m.connection === 'relayed').length
    const hasCircuit = this.#node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
    let alone = ''
    if (direct === 0) {
      alone = relaysConnected === 0
        ? 'no relay connected: members cannot be found'
        : !hasCircuit
            ? 'relay connected, waiting for a relay reservation'
            : members.length === 0
              ? 'no other member online in this room yet'
              : 'members found, WebRTC connection not established yet'
    }
    return {
      roomId: this.roomId,
      relaysConnected,
      members,
      direct,
      relayed,
      alone,
      lastSync: this.#lastSync,
      lastError: this.#lastError
    }
  }

  onStatus (callback: (status: RoomStatus) => void): () => void {
    this.#statusWatchers.add(callback)
    return () => { this.#statusWatchers.delete(callback) }
  }

  #emitStatus (): void {
    if (this.#statusWatchers.size === 0) return
    const status = this.status()
    for (const watcher of this.#statusWatchers) watcher(status)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort()
    clearTimeout(this.#announceTimer)
    for (const timer of this.#timers) { clearTimeout(timer); clearInterval(timer) }
    for (const cleanup of this.#cleanups) cleanup()
    this.#watchers.clear()
    this.#statusWatchers.clear()
    await this.#discovering?.catch(() => {})
  }
}
