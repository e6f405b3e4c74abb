/**
 * The roomkv wire protocols as a libp2p service: replication sessions (live
 * updates, see replication.ts) and sync (catch-up by range-based set
 * reconciliation, see shared/sync/exchange.ts). Runs
 * unchanged on the relay, in tabs and in Node peers; all of them serve any
 * room whose records they hold.
 */
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, Startable, Stream, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { equals, toString } from 'uint8arrays'
import { Uint8ArrayList } from 'uint8arraylist'
import { REPLICATE_PROTOCOL, ROOM_ID_BYTES, SIGNAL_CAPABILITY, STREAM_READ_TIMEOUT, SYNC_PROTOCOL } from '../constants.ts'
import { ProtocolError, RateLimitedError, RoomkvError, errorCode } from '../errors.ts'
import { ReplicateFrame } from '../proto/protocol.ts'
import { createRateLimiter, type RateLimiter } from '../rate-limit.ts'
import type { RecordStore } from '../record-store.ts'
import { askSync, serveSync, type SyncProgress } from '../sync/exchange.ts'
import { boundedLengthDecoder, createReplication, encodeReplicateFrame, type Admit, type Delivery, type Replication } from './replication.ts'

/**
 * A relay tells a room's members that members left (their last session for
 * the room ended: tab closed or crashed, its connection to the relay gone).
 * One frame per stream, a ReplicateFrame with `roomId` and `members` (the
 * peers that left), then the stream ends. See docs/protocol.md.
 */
export const LEFT_PROTOCOL = '/roomkv/left/1.0.0'
/** What a relay serves: a peer whose identify lists it is a relay, not a member to tell or list. */
const CIRCUIT_HOP = '/libp2p/circuit/relay/0.2.0/hop'
/** Relays remembered as such (a deployment has a handful). */
const MAX_KNOWN_RELAYS = 1024
/** libp2p's ping (identify-listed by every roomkv node), used to probe members. */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
/** Peers named in one notice. */
const MAX_LEFT_PEERS = 64
/**
 * Members told of one room's leaves, the most recent: a peer that joins and
 * leaves again and again costs each batch this many streams at most (the
 * others find out by their own pings).
 */
const MAX_LEFT_RECIPIENTS = 256

export type { SyncProgress } from '../sync/exchange.ts'

export interface RoomProtocolInit {
  store: RecordStore
  /** Charge each inbound batch of records (per peer and per IP); default: no budget. */
  admit?: Admit
  /** Charge the bytes a sync serves to the asker; throws (RateLimitedError) to stop serving. Default: no budget. */
  admitRead?: Admit
  /** Charge a sender for records that failed verification. */
  penalize?(peer: PeerId, connection: Connection, badRecords: number): void
  /** Replication sessions one peer may hold (one per room). @default 64 */
  maxSessionsPerPeer?: number
  /** Sessions kept per room (the members a relay forwards to). @default 1,024 */
  maxSessionsPerRoom?: number
  /**
   * Answer each session hello with the room's members, and tell the
   * remaining members when one leaves (LEFT_PROTOCOL): relays. @default false
   */
  announceMembers?: boolean
  /**
   * Pass sealed WebRTC signals on between members' sessions, and list
   * SIGNAL_CAPABILITY in identify so members know (relays). @default false
   */
  passSignals?: boolean
  /** Say in session hellos that we take signals (tabs, which have WebRTC). @default false */
  takesSignals?: boolean
  /** Leaves in a room within this are told in one notice (relays). @default 100 ms */
  leftBatchDelay?: number
  /** Sync requests one peer (and one IP) may send a minute. @default 60 */
  syncsPerMinute?: number
  /** The address a connection comes from, to charge sync limits per IP too. */
  ipOf?(connection: Connection): string | undefined
  /** Every read on a stream times out after this. @default STREAM_READ_TIMEOUT (10 s) */
  readTimeout?: number
  /** @default 64 */
  maxInboundStreams?: number
  /**
   * Limited (relayed) connections carry at most 128 KiB / 2 min; room
   * traffic waits for a direct connection instead. @default false
   */
  runOnLimitedConnection?: boolean
  /** Told about every peer that pushed or synced a room, so members find each other. */
  onRoomPeer?(peer: PeerId, roomId: Uint8Array): void
  /** Told about every rejected record or request, by error code. */
  onRejected?(code: string, peer: PeerId): void
  /** Told about every request served. */
  onServed?(kind: 'push' | 'sync', peer: PeerId): void
  /**
   * Told about records a peer sent that were new here, with the peers the
   * sender delivered them to itself (a relay forwards to the others).
   */
  onPushed?(peer: PeerId, roomId: Uint8Array, records: Uint8Array[], delivered: PeerId[]): void
}

