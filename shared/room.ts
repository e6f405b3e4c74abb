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
import { equals, toString } from 'uint8arrays'
import { yieldToEventLoop } from './yield.ts'
import type { Connection, PeerId, PeerInfo } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p } from 'libp2p'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { minute, second } from './constants.ts'
import { errorCode, QuorumFailedError, RoomkvError } from './errors.ts'
import { dhtKeyFor } from './dht-key.ts'
import { createDhtPublisher, type DhtPublisher } from './dht-publisher.ts'
import { createHybridClock, type HybridClock } from './hlc.ts'
import { bindsBody, openPayloadAsync, openRecordAsync, sealRecordAsync, selectRecord, validateKeyName, type PayloadOpener, type RoomEntry, type VerifiedRecord } from './record.ts'
import { writeContext, type RecordStore } from './record-store.ts'
import { keyCid, roomMembersCid } from './room-cid.ts'
import { createOpenedCache, type OpenedCache } from './opened-cache.ts'
import { keyIdFor, type RoomKeys } from './room-keys.ts'
import type { JoinTimeline } from './join-phases.ts'
import type { RoomProtocol } from './protocol/room-protocol.ts'
import type { RelayReservations } from './relay-reservations.ts'
import type { RoomSignals } from './signal/signal-channels.ts'

/**
 * How long the member whose peer id sorts last waits for the other to dial
 * before dialling itself (see dialTurn). Long enough for the first side's
 * tries against a newcomer whose reservation is a moment away.
 */
const DIAL_YIELD = 3 * second
/**
 * Records a sync pushes back to a member at most: enough to heal a few
 * missed writes at once; a member that lacks more (a newcomer catching up
 * from a relay) pulls them itself, in turn, instead of getting the room
 * twice. See #addMember and AskInit.maxPushBack.
 */
const MEMBER_PUSH_BACK = 256
/** Longest a sync waits for the one before it (see #syncWith). */
const SYNC_TURN_WAIT = 30 * second

/** The join's DHT walks (announce, member lookup) wait at most this long for member connections under way. */
const DHT_MAX_HOLD = 10 * second

/**
 * How long a member has to answer a probe over WebRTC once there is a hint
 * it is gone (its relay says it left, its session ended): an answer takes a
 * round trip; a tab that is gone never answers.
 */
const HINT_PROBE_TIMEOUT = second

/**
 * A member the relay has no reservation for (yet) is tried again this
 * often, for this long, before its refusals count as failed tries: a
 * newcomer's session hello reaches the relay before its reservation
 * (~0.6 s later in a tab).
 */
const NO_RESERVATION_RETRY = 150
const NO_RESERVATION_WAIT = 3 * second
/** Longest stretch of list() work between turns of the event loop, ms. */
const LIST_SLICE_MS = 20

/** Whether an error, or one it wraps, says `text` (dial errors nest: AggregateError, cause). */
function mentions (err: unknown, text: string, depth = 0): boolean {
  if (err == null || typeof err !== 'object' || depth > 4) return false
  const e = err as { message?: unknown, cause?: unknown, errors?: unknown }
  if (typeof e.message === 'string' && e.message.includes(text)) return true
  if (mentions(e.cause, text, depth + 1)) return true
  return Array.isArray(e.errors) && e.errors.some(inner => mentions(inner, text, depth + 1))
}

/** What a relay serves (identify lists it): a peer speaking it is no tab to dial over WebRTC. */
const CIRCUIT_HOP = '/libp2p/circuit/relay/0.2.0/hop'

/** Members (tabs, Node peers) are reached through relay circuits and WebRTC only: they listen on nothing else. */
const isMemberAddress = (addr: string): boolean => /\/p2p-circuit|\/webrtc/.test(addr)

/**
 * Whose turn it is to dial a member, the same rule on every path (a relay's
 * member list, a DHT provider record): one RTCPeerConnection per pair. The
 * peer whose id sorts first (as text) dials at once; the other waits
 * `grace` since it learnt of the peer, longer while an inbound connection
 * from the peer is open (its WebRTC handshake runs over it), and dials only
 * if nothing connected by then (the first side lacks WebRTC, or its tries
 * failed).
 */
export function dialTurn (input: { self: string, peer: string, waited: number, inbound: boolean, grace: number }): { dial: true } | { dial: false, retryIn: number } {
  if (input.self < input.peer) return { dial: true }
  const until = input.inbound ? 2 * input.grace : input.grace
  return input.waited >= until ? { dial: true } : { dial: false, retryIn: until - input.waited }
}

/**
 * The node a room session runs on. `signals`: tabs signal WebRTC dials
 * through the relays' room sessions (shared/signal/signal-channels.ts).
 */
export type RoomNode = Libp2p<{ dht: KadDHT, rooms: RoomProtocol, reservations?: RelayReservations, signals?: RoomSignals }>

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
  /** When the first DHT member lookup runs after start (the relay lists members before). @default 2 s */
  firstLookupDelay?: number
  /** How often members are looked up otherwise. @default 30 s */
  discoverInterval?: number
  /** How often a full sync with a relay and one member runs. @default 30 s */
  antiEntropyInterval?: number
  /** Tries for a WebRTC dial to a member (the transport can hang). @default 3 */
  dialAttempts?: number
  /** Timeout of one WebRTC dial attempt. @default 6 s */
  dialTimeout?: number
  /** How long the member whose id sorts last leaves the other to dial first. @default 3 s */
  dialYield?: number
  /**
   * How often each direct member is asked whether it is still there (a
   * ping on its direct connection): a closed or crashed tab's WebRTC
   * connection gives no close signal for half a minute. @default 2 s
   */
  probeInterval?: number
  /** How long a probe waits for the answer; two missed in a row drop the member. @default 2 s */
  probeTimeout?: number
  /** Where the session records its join phases (membersKnown, direct, synced). @default none */
  timeline?: JoinTimeline
  /** Where records are decrypted and checked for watch() and list() (a tab: its crypto Workers). @default this thread */
  openPayload?: PayloadOpener
}