export interface RoomProtocolComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
  /** Identify results tell relays apart from members (relays only). */
  events?: TypedEventTarget<Libp2pEvents>
}

export interface PushResult {
  stored: number
  known: number
  rejected: number
}

export interface SyncResult {
  /** Records received from the peer. */
  received: number
  /** Of those, the ones that changed our state. */
  stored: number
  /** Records of ours the peer lacked, pushed back to it (and taken). */
  sent: number
  /** Reconciliation rounds (queries sent). */
  rounds?: number
  /** Bytes of sync messages sent and received, records pushed back not included. */
  bytesSent?: number
  bytesReceived?: number
}

export interface SyncOptions {
  signal?: AbortSignal
  /** Told after every frame of records: received so far, and the peer's item count (an upper bound). */
  onProgress?(progress: SyncProgress): void
  /** Records pushed back to the peer at most (see AskInit.maxPushBack). @default unlimited */
  maxPushBack?: number
}

export interface RoomProtocol {
  /** Replication sessions: send records and get per-record answers, see replication.ts. */
  readonly replication: Replication
  /**
   * Send records over the room's session with the peer and wait for its
   * answers, summed up. Throws ProtocolError when the peer refused the whole
   * batch (e.g. `Peer refused push: ERR_RATE_LIMITED`).
   */
  push(peer: PeerId, roomId: Uint8Array, records: Uint8Array[], options?: { signal?: AbortSignal }): Promise<PushResult>
  /**
   * Catch up with a peer: reconcile the room's heads, merge what it has and
   * we lack, push back what we have and it lacks. Throws ProtocolError with
   * `refusal` set when the peer refused (ERR_RATE_LIMITED, ERR_SYNC_LIMIT...).
   */
  sync(peer: PeerId, roomId: Uint8Array, options?: SyncOptions): Promise<SyncResult>
  /**
   * Whether the peer still answers on its direct connection: a ping round
   * trip. Resolves when it answered, throws when it did not before the
   * signal (a closed or crashed peer whose connection has not noticed yet:
   * WebRTC has no close signal for a vanished peer).
   */
  probe(peer: PeerId, signal: AbortSignal): Promise<void>
  /**
   * Told whenever a replication stream with a peer ends, for whatever
   * reason (the peer closed its tab, a data channel died, a session was
   * replaced): a hint to check whether the peer is still there.
   */
  onSessionEnd(listener: (peer: PeerId) => void): () => void
  /**
   * Told when a peer (a relay) says that members of a room left it. A hint,
   * not proof: the member may still be reachable over WebRTC.
   */
  onLeft(listener: (from: PeerId, roomId: Uint8Array, peers: PeerId[]) => void): () => void
  /**
   * Relays: whether the peer is another relay (identify listed the circuit
   * hop): federated relays hold sessions in rooms like members but are none.
   */
  isRelay(peer: PeerId): boolean
}

/** Refusals a responder sends on the stream before ending it cleanly (counted, not a broken stream). */
const SYNC_REFUSALS = new Set(['ERR_RATE_LIMITED', 'ERR_SYNC_MALFORMED', 'ERR_SYNC_LIMIT', 'ERR_PROTOCOL'])

export function roomProtocol (init: RoomProtocolInit): (components: RoomProtocolComponents) => RoomProtocol & Startable {
  return (components) => new RoomProtocolService(components, init)
}

class RoomProtocolService implements RoomProtocol, Startable {
  readonly #components: RoomProtocolComponents
  readonly #store: RecordStore
  readonly #log: Logger
  readonly #init: RoomProtocolInit
  readonly #readTimeout: number
  readonly #syncLimit: RateLimiter
  /** Syncs per IP: ten peers' worth (a NAT, a classroom); the bytes they cost are charged by `admitRead`. */
  readonly #syncLimitPerIp: RateLimiter
  readonly replication: Replication
  readonly #sessionEndListeners = new Set<(peer: PeerId) => void>()
  readonly #leftListeners = new Set<(from: PeerId, roomId: Uint8Array, peers: PeerId[]) => void>()
  /** Relays: rooms each peer holds a session for (inbound), to tell the others when it leaves. */
  readonly #roomsOf = new Map<string, Map<string, Uint8Array>>()
  /** Relays: the other relays seen (identify lists the circuit hop), by peer id. */
  readonly #relays = new Set<string>()
  readonly #onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    const id = evt.detail.peerId.toString()
    if (!evt.detail.protocols.includes(CIRCUIT_HOP)) {
      this.#relays.delete(id)
      return
    }
    if (this.#relays.size >= MAX_KNOWN_RELAYS) this.#relays.delete(this.#relays.values().next().value as string)
    this.#relays.add(id)
  }

  /** Relays: the other relays seen (identify lists the circuit hop, as federated relays do). */
  isRelay (peer: PeerId): boolean {
    return this.#relays.has(peer.toString())
  }

  /** Relays: peers whose session ended since the last check (batched). */
  readonly #suspects = new Map<string, PeerId>()
  #leftTimer?: ReturnType<typeof setTimeout>
  #stopped = false