export interface PutOptions {
  /** Time to live in ms; the record disappears everywhere after it. */
  ttl?: number
  /**
   * Wait until at least this many peers (relays, members) acknowledge the
   * record. Fails with QuorumFailedError (code ERR_QUORUM_FAILED) when they
   * do not within the step timeout, or with the peers' own refusal code
   * (e.g. ERR_ROOM_FULL, ERR_RATE_LIMITED) when they refused it. The record
   * is kept locally either way and synced when peers appear. Without a
   * quorum, put() resolves as soon as the local store holds the record.
   */
  quorum?: number
}

export interface GetOptions {
  /** Ask the network (DHT) even when the key is held locally. */
  network?: boolean
  /**
   * Ask the network and fail with QuorumFailedError unless at least this many
   * peers answered with a version. Peers holding stale versions are sent the
   * winner (kad-dht's correction step).
   */
  quorum?: number
}

export interface PutResult {
  key: string
  /** Record id, hex. */
  id: string
  /**
   * Distinct peers that had acknowledged holding the record when put()
   * resolved (0 without a quorum: it resolves at the local write; the
   * record is on its way, see RoomStatus.outbox and `delivered`).
   */
  peers: number
  /** The peers, as peer id strings. */
  storedOn: string[]
  /** Resolves when every peer it was sent to has answered: the final count. */
  delivered: Promise<{ peers: number, storedOn: string[], refused: string[] }>
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
  /** A catch-up in progress: records received so far and the peer's item count (an upper bound). */
  syncing?: { peer: string, received: number, total: number }
  lastError?: string
  /** The last failed step with its stable error code (lastError in parts). */
  lastFailure?: { step: string, code: string, at: number }
  /** Records sent to peers and not yet acknowledged. */
  outbox: number
  /** Keys waiting to be published to the DHT. */
  dhtPending: number
}

/**
 * A key's current state: the winning version, plus every concurrent version
 * that lost (written without seeing the winner). Conflicts stay until a
 * write replaces them; any write through this API replaces all of them.
 */
export type KeyEntry = RoomEntry & { conflicts: RoomEntry[] }

export type RoomChange = KeyEntry & { source: 'local' | 'remote' }

export interface RoomSession {
  readonly roomId: string
  start(): Promise<void>
  put(key: string, value: unknown, options?: PutOptions): Promise<PutResult>
  get(key: string, options?: GetOptions): Promise<KeyEntry | undefined>
  delete(key: string, options?: Pick<PutOptions, 'quorum'>): Promise<PutResult>
  /** Announce this peer as holding `key` (a DHT provider record for its key id). */
  provide(key: string): Promise<{ peers: number }>
  /** Peers that announced holding `key`. */
  findProviders(key: string, options?: { timeout?: number }): Promise<string[]>
  /** Every key, sorted; keys whose winner is a deletion appear only while a conflicting value remains. */
  list(options?: { prefix?: string }): Promise<KeyEntry[]>
  watch(callback: (change: RoomChange) => void): () => void
  /**
   * The record store's member check (RecordAuthenticator) for this room's
   * records: one whose AEAD binds its body is opened instead of having its
   * signature checked, and the payload is kept for reads; undefined for
   * other rooms' records and format 1 (their signatures decide).
   */
  authenticate(record: VerifiedRecord): Promise<boolean> | undefined
  onStatus(callback: (status: RoomStatus) => void): () => void
  status(): RoomStatus
  /** Find and connect members now, then sync with everyone reachable. */
  refresh(): Promise<void>
  /** Record that a peer pushed or synced this room. */
  addMember(peer: PeerId): void
  /** Every record this session writes, as signed bytes (to hand to same-origin tabs). */
  onWrite(callback: (record: Uint8Array) => void): () => void
  /**
   * Take a record from outside the network (another tab of this browser).
   * Watchers hear about it even when it was already stored (tabs of one
   * profile share IndexedDB, so the writer tab stored it for us).
   */
  ingest(record: Uint8Array): Promise<void>
  close(): Promise<void>
}

const hex = (bytes: Uint8Array): string => toString(bytes, 'base16')

/** Where one write stands with the peers it was sent to. */
interface Delivery {
  storedOn: Set<string>
  refused: string[]
  done: Promise<{ peers: number, storedOn: string[], refused: string[] }>
  /** Resolves when `quorum` peers acknowledged, every peer answered, or the signal fired. */
  reached(quorum: number, signal: AbortSignal): Promise<void>
}

export function createRoomSession (init: RoomSessionInit): RoomSession {
  return new Session(init)
}

class Session implements RoomSession {
  readonly roomId: string
  readonly #init: RoomSessionInit
  readonly #node: RoomNode
  readonly #keys: RoomKeys
  /** Plaintexts already opened: a record is decrypted once, not on every read. */
  readonly #opened: OpenedCache = createOpenedCache()
  readonly #store: RecordStore
  readonly #clock: HybridClock
  readonly #log
  readonly #members = new Map<string, PeerId>()
  readonly #dialing = new Set<string>()
  /** When we learnt of each member we are not connected to yet (dial tie-break, see dialTurn). */
  readonly #firstSeen = new Map<string, number>()
  /** Members whose dial waits for the other side's turn (a timer is set). */
  readonly #yielding = new Set<string>()
  /** Members being probed now: the missed probes that drop each, and a way to shorten the wait. */
  readonly #probing = new Map<string, { allowed: number, cutShort(ms: number): void }>()
  readonly #watchers = new Set<(change: RoomChange) => void>()
  readonly #statusWatchers = new Set<(status: RoomStatus) => void>()
  readonly #writeWatchers = new Set<(record: Uint8Array) => void>()
  readonly #localWrites = new Set<string>()
  readonly #timers: Array<ReturnType<typeof setTimeout>> = []
  readonly #abort = new AbortController()
  readonly #cleanups: Array<() => void> = []
  #lastSync?: RoomStatus['lastSync']
  #lastError?: string
  #lastFailure?: RoomStatus['lastFailure']
  readonly #publisher: DhtPublisher
  #closed = false
  #startedAt = 0
  #discovering?: Promise<void>

  constructor (init: RoomSessionInit) {
    this.#init = init
    this.#node = init.node
    this.#keys = init.keys
    this.#store = init.store
    this.roomId = init.keys.roomIdText
    this.#clock = createHybridClock()
    this.#log = logger(`roomkv:room:${this.roomId.slice(0, 8)}`)
    this.#publisher = createDhtPublisher({
      dht: init.node.services.dht,
      canPublish: () => this.#node.getConnections().some(c => c.status === 'open' && c.limits == null)
    })
  }

  get #step (): number { return this.#init.stepTimeout ?? 5 * second }

  #signal (ms = this.#step): AbortSignal {
    return AbortSignal.any([this.#abort.signal, AbortSignal.timeout(ms)])
  }

  get #firstLookupDelay (): number { return this.#init.firstLookupDelay ?? 2 * second }

  async start (): Promise<void> {
    this.#startedAt = Date.now()
    this.#cleanups.push(this.#store.onRecord((record, heads) => { this.#onStored(record, heads) }))
    const onConnection = (): void => {
      if (this.#init.timeline != null && this.#directMembers().length > 0) this.#init.timeline.mark('direct')
      this.#publisher.kick()
      this.#emitStatus()
    }
    const onDisconnect = (evt: CustomEvent<PeerId>): void => {
      if (this.#isRelay(evt.detail)) {
        this.#lastError = 'relay connection lost'
        this.#lastFailure = { step: `relay ${evt.detail.toString().slice(-6)} connection`, code: 'ERR_CONNECTION_LOST', at: Date.now() }
      }
      // Every connection to a member is gone (its tab closed, its network
      // dropped): it leaves the member list at once. It is added again when
      // it reconnects or a relay lists it.
      const id = evt.detail.toString()
      if (this.#members.delete(id)) this.#log('member %p left', evt.detail)
      this.#firstSeen.delete(id)
      this.#emitStatus()
    }
    const onRelayConnect = (evt: CustomEvent<PeerId>): void => {
      // A relay (re)connected: catch up with it and push what we wrote while
      // it was away. Its answer to our hello lists the members; the DHT
      // lookup (for members on other relays) follows on its own schedule.
      if (this.#isRelay(evt.detail)) {
        // Session first: once the relay counts us as a member it forwards
        // every later write, and the sync after it covers everything before.
        const relay = evt.detail
        void this.#openSession(relay).then(async () => { await this.#syncWith(relay) })
      }
    }
    this.#node.addEventListener('connection:open', onConnection)
    this.#node.addEventListener('connection:close', onConnection)
    this.#node.addEventListener('peer:disconnect', onDisconnect)
    this.#node.addEventListener('peer:connect', onRelayConnect)
    const onSelfUpdate = (): void => {
      this.#announceSoon()
      // A new reservation makes us reachable: look for members now, unless
      // the join is still under way (the relay's member list covers it).
      if (this.status().direct === 0 && Date.now() - this.#startedAt >= this.#firstLookupDelay && !this.#holdDht()) void this.refresh()
    }
    this.#node.addEventListener('self:peer:update', onSelfUpdate)
    this.#cleanups.push(() => {
      this.#node.removeEventListener('connection:open', onConnection)
      this.#node.removeEventListener('connection:close', onConnection)
      this.#node.removeEventListener('peer:disconnect', onDisconnect)
      this.#node.removeEventListener('peer:connect', onRelayConnect)
      this.#node.removeEventListener('self:peer:update', onSelfUpdate)
    })
    // A relay answers our session hello with the room's members: dial them
    // at once, without waiting for a DHT lookup (the DHT stays the fallback).
    // Signals sealed with this room's keys are ours to open.
    const removeSignalRoom = this.#node.services.signals?.addRoom(this.#keys)
    if (removeSignalRoom != null) this.#cleanups.push(removeSignalRoom)
    this.#cleanups.push(this.#node.services.rooms.replication.onMembers((from, roomId, members) => {
      if (hex(roomId) !== hex(this.#keys.roomId) || !this.#isRelay(from)) return
      this.#init.timeline?.mark('membersKnown')
      this.#dialAnnounced(from, members)
    }))
    // A member's session stream ended: when the member is gone (its tab
    // closed and its data channels with it) the WebRTC connection itself
    // lingers until ICE gives up; ask at once instead.
    this.#cleanups.push(this.#node.services.rooms.onSessionEnd((peer) => {
      if (this.#members.has(peer.toString()) && !this.#closed) void this.#probe(peer, 1, HINT_PROBE_TIMEOUT)
    }))
    // A relay saw members' last session for the room end (their connection
    // to it is gone: tab closed or crashed). Gone for us too unless they
    // still answer over WebRTC (only their relay connection may have dropped).
    this.#cleanups.push(this.#node.services.rooms.onLeft((from, roomId, peers) => {
      if (hex(roomId) !== hex(this.#keys.roomId) || !this.#isRelay(from) || this.#closed) return
      for (const peer of peers) {
        const id = peer.toString()
        if (!this.#members.has(id)) continue
        if (this.#isDirect(peer)) {
          void this.#probe(peer, 1, HINT_PROBE_TIMEOUT)
        } else {
          // Nothing of ours reaches it but through relays: take the relay's word.
          this.#drop(peer)
        }
      }
    }))
    this.#every(this.#init.probeInterval ?? 2 * second, () => {
      for (const peer of this.#directMembers()) void this.#probe(peer, 2)
    })
    for (const relay of this.#connectedRelays()) {
      void this.#openSession(relay).then(async () => { await this.#syncWith(relay) })
    }
    this.#announceSoon()
    // Nothing in the join waits for the DHT: its first member lookup (for
    // members the relays did not list, e.g. on another relay) comes after
    // the join's own network work, not competing with it.
    this.#scheduleDiscovery(this.#firstLookupDelay)
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

  /** Watcher notifications, in merge order (decryption is asynchronous). */
  #notifying: Promise<void> = Promise.resolve()

  #onStored (record: VerifiedRecord, heads: VerifiedRecord[]): void {
    // Byte compares and no id text unless this tab wrote something: a
    // catch-up passes here once per record.
    if (!equals(record.roomId, this.#keys.roomId)) return
    this.#clock.observe(record.clock)
    const source = this.#localWrites.size > 0 && this.#localWrites.delete(hex(record.id)) ? 'local' : 'remote'
    // Nobody watching (a CLI writer, a relay-less import): no decryption at all.
    if (this.#watchers.size === 0) return
    const opening = this.#entry(heads)
    this.#notifying = this.#notifying.then(async () => {
      const entry = await opening
      if (entry == null) return
      for (const watcher of this.#watchers) {
        try {
          watcher({ ...entry, source })
        } catch (err) {
          this.#log.error('watcher failed: %e', err)
        }
      }
    })
  }

  /** Open a key's heads (winner first) into one entry; undefined if none opens. */
  async #entry (heads: VerifiedRecord[]): Promise<KeyEntry | undefined> {
    // One head (no conflict) is nearly every key: no array of promises for it.
    if (heads.length === 1) {
      const entry = await this.#open(heads[0])
      return entry == null ? undefined : { ...entry, conflicts: [] }
    }
    const opened = (await Promise.all(heads.map(async head => this.#open(head)))).filter((e): e is RoomEntry => e != null)
    if (opened.length === 0) return undefined
    return { ...opened[0], conflicts: opened.slice(1) }
  }

  authenticate (record: VerifiedRecord): Promise<boolean> | undefined {
    if (!bindsBody(record.body) || !equals(record.roomId, this.#keys.roomId)) return undefined
    return (this.#init.openPayload ?? openPayloadAsync)(this.#keys, record).then((payload) => {
      this.#opened.set(record.id, payload)
      return true
    // The tag checked but a payload rule is broken (a member sealed it by
    // hand): authentic, so kept like a signed one, and hidden when read.
    }, (err) => errorCode(err) !== 'ERR_DECRYPT')
  }

  /** A head opened, or undefined (logged) when it does not open. */
  async #open (head: VerifiedRecord): Promise<RoomEntry | undefined> {
    try {
      return await openRecordAsync(this.#keys, head, this.#opened, this.#init.openPayload)
    } catch (err) {
      this.#log.error('record %s does not open: %e', hex(head.id), err)
      return undefined
    }
  }

  // ---- writes ----

  async put (key: string, value: unknown, options: PutOptions = {}): Promise<PutResult> {
    return this.#write(key, { value, deleted: false, ttl: options.ttl }, options.quorum)
  }

  async delete (key: string, options: Pick<PutOptions, 'quorum'> = {}): Promise<PutResult> {
    return this.#write(key, { deleted: true }, options.quorum)
  }

  async #write (key: string, change: { value?: unknown, deleted: boolean, ttl?: number }, quorum = 0): Promise<PutResult> {
    validateKeyName(key)
    const keyId = keyIdFor(this.#keys, key)
    // Sealed inside the store's batch from the heads it reads anyway: a burst
    // of puts costs one read and one write transaction, and each write of a
    // key replaces every version held (the winner and its conflicts alike),
    // including the one written just before it.
    const merged = await this.#store.writeOwn(this.#keys.roomId, keyId, async (heads) => {
      const record = await sealRecordAsync(this.#keys, {
        key,
        value: change.value,
        deleted: change.deleted,
        clock: this.#clock.tick(),
        writer: this.#init.writer,
        expiresAt: change.ttl != null && change.ttl > 0 ? Date.now() + change.ttl : 0,
        ...writeContext(heads)
      })
      this.#localWrites.add(hex(record.id))
      return record
    })
    const { record } = merged
    for (const watcher of this.#writeWatchers) watcher(record.bytes)
    // The DHT copy (for non-members and other relays) goes out in the background.
    this.#publisher.publish(dhtKeyFor(this.#keys.roomId, keyId), record.bytes)
    const delivery = this.#deliver([record.bytes])
    const result: PutResult = { key, id: hex(record.id), peers: 0, storedOn: [], delivered: delivery.done }
    if (quorum <= 0) return result
    await delivery.reached(quorum, this.#signal())
    result.storedOn = [...delivery.storedOn]
    result.peers = result.storedOn.length
    if (result.peers < quorum) {
      const refusal = delivery.refused[0]
      const message = `"${key}" reached ${result.peers} of ${quorum} peers${refusal != null ? ` (refused: ${refusal})` : ''}; kept locally and synced when peers are reachable`
      // A peer's refusal travels back with its own code (ERR_ROOM_FULL...).
      const err = refusal != null && result.peers === 0 ? new RoomkvError(message, refusal) : new QuorumFailedError(message)
      throw Object.assign(err, { result })
    }
    return result
  }

  /**
   * Send records over the replication sessions to every relay and every
   * directly connected member. Relays are told which members we reached
   * ourselves, so they do not forward the same records to them again.
   */
  #deliver (records: Uint8Array[]): Delivery {
    const relays = this.#connectedRelays()
    const members = this.#directMembers()
    const storedOn = new Set<string>()
    const refused: string[] = []
    const waiters = new Set<() => void>()
    const answered = (): void => { for (const w of waiters) w() }
    const sends = [...relays.map(p => ({ peer: p, delivered: members })), ...members.map(p => ({ peer: p, delivered: [] as PeerId[] }))]
      .map(async ({ peer, delivered }) => {
        // The record stays queued for the peer however long it takes; this
        // write's report stops waiting after a while (a silent peer). Long
        // enough for a peer working through a burst of thousands of writes.
        let timer: ReturnType<typeof setTimeout> | undefined
        const answers = await Promise.race([
          this.#node.services.rooms.replication.send(peer, this.#keys.roomId, records, { delivered }),
          new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, 6 * this.#step) })
        ]).finally(() => { clearTimeout(timer) })
        if (answers == null) {
          answered()
          return
        }
        const refusal = answers.find(a => a.status === 'refused')
        if (refusal == null) storedOn.add(peer.toString())
        else {
          refused.push(refusal.code ?? 'ERR_UNKNOWN')
          this.#fail(`${this.#isRelay(peer) ? 'relay' : 'member'} ${peer.toString().slice(-6)} refused a write`, Object.assign(new Error(refusal.code), { code: refusal.code }))
        }
        answered()
      })
    let finished = false
    const done = Promise.allSettled(sends).then(() => {
      finished = true
      answered()
      return { peers: storedOn.size, storedOn: [...storedOn], refused }
    })
    return {
      storedOn,
      refused,
      done,
      reached: async (quorum, signal) => new Promise<void>((resolve) => {
        const check = (): void => {
          if (storedOn.size >= quorum || finished || signal.aborted) {
            waiters.delete(check)
            signal.removeEventListener('abort', check)
            resolve()
          }
        }
        waiters.add(check)
        signal.addEventListener('abort', check)
        check()
      })
    }
  }

  #isDirect (peer: PeerId): boolean {
    const connection = this.#connectionTo(peer)
    return connection != null && connection.limits == null
  }

  /** Members on a direct (unlimited) connection: the ones records and reads go to. */
  #directMembers (): PeerId[] {
    return [...this.#members.values()].filter(p => this.#isDirect(p))
  }

  /** A member is reachable directly: count it, open the session, catch up (in turn, see #syncWith). */
  async #joinMember (peer: PeerId): Promise<void> {
    this.#init.timeline?.mark('direct')
    this.#addMember(peer, false)
    await this.#openSession(peer)
    // Not awaited: a dial's bookkeeping (#dialing) ends now; refresh() waits for it (#syncOf).
    this.#catchUpWith(peer)
  }

  async #openSession (peer: PeerId): Promise<void> {
    if (this.#closed) return
    const opened = await this.#node.services.rooms.replication.open(peer, this.#keys.roomId, this.#signal())
    if (!opened) this.#log('no replication session with %p yet', peer)
  }

  // ---- reads ----

  async get (key: string, options: GetOptions = {}): Promise<KeyEntry | undefined> {
    validateKeyName(key)
    const keyId = keyIdFor(this.#keys, key)
    const local = await this.#store.heads(this.#keys.roomId, keyId)
    if (local.length > 0 && options.network !== true && options.quorum == null) return this.#visible(await this.#entry(local))
    // Relays and direct members first, over the open sessions (one round
    // trip); the Kademlia query for anyone else, or when they fall short.
    const need = Math.max(1, options.quorum ?? 1)
    let answers = await this.#sessionGet(keyId, need)
    if (answers < need) answers = Math.max(answers, (await this.#dhtGet(keyId)).answers)
    if (options.quorum != null && answers < options.quorum) {
      throw new QuorumFailedError(`"${key}": ${answers} of ${options.quorum} peers answered`)
    }
    return this.#visible(await this.#entry(await this.#store.heads(this.#keys.roomId, keyId)))
  }

  /** A deletion that won hides the key, unless a conflicting value is still there to see. */
  #visible (entry: KeyEntry | undefined): KeyEntry | undefined {
    if (entry == null) return undefined
    return entry.deleted && !entry.conflicts.some(c => !c.deleted) ? undefined : entry
  }

  /**
   * Ask relays and direct members for the key's heads and merge what they
   * hold. Resolves as soon as `need` peers answered with a valid version
   * (the first answer, without a quorum), or when all have answered.
   * Returns how many answered with a version by then.
   */
  async #sessionGet (keyId: Uint8Array, need: number): Promise<number> {
    const peers = [...this.#connectedRelays(), ...this.#directMembers()]
    if (peers.length === 0) return 0
    return new Promise<number>((resolve) => {
      let answers = 0
      let pending = peers.length
      for (const peer of peers) {
        void (async () => {
          try {
            const records = await this.#node.services.rooms.replication.query(peer, this.#keys.roomId, [keyId], this.#signal())
            if (records.length === 0) return
            const merged = await this.#store.mergeMany(records, { roomId: this.#keys.roomId, keyId })
            if (merged.some(m => !(m instanceof Error))) {
              answers++
              if (answers >= need) resolve(answers)
            }
          } catch {} finally {
            if (--pending === 0) resolve(answers)
          }
        })()
      }
    })
  }

  /** DHT GET: every peer's version (ours included), the winner merged locally. */
  async #dhtGet (keyId: Uint8Array): Promise<{ winner?: VerifiedRecord, answers: number }> {
    const values: Uint8Array[] = []
    const from = new Set<string>()
    try {
      // kad-dht yields only the best VALUE; each peer's own answer arrives as
      // a GET_VALUE PEER_RESPONSE carrying its record.
      for await (const event of this.#node.services.dht.get(dhtKeyFor(this.#keys.roomId, keyId), { signal: this.#signal() })) {
        if (event.name === 'VALUE') values.push(event.value)
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'GET_VALUE' && event.record != null) {
          values.push(event.record.value)
          from.add(event.from.toString())
        }
      }
    } catch (err) {
      this.#log('dht get failed: %e', err)
    }
    if (values.length === 0) return { answers: 0 }
    const winner = values[selectRecord(values, { roomId: this.#keys.roomId, keyId })]
    try {
      const merged = await this.#store.merge(winner, { roomId: this.#keys.roomId, keyId })
      return { winner: merged.winner, answers: from.size }
    } catch (err) {
      this.#log('dht returned an invalid record: %e', err)
      return { answers: from.size }
    }
  }

  async provide (key: string): Promise<{ peers: number }> {
    validateKeyName(key)
    let peers = 0
    for await (const event of this.#node.services.dht.provide(keyCid(this.#keys, key), { signal: this.#signal(10 * second) })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') peers++
    }
    return { peers }
  }

  async findProviders (key: string, options: { timeout?: number } = {}): Promise<string[]> {
    validateKeyName(key)
    const found = new Set<string>()
    try {
      for await (const event of this.#node.services.dht.findProviders(keyCid(this.#keys, key), { signal: this.#signal(options.timeout ?? 8 * second) })) {
        if (event.name === 'PROVIDER') for (const p of event.providers) found.add(p.id.toString())
      }
    } catch (err) {
      if (found.size === 0) this.#log('find providers failed: %e', err)
    }
    return [...found]
  }

  async list (options: { prefix?: string } = {}): Promise<KeyEntry[]> {
    const entries: KeyEntry[] = []
    let pending: VerifiedRecord[][] = []
    // Decrypt many keys at once: native AES-GCM calls overlap.
    const flush = async (): Promise<void> => {
      for (const opened of await Promise.all(pending.map(async heads => this.#entry(heads)))) {
        const entry = this.#visible(opened)
        if (entry != null && (options.prefix == null || entry.key.startsWith(options.prefix))) entries.push(entry)
      }
      pending = []
    }
    // A big room is read in slices with turns of the event loop between
    // them: listing 100,000 keys was one 1.8 s task that froze a tab.
    let sliceStart = Date.now()
    for await (const heads of this.#store.keys(this.#keys.roomId)) {
      pending.push(heads)
      if (pending.length >= 256) {
        await flush()
        if (Date.now() - sliceStart > LIST_SLICE_MS) {
          await yieldToEventLoop()
          sliceStart = Date.now()
        }
      }
    }
    await flush()
    return entries.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  }

  onWrite (callback: (record: Uint8Array) => void): () => void {
    this.#writeWatchers.add(callback)
    return () => { this.#writeWatchers.delete(callback) }
  }

  async ingest (record: Uint8Array): Promise<void> {
    const merged = await this.#store.merge(record, { roomId: this.#keys.roomId })
    if (merged.status === 'stored') return // the store's listener told the watchers
    const entry = await this.#entry(merged.heads)
    if (entry != null) for (const watcher of this.#watchers) watcher({ ...entry, source: 'remote' })
  }

  watch (callback: (change: RoomChange) => void): () => void {
    this.#watchers.add(callback)
    return () => { this.#watchers.delete(callback) }
  }

  // ---- members ----

  addMember (peer: PeerId): void {
    this.#addMember(peer, true)
  }

  /**
   * A member that reached us (its push or sync) is synced with in turn:
   * it pushes back only a little of what we lack (MEMBER_PUSH_BACK), so we
   * pull the rest ourselves.
   */
  #addMember (peer: PeerId, sync: boolean): void {
    if (peer.equals(this.#node.peerId) || this.#isRelay(peer) || this.#isServer(peer)) return
    if (!this.#members.has(peer.toString())) {
      this.#members.set(peer.toString(), peer)
      const direct = this.#isDirect(peer)
      if (direct) this.#init.timeline?.mark('direct')
      this.#log('member %p joined', peer)
      this.#emitStatus()
      if (direct && sync) this.#catchUpWith(peer)
    }
  }

  #announceTimer?: ReturnType<typeof setTimeout>
  #announceSoon (delay = 300): void {
    clearTimeout(this.#announceTimer)
    // Addresses change in bursts (reservation, WebRTC listener): announce once they settle.
    this.#announceTimer = setTimeout(() => { void this.#announce() }, delay)
  }

  /**
   * Whether DHT walks wait: kad-dht reaches members too (tabs are DHT
   * servers) and dials them over WebRTC itself, a second connection while
   * a member's is under way. Only early in the join, where that happens.
   */
  #holdDht (): boolean {
    return Date.now() - this.#startedAt < DHT_MAX_HOLD && this.#connectingMembers()
  }

  /** A member's WebRTC connection is under way: we dial, wait for its dial, or its handshake is arriving. */
  #connectingMembers (): boolean {
    if (this.#dialing.size > 0 || this.#yielding.size > 0) return true
    return this.#node.getConnections().some(c => c.status === 'open' && c.limits != null && !this.#isRelay(c.remotePeer) && !this.#isDirect(c.remotePeer))
  }

  async #announce (): Promise<void> {
    if (this.#closed) return
    // The reservation service knows at once; the node's address list follows an event later.
    const hasCircuit = this.#connectedRelays().some(relay => this.#node.services.reservations?.has(relay) === true) ||
      this.#node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
    if (!hasCircuit) return // nobody could dial us yet; self:peer:update brings us back
    // The DHT reaches members too (tabs are DHT servers), and kad-dht dials
    // them over WebRTC itself: while a member's WebRTC connection is being
    // made (by us or by it) that would be a second one. Members the relays
    // listed are being connected already; the provider record can wait.
    if (this.#holdDht()) {
      this.#announceSoon(500)
      return
    }
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
      // Like the announcement: no DHT walk (which dials members itself)
      // while a member's WebRTC connection is under way.
      if (this.#holdDht()) {
        this.#scheduleDiscovery(500)
        return
      }
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
    const others = found.filter(p => !p.id.equals(this.#node.peerId))
    await Promise.allSettled(others.map(async (p) => { await this.#connectMember(p.id, p.multiaddrs) }))
    // "then sync with everyone reachable": the syncs those joins started.
    await Promise.allSettled(others.map(async (p) => { await this.#syncOf.get(p.id.toString()) }))
  }

  /**
   * Members a relay listed, in answer to our session hello or as newcomers
   * since: each is reachable through that relay's circuit once it holds a
   * reservation there. Who dials is dialTurn's rule, as for DHT-found members.
   */
  #dialAnnounced (relay: PeerId, members: PeerId[]): void {
    // The dialer needs no reservation of its own, only WebRTC (tabs have it; Node peers do not).
    const canWebRtc = (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection != null
    const connection = this.#connectionTo(relay)
    if (!canWebRtc || connection == null) return
    const base = connection.remoteAddr.toString().replace(/\/p2p\/[^/]+$/, '')
    for (const member of members) {
      // Relays are members of each other's rooms (federation); they take no WebRTC.
      if (member.equals(this.#node.peerId) || this.#isRelay(member)) continue
      const addr = multiaddr(`${base}/p2p/${relay.toString()}/p2p-circuit/webrtc/p2p/${member.toString()}`)
      // The dial is signalled through this relay's session when it can be (no circuit needed).
      this.#node.services.signals?.route(member, this.#keys.roomId, relay)
      // A newcomer's reservation may be a moment away: a refusal is worth a few more tries.
      void this.#connectMember(member, [addr], { attempts: 6 })
    }
  }

  /**
   * A relay, not a tab: a federated relay holds sessions in rooms like a
   * member, and a relay may list it. Known by its protocols once identify
   * ran (kad-dht queries reach other relays too), or by an address of its
   * own: tabs and Node peers listen on nothing but relay circuits and WebRTC.
   */
  async #isKnownRelay (peer: PeerId): Promise<boolean> {
    if (this.#isRelay(peer) || this.#isServer(peer)) return true
    try {
      const known = await this.#node.peerStore.get(peer)
      return known.protocols.includes(CIRCUIT_HOP) || known.addresses.some(({ multiaddr }) => !isMemberAddress(multiaddr.toString()))
    } catch {
      return false // never heard of: not identified as a relay
    }
  }

  /** Connected on an address of its own (not WebRTC, not a circuit): a server, i.e. a relay. */
  #isServer (peer: PeerId): boolean {
    return this.#node.getConnections(peer).some(c => c.status === 'open' && !isMemberAddress(c.remoteAddr.toString()))
  }

  /**
   * Dial a member over WebRTC, when it is our turn (dialTurn): one
   * RTCPeerConnection per pair. When it is the other side's, check again
   * once its head start is over and dial only if nothing connected.
   */
  async #connectMember (peer: PeerId, addrs: Multiaddr[], options: { attempts?: number } = {}): Promise<void> {
    const id = peer.toString()
    // A relay may be connected directly (kad-dht reached it): still no member.
    if (await this.#isKnownRelay(peer)) return
    if (this.#isDirect(peer)) {
      if (!this.#members.has(id)) await this.#joinMember(peer)
      return
    }
    if (this.#dialing.has(id) || this.#yielding.has(id) || this.#closed) return
    const webrtc = addrs.filter(ma => /\/webrtc(\/|$)/.test(ma.toString()))
    if (webrtc.length === 0) return
    if (!this.#firstSeen.has(id)) {
      if (this.#firstSeen.size > 1000) this.#firstSeen.clear()
      this.#firstSeen.set(id, Date.now())
    }
    const turn = dialTurn({
      self: this.#node.peerId.toString(),
      peer: id,
      waited: Date.now() - (this.#firstSeen.get(id) ?? Date.now()),
      // Its dial already reached us (a connection, or its offer through signalling): let it finish.
      inbound: this.#node.getConnections(peer).some(c => c.direction === 'inbound' && c.status === 'open') ||
        this.#node.services.signals?.incomingFrom(peer) === true,
      grace: this.#init.dialYield ?? DIAL_YIELD
    })
    if (!turn.dial) {
      this.#yielding.add(id)
      const timer = setTimeout(() => {
        this.#yielding.delete(id)
        void this.#connectMember(peer, addrs, options)
      }, turn.retryIn)
      this.#timers.push(timer)
      return
    }
    this.#dialing.add(id)
    try {
      const attempts = options.attempts ?? this.#init.dialAttempts ?? 3
      const started = Date.now()
      let unreserved = false
      for (let attempt = 1; attempt <= attempts && !this.#closed; attempt++) {
        // Back off between tries (with jitter): a quick refusal is often the
        // other side dialling us. A member that holds no reservation yet (a
        // newcomer whose hello beat its reservation) is tried again soon and
        // often, without using up tries: each costs one relay round trip.
        const pause = unreserved ? NO_RESERVATION_RETRY : 150 * 2 ** (attempt - 2)
        if (attempt > 1 || unreserved) await new Promise(resolve => setTimeout(resolve, pause * (0.75 + Math.random() / 2)))
        if (this.#isDirect(peer)) {
          await this.#joinMember(peer)
          return
        }
        // What a relay listed may turn out to be another relay (its DHT answers came since).
        if ((attempt > 1 || unreserved) && await this.#isKnownRelay(peer)) return
        try {
          await this.#node.dial(webrtc, { signal: this.#signal(this.#init.dialTimeout ?? 6 * second) })
          await this.#joinMember(peer)
          return
        } catch (err) {
          unreserved = mentions(err, 'NO_RESERVATION') && Date.now() - started < NO_RESERVATION_WAIT
          if (unreserved) {
            attempt--
            continue
          }
          this.#log('webrtc dial %p attempt %d/%d failed: %e', peer, attempt, attempts, err)
          if (attempt === attempts) this.#fail(`connecting to member ${id.slice(-6)} over WebRTC`, err)
        }
      }
    } finally {
      this.#dialing.delete(id)
    }
  }

  /**
   * Ask a direct member whether it is still there (a ping on its direct
   * connection); after `allowed` missed probes in a row it is dropped (see
   * #drop). A member that is alive after all (a long stall) is found again
   * through a relay's member list or the DHT. One miss is enough after its
   * session ended or its relay said it left (strong evidence the tab is
   * gone); two otherwise, so a busy member is not dropped for one late answer.
   */
  async #probe (peer: PeerId, allowed: number, timeout = this.#init.probeTimeout ?? 2 * second): Promise<void> {
    const id = peer.toString()
    const running = this.#probing.get(id)
    if (running != null) {
      // A stronger hint (its session ended, its relay says it left) while a
      // routine probe runs: fewer misses allowed, and no longer a wait.
      running.allowed = Math.min(running.allowed, allowed)
      running.cutShort(timeout)
      return
    }
    if (!this.#isDirect(peer)) return
    let controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    let deadline = 0
    const arm = (ms: number): void => {
      clearTimeout(timer)
      deadline = Date.now() + ms
      const current = controller
      timer = setTimeout(() => { current.abort(new Error('Probe timed out')) }, ms)
    }
    const state = {
      allowed,
      cutShort: (ms: number) => { if (Date.now() + ms < deadline) arm(ms) }
    }
    this.#probing.set(id, state)
    try {
      for (let missed = 1; ; missed++) {
        controller = new AbortController()
        arm(timeout)
        try {
          await this.#node.services.rooms.probe(peer, AbortSignal.any([this.#abort.signal, controller.signal]))
          return
        } catch (err) {
          if (this.#closed || !this.#members.has(id)) return
          if (missed < state.allowed) continue
          this.#log('member %p does not answer (%d probes): %e', peer, missed, err)
          this.#drop(peer)
          return
        }
      }
    } finally {
      clearTimeout(timer)
      this.#probing.delete(id)
    }
  }

  /**
   * A member is gone: out of the member list now, and every connection to
   * it closed (a dead WebRTC connection would linger for half a minute; its
   * graceful close may take as long, so it is not waited for).
   */
  #drop (peer: PeerId): void {
    if (this.#members.delete(peer.toString())) {
      this.#log('member %p left', peer)
      this.#emitStatus()
    }
    void this.#node.hangUp(peer).catch(() => {})
  }

  /**
   * Sync with a peer, one sync at a time: a member that connects while a
   * relay's catch-up streams in waits for it, then finds little or nothing
   * missing. Run side by side, both sent the whole room (a tab joining a
   * 10,000-key room with a member online received 20,000 records, half of
   * them again from the member). If the running one fails (its peer is slow
   * to the point of timing out, or gone), the next one catches up instead.
   * A peer already waiting for its turn is not queued twice.
   */
  async #syncWith (peer: PeerId): Promise<void> {
    const id = peer.toString()
    if (this.#closed) return
    const latest = this.#syncOf.get(id)
    if (latest != null && this.#syncWaiting.has(id)) return await latest
    const previous = this.#syncTurns
    const turn = (async () => {
      // A turn waits SYNC_TURN_WAIT at most: a peer that trickles its
      // frames (each read may take the read timeout) must not hold every
      // other sync for the exchange's 5 minutes.
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([previous, new Promise(resolve => { timer = setTimeout(resolve, SYNC_TURN_WAIT) })])
      clearTimeout(timer)
      // Never two at once with the same peer, whatever the wait: the second
      // would stream what the first is still sending (anti-entropy's tick
      // during a long catch-up).
      await latest
      this.#syncWaiting.delete(id)
      // Gone while it waited (a member dropped, a relay disconnected): no
      // dial from here (the sync's stream would dial it); it is synced
      // again when it comes back.
      if (this.#closed || !this.#node.getConnections(peer).some(c => c.status === 'open')) return
      await this.#syncNow(peer)
    })()
    this.#syncOf.set(id, turn)
    this.#syncWaiting.add(id)
    this.#syncTurns = turn.catch(() => {})
    try {
      await turn
    } finally {
      if (this.#syncOf.get(id) === turn) this.#syncOf.delete(id)
    }
  }

  /**
   * A member just became reachable: sync with it unless a sync with it is
   * already waiting or running. Its push and our dial both announce it,
   * moments apart; a second sync right after the first found nothing new
   * but pushed it up to MEMBER_PUSH_BACK records again.
   */
  #catchUpWith (peer: PeerId): void {
    if (!this.#syncOf.has(peer.toString())) void this.#syncWith(peer)
  }

  #syncTurns: Promise<void> = Promise.resolve()
  /** Each peer's latest sync turn, waiting or running, until it ends (#syncNow never rejects). */
  #syncOf = new Map<string, Promise<void>>()
  /** Peers whose latest turn has not started yet: a second request shares it. */
  #syncWaiting = new Set<string>()

  async #syncNow (peer: PeerId): Promise<void> {
    if (this.#closed) return
    try {
      // The exchange bounds itself (every read, and 5 min in all); a big
      // room's catch-up on a slow device must not be cut at a minute.
      const result = await this.#node.services.rooms.sync(peer, this.#keys.roomId, {
        signal: this.#signal(5 * 60 * second),
        // A member pulls what it lacks from us itself (#addMember); a relay does not.
        maxPushBack: this.#isRelay(peer) ? undefined : MEMBER_PUSH_BACK,
        onProgress: ({ received, total }) => {
          this.#syncing = { peer: peer.toString(), received, total }
          // At most a few status updates a second while frames stream in.
          if (Date.now() - this.#syncingShownAt >= 250) {
            this.#syncingShownAt = Date.now()
            this.#emitStatus()
          }
        }
      })
      this.#syncing = undefined
      this.#lastSync = { at: Date.now(), peer: peer.toString(), received: result.received, sent: result.sent }
      this.#init.timeline?.mark('synced')
      this.#log('synced with %p: received %d (%d new), sent %d', peer, result.received, result.stored, result.sent)
      this.#emitStatus()
    } catch (err) {
      this.#syncing = undefined
      this.#fail(`syncing with ${peer.toString().slice(-6)}`, err)
    }
  }

  #syncing?: RoomStatus['syncing']
  #syncingShownAt = 0

  async #antiEntropy (): Promise<void> {
    const relays = this.#connectedRelays()
    const members = this.#directMembers()
    const pick = <T>(list: T[]): T | undefined => list[Math.floor(Math.random() * list.length)]
    const targets = [pick(relays), pick(members)].filter((p): p is PeerId => p != null)
    await Promise.allSettled(targets.map(async p => { await this.#syncWith(p) }))
  }

  #fail (step: string, err: unknown): void {
    if (this.#closed) return
    this.#lastError = `${step}: ${errorCode(err)}`
    this.#lastFailure = { step, code: errorCode(err), at: Date.now() }
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
    // The reservation service knows at once; the node's address list follows an event later.
    const hasCircuit = this.#connectedRelays().some(relay => this.#node.services.reservations?.has(relay) === true) ||
      this.#node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
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
      syncing: this.#syncing,
      lastError: this.#lastError,
      lastFailure: this.#lastFailure,
      outbox: this.#node.services.rooms.replication.backlog(this.#keys.roomId),
      dhtPending: this.#publisher.pending()
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
    this.#publisher.stop()
    clearTimeout(this.#announceTimer)
    for (const timer of this.#timers) { clearTimeout(timer); clearInterval(timer) }
    for (const cleanup of this.#cleanups) cleanup()
    this.#watchers.clear()
    this.#statusWatchers.clear()
    this.#writeWatchers.clear()
    await this.#discovering?.catch(() => {})
  }
}