  constructor (components: RoomProtocolComponents, init: RoomProtocolInit) {
    this.#components = components
    this.#init = init
    this.#store = init.store
    this.#log = components.logger.forComponent('roomkv:protocol')
    this.#readTimeout = init.readTimeout ?? STREAM_READ_TIMEOUT
    // Bursts of a tenth of the minute's allowance: a joining tab syncs with
    // a few peers at once.
    const syncs = init.syncsPerMinute ?? 60
    this.#syncLimit = createRateLimiter({ perMinute: syncs, burst: Math.max(1, Math.ceil(syncs / 6)) })
    this.#syncLimitPerIp = createRateLimiter({ perMinute: syncs * 10, burst: Math.max(1, Math.ceil(syncs * 10 / 6)) })
    this.replication = createReplication({
      store: init.store,
      admit: init.admit,
      penalize: init.penalize,
      maxSessionsPerPeer: init.maxSessionsPerPeer,
      maxSessionsPerRoom: init.maxSessionsPerRoom,
      announceMembers: init.announceMembers,
      passSignals: init.passSignals,
      takesSignals: init.takesSignals,
      isRelay: (peer) => this.isRelay(peer),
      helloTimeout: this.#readTimeout
    }, {
      onRoomPeer: (peer, roomId) => {
        this.#noteMember(peer, roomId)
        init.onRoomPeer?.(peer, roomId)
      },
      onRejected: (code, peer) => { init.onRejected?.(code, peer) },
      onServed: (peer) => { init.onServed?.('push', peer) },
      onStored: (peer, roomId, records, delivered) => { init.onPushed?.(peer, roomId, records.map(r => r.bytes), delivered) }
    }, async (peer, signal) => {
      const connection = this.#connectionTo(peer)
      if (connection == null) throw new ProtocolError('No direct connection to this peer')
      const stream = await connection.newStream(REPLICATE_PROTOCOL, { signal, runOnLimitedConnection: this.#init.runOnLimitedConnection ?? false })
      this.#watchSession(stream, peer)
      return { stream, connection }
    })
  }

  /** An open connection to the peer, unlimited ones first (bulk data never goes over a relayed circuit). */
  #connectionTo (peer: PeerId): Connection | undefined {
    const open = this.#components.connectionManager.getConnections(peer).filter(c => c.status === 'open')
    return open.find(c => c.limits == null) ?? ((this.#init.runOnLimitedConnection ?? false) ? open[0] : undefined)
  }

  async start (): Promise<void> {
    this.#stopped = false
    if (this.#init.announceMembers === true) this.#components.events?.addEventListener('peer:identify', this.#onIdentify)
    const options = {
      maxInboundStreams: this.#init.maxInboundStreams ?? 64,
      runOnLimitedConnection: this.#init.runOnLimitedConnection ?? false
    }
    await this.#components.registrar.handle(REPLICATE_PROTOCOL, (stream, connection) => {
      this.#watchSession(stream, connection.remotePeer)
      this.replication.handle(stream, connection).catch((err) => { this.#log('session with %p failed: %e', connection.remotePeer, err) })
    }, options)
    await this.#components.registrar.handle(SYNC_PROTOCOL, (stream, connection) => this.#serve(stream, connection, this.#handleSync.bind(this)), options)
    // One short frame per notice; a few at once is plenty.
    await this.#components.registrar.handle(LEFT_PROTOCOL, (stream, connection) => this.#serve(stream, connection, this.#handleLeft.bind(this)), { ...options, maxInboundStreams: 4 })
    // A capability, not a stream protocol: listed in identify, no stream is served.
    if (this.#init.passSignals === true) {
      await this.#components.registrar.handle(SIGNAL_CAPABILITY, (stream) => { stream.abort(new ProtocolError('Signals travel in replication sessions')) }, { maxInboundStreams: 1 })
    }
  }

  #watchSession (stream: Stream, peer: PeerId): void {
    if (this.#sessionEndListeners.size === 0 && this.#init.announceMembers !== true) return
    stream.addEventListener('close', () => {
      for (const listener of this.#sessionEndListeners) listener(peer)
      if (this.#init.announceMembers === true) this.#checkLeft(peer)
    }, { once: true })
  }

  #noteMember (peer: PeerId, roomId: Uint8Array): void {
    if (this.#init.announceMembers !== true) return
    const id = peer.toString()
    const rooms = this.#roomsOf.get(id) ?? new Map<string, Uint8Array>()
    rooms.set(toString(roomId, 'base32'), roomId)
    this.#roomsOf.set(id, rooms)
  }

  /**
   * A session of the peer ended: the rooms it no longer holds any session
   * for are rooms it left. Checked a moment later, in one batch: the
   * replication layer drops the session after us, and leaves come in bursts
   * (a relay restart, a classroom closing its laptops).
   */
  #checkLeft (peer: PeerId): void {
    if (this.#stopped) return
    this.#suspects.set(peer.toString(), peer)
    this.#leftTimer ??= setTimeout(() => { this.#tellLeft() }, this.#init.leftBatchDelay ?? 100)
  }

  /** Tell each room's remaining members who left it (one stream each; members are connected: they hold sessions). */
  #tellLeft (): void {
    this.#leftTimer = undefined
    const leaving = new Map<string, { roomId: Uint8Array, peers: PeerId[] }>()
    for (const [id, peer] of this.#suspects) {
      const rooms = this.#roomsOf.get(id)
      if (rooms == null) continue
      for (const [key, roomId] of rooms) {
        if (this.replication.members(roomId).some(p => p.equals(peer))) continue
        rooms.delete(key)
        const room = leaving.get(key) ?? { roomId, peers: [] }
        room.peers.push(peer)
        leaving.set(key, room)
      }
      if (rooms.size === 0) this.#roomsOf.delete(id)
    }
    this.#suspects.clear()
    for (const { roomId, peers } of leaving.values()) {
      // Other relays (federation links) have no member list to correct.
      const remaining = this.replication.members(roomId).filter(p => !this.isRelay(p)).slice(-MAX_LEFT_RECIPIENTS)
      for (let i = 0; i < peers.length; i += MAX_LEFT_PEERS) {
        const frame = encodeReplicateFrame({ roomId, members: peers.slice(i, i + MAX_LEFT_PEERS).map(p => p.toMultihash().bytes) })
        for (const member of remaining) void this.#sendLeft(member, frame)
      }
    }
  }

  async #sendLeft (member: PeerId, frame: Uint8Array): Promise<void> {
    const signal = AbortSignal.timeout(this.#readTimeout)
    try {
      const stream = await this.#components.connectionManager.openStream(member, LEFT_PROTOCOL, { signal, runOnLimitedConnection: this.#init.runOnLimitedConnection ?? false })
      try {
        await lpStream(stream).write(frame, { signal })
        await stream.close({ signal })
      } catch (err: any) {
        stream.abort(err)
        throw err
      }
    } catch (err) {
      // An older peer without the protocol, or one that is going too: it finds out by itself.
      this.#log('telling %p who left failed: %e', member, err)
    }
  }

  async #handleLeft (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: 64 * 1024, lengthDecoder: boundedLengthDecoder })
    const frame = ReplicateFrame.decode(await lp.read({ signal: AbortSignal.timeout(this.#readTimeout) }), { limits: { records: 0, delivered: 0, results: 0, members: MAX_LEFT_PEERS, want: 0 } })
    this.#checkRoomId(frame.roomId)
    const peers: PeerId[] = []
    for (const m of frame.members) {
      try {
        peers.push(peerIdFromMultihash(Digest.decode(m)))
      } catch {}
    }
    if (peers.length > 0) for (const listener of this.#leftListeners) listener(connection.remotePeer, frame.roomId, peers)
  }

  onLeft (listener: (from: PeerId, roomId: Uint8Array, peers: PeerId[]) => void): () => void {
    this.#leftListeners.add(listener)
    return () => { this.#leftListeners.delete(listener) }
  }

  onSessionEnd (listener: (peer: PeerId) => void): () => void {
    this.#sessionEndListeners.add(listener)
    return () => { this.#sessionEndListeners.delete(listener) }
  }

  async probe (peer: PeerId, signal: AbortSignal): Promise<void> {
    // libp2p's ping protocol (every roomkv node serves it), on the very
    // connection room traffic uses: a new stream, so nothing queued on a
    // busy session delays the answer.
    const connection = this.#connectionTo(peer)
    if (connection == null) throw new ProtocolError('No direct connection to this peer')
    const stream = await connection.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: this.#init.runOnLimitedConnection ?? false })
    try {
      const data = crypto.getRandomValues(new Uint8Array(32))
      const received = new Uint8ArrayList()
      const pong = new Promise<void>((resolve, reject) => {
        stream.addEventListener('message', (evt) => {
          received.append(evt.data)
          if (received.byteLength < data.length) return
          if (equals(received.subarray(0, data.length), data)) resolve()
          else reject(new ProtocolError('Wrong ping answer'))
        })
        stream.addEventListener('close', () => { reject(new ProtocolError('Stream closed before the answer')) }, { once: true })
      })
      stream.send(data)
      await raceSignal(pong, signal)
      await stream.close({ signal }).catch(() => {})
    } catch (err: any) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#components.events?.removeEventListener('peer:identify', this.#onIdentify)
    this.#relays.clear()
    this.#sessionEndListeners.clear()
    this.#leftListeners.clear()
    clearTimeout(this.#leftTimer)
    this.#leftTimer = undefined
    this.#suspects.clear()
    this.#roomsOf.clear()
    this.replication.stop()
    await this.#components.registrar.unhandle(LEFT_PROTOCOL)
    await this.#components.registrar.unhandle(REPLICATE_PROTOCOL)
    await this.#components.registrar.unhandle(SYNC_PROTOCOL)
    if (this.#init.passSignals === true) await this.#components.registrar.unhandle(SIGNAL_CAPABILITY)
  }

  async #serve (stream: Stream, connection: Connection, handler: (stream: Stream, connection: Connection) => Promise<void>): Promise<void> {
    try {
      await handler(stream, connection)
      await stream.close({ signal: AbortSignal.timeout(this.#readTimeout) })
    } catch (err: any) {
      this.#log('%s from %p failed: %e', stream.protocol, connection.remotePeer, err)
      this.#init.onRejected?.(errorCode(err), connection.remotePeer)
      stream.abort(err)
    }
  }

  #checkRoomId (roomId: Uint8Array): void {
    if (roomId.length !== ROOM_ID_BYTES) throw new ProtocolError('Room id has the wrong length')
  }

  async #handleSync (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    try {
      await serveSync({
        stream,
        store: this.#store,
        readTimeout: this.#readTimeout,
        admit: (query) => {
          // Charged per peer and per address: a fresh peer id gets no fresh allowance.
          const ip = this.#init.ipOf?.(connection)
          if (!this.#syncLimit.take(`peer:${peer.toString()}`) || (ip != null && !this.#syncLimitPerIp.take(`ip:${ip}`))) throw new RateLimitedError()
          this.#checkRoomId(query.roomId)
          this.#init.onRoomPeer?.(peer, query.roomId)
        },
        // Bytes served are charged to the asker (per peer and per IP): a
        // fresh peer id asking for a big room again and again is paced, then refused.
        admitRead: async (records, bytes) => { await this.#init.admitRead?.(peer, connection, records, bytes) }
      })
    } catch (err) {
      // The asker was told why (SyncReply.error); end the stream cleanly and count it.
      if (err instanceof RoomkvError && SYNC_REFUSALS.has(err.code)) {
        this.#log('sync from %p refused: %s', peer, err.message)
        this.#init.onRejected?.(err.code, peer)
        return
      }
      throw err
    }
    this.#init.onServed?.('sync', peer)
  }

  async push (peer: PeerId, roomId: Uint8Array, records: Uint8Array[], options: { signal?: AbortSignal } = {}): Promise<PushResult> {
    const signal = options.signal ?? AbortSignal.timeout(this.#readTimeout)
    const answers = await raceSignal(this.replication.send(peer, roomId, records), signal)
    return summarize(answers)
  }

  async sync (peer: PeerId, roomId: Uint8Array, options: SyncOptions = {}): Promise<SyncResult> {
    const signal = options.signal ?? AbortSignal.timeout(6 * this.#readTimeout)
    const stream = await this.#components.connectionManager.openStream(peer, SYNC_PROTOCOL, { signal })
    try {
      const result = await askSync({
        stream,
        store: this.#store,
        roomId,
        signal,
        readTimeout: this.#readTimeout,
        onProgress: options.onProgress,
        maxPushBack: options.maxPushBack,
        // Over the replication session: the peer admits, stores, answers
        // and forwards them as any write (see shared/sync/exchange.ts).
        push: async (records) => {
          const answers = await raceSignal(this.replication.send(peer, roomId, records), signal)
          return answers.filter(a => a.status !== 'refused').length
        }
      })
      await stream.close({ signal })
      return result
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
  }
}

function summarize (answers: Delivery[]): PushResult {
  const refusedAll = answers.length > 0 && answers.every(a => a.status === 'refused') ? answers[0].code : undefined
  // A whole batch refused for one reason (rate limit, queue full): say so, as a refused push did.
  if (refusedAll != null && answers.every(a => a.code === refusedAll) && BATCH_REFUSALS.has(refusedAll)) {
    throw Object.assign(new ProtocolError(`Peer refused push: ${refusedAll}`), { refusal: refusedAll })
  }
  return {
    stored: answers.filter(a => a.status === 'stored').length,
    known: answers.filter(a => a.status === 'known').length,
    rejected: answers.filter(a => a.status === 'refused').length
  }
}

/** Refusals of a whole batch, not of one record. */
const BATCH_REFUSALS = new Set(['ERR_RATE_LIMITED', 'ERR_QUEUE_FULL', 'ERR_UNREACHABLE', 'ERR_CLOSED', 'ERR_INVALID_RECORD', 'ERR_WRONG_ROOM', 'ERR_RECORD_TOO_LARGE', 'ERR_PROTOCOL'])

async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}

function anySignal (signal: AbortSignal, timeout: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(timeout)])
}
