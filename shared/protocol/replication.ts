/**
 * Replication sessions (`/roomkv/replicate/1.0.0`): one long-lived stream
 * per (room, peer), used in both directions. Records travel in framed
 * batches; each batch is acknowledged with one result per record; a sender
 * keeps at most `window` batches unacknowledged (credit), so a receiver that
 * does not drain stops the sender instead of filling its memory. Writes of
 * the same tick coalesce into one batch (a microtask, no timer). When a
 * stream dies its unacknowledged records go back to the front of the queue
 * and are resent on the next stream.
 *
 * Why not a stream per push: every new stream costs a multistream-select
 * round trip, and on WebRTC a new data channel (~33 ms measured per put).
 */
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { logger } from '@libp2p/logger'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { equals, toString } from 'uint8arrays'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import {
  MAX_RECORD_BYTES, MAX_REPLICATE_FRAME_BYTES, MAX_REPLICATE_RECORDS, MAX_SIGNAL_BYTES, REPLICATE_PROTOCOL, REPLICATE_WINDOW, ROOM_ID_BYTES,
  STREAM_READ_TIMEOUT, second
} from '../constants.ts'
import { NoSessionError, ProtocolError, RateLimitedError, RoomkvError, errorCode } from '../errors.ts'
import { createRateLimiter } from '../rate-limit.ts'
import { AckResult, ReplicateFrame } from '../proto/protocol.ts'
import type { MergeResult, RecordStore } from '../record-store.ts'
import { readStoredRecord, type VerifiedRecord } from '../record.ts'

/** What happened to one record sent: a peer's answer, or why none came. */
export interface Delivery {
  status: 'stored' | 'known' | 'refused'
  /** Error code when refused. */
  code?: string
}

/**
 * Length-prefix decoder for lpStream/pbStream that refuses a varint longer
 * than 8 bytes. @libp2p/utils 7.4.1 lpStream takes every RangeError from
 * its decoder as "need another byte" and checks maxLengthLength only after
 * a successful decode, so a prefix of 8 continuation bytes made it read the
 * rest of the stream one byte at a time, in microtasks: 536 KB after such a
 * prefix held the relay's event loop ~3 s (fuzz-protocols.test.ts).
 */
export function boundedLengthDecoder (data: Uint8ArrayList): number {
  let value = 0
  for (let i = 0; i < data.byteLength; i++) {
    if (i === 8) throw new ProtocolError('Length prefix too long')
    const b = data.get(i)
    value += (b & 0x7f) * 2 ** (7 * i)
    if (b < 0x80) return value
  }
  throw new RangeError('Length prefix incomplete') // lpStream reads one more byte
}

/** A record did not leave this peer's queue: the queue for that peer is full or the session is gone for good. */
export const QueueFullError = class extends RoomkvError {
  static readonly code = 'ERR_QUEUE_FULL'
  constructor (message = 'Send queue for this peer is full') {
    super(message, 'ERR_QUEUE_FULL')
    this.name = 'QueueFullError'
  }
}

/** Charges a batch to its sender before any work: resolves when it may be merged, throws (RateLimitedError) to refuse it. */
export type Admit = (peer: PeerId, connection: Connection, records: number, bytes: number) => Promise<void>

export interface ReplicationInit {
  store: RecordStore
  /** Batches a sender keeps unacknowledged per session. @default REPLICATE_WINDOW (4) */
  window?: number
  /** Records per batch. @default MAX_REPLICATE_RECORDS (512) */
  maxBatchRecords?: number
  /** Bytes of records per batch. @default 256 KiB (at most MAX_REPLICATE_FRAME_BYTES - 64 KiB) */
  maxBatchBytes?: number
  /** Bytes queued for one (peer, room) before sends are refused (ERR_QUEUE_FULL). @default 16 MiB */
  maxQueuedBytes?: number
  /** Bytes queued for one (peer, room) before best-effort sends (relay fan-out) are dropped. @default 2 MiB */
  maxBestEffortBytes?: number
  /** Sessions (rooms) one peer may hold open with us. @default 64 */
  maxSessionsPerPeer?: number
  /** Sessions per room kept (members a relay forwards to). @default 256 */
  maxSessionsPerRoom?: number
  /** The hello must arrive within this. @default STREAM_READ_TIMEOUT */
  helloTimeout?: number
  /** Charge each inbound batch; default: admit everything. */
  admit?: Admit
  /** Charge a sender for records that failed verification (they cost a signature check each). */
  penalize?(peer: PeerId, connection: Connection, badRecords: number): void
  /**
   * Answer each hello with the room's other members (peers with a live
   * session), so a newcomer can dial them at once instead of waiting for a
   * DHT lookup. Relays do this. @default false
   */
  announceMembers?: boolean
  /**
   * Peers that are relays (federated relays hold sessions in each other's
   * rooms): never listed as members, and never told of newcomers, since a
   * tab would try a WebRTC dial to them. @default none
   */
  isRelay?(peer: PeerId): boolean
  /**
   * Pass sealed WebRTC signals on between members of a room (relays do):
   * a signal goes to the addressee's session for the same room, refusals
   * (ERR_NO_SESSION, ERR_RATE_LIMITED) go back to the sender. @default false
   */
  passSignals?: boolean
  /**
   * Say in our hellos that we take signals (tabs: they have WebRTC). A relay
   * passes signals only to sessions whose hello said so: an older member
   * would take a signal frame for a protocol error. @default false
   */
  takesSignals?: boolean
  /** Signals one peer may have passed on: a burst (a join dials up to 64 members, ~10 signals each), then this many a second. @default 1,000 burst, 50 / s */
  signalBurst?: number
  signalsPerSecond?: number
  /** Whether to serve a room at all (a relay serves every room; a member only its own). @default serve all */
  accepts?(roomId: Uint8Array): boolean
  runOnLimitedConnection?: boolean
}

export interface ReplicationEvents {
  /** A peer opened or used a session for a room: a member while the session lives. */
  onRoomPeer?(peer: PeerId, roomId: Uint8Array): void
  /** Records a peer sent that were new here, with the peers the sender also delivered them to. */
  onStored?(peer: PeerId, roomId: Uint8Array, records: VerifiedRecord[], delivered: PeerId[]): void
  /** A refused record or batch, by error code. */
  onRejected?(code: string, peer: PeerId): void
  /** One batch served. */
  onServed?(peer: PeerId, records: number): void
}

interface Entry {
  bytes: Uint8Array
  delivered: Uint8Array[]
  /** `delivered` as text: entries with the same list may share a batch. */
  deliveredKey: string
  done(result: Delivery): void
}

/** Keys one read may ask for. */
export const MAX_QUERY_KEYS = 64

const roomKey = (peer: PeerId | string, roomId: Uint8Array): string => `${peer.toString()}/${toString(roomId, 'base32')}`

/** One ReplicateFrame with every field not given at its default (the encoder wants them all). */
export function encodeReplicateFrame (frame: Partial<ReplicateFrame>): Uint8Array {
  return ReplicateFrame.encode({ roomId: EMPTY, seq: 0, records: [], delivered: [], ack: 0, results: [], error: '', members: [], query: 0, want: [], reply: 0, signalPeer: EMPTY, signal: EMPTY, signals: false, ...frame })
}

const EMPTY = new Uint8Array(0)

/** One stream, in both directions. */
class Session {
  readonly peer: PeerId
  readonly roomId: Uint8Array
  readonly connection: Connection
  readonly stream: Stream
  /** Its hello said the peer takes signals. */
  takesSignals = false
  readonly #lp: LengthPrefixedStream<Stream>
  readonly #onFrame: (session: Session, frame: ReplicateFrame) => void
  #writes: Promise<void> = Promise.resolve()
  closed = false
  readonly closedPromise: Promise<void>
  #markClosed!: () => void

  /** `lp`: the reader that already consumed the hello, so its buffered bytes are not lost. */
  constructor (stream: Stream, connection: Connection, roomId: Uint8Array, onFrame: (session: Session, frame: ReplicateFrame) => void, lp?: LengthPrefixedStream<Stream>) {
    this.stream = stream
    this.connection = connection
    this.peer = connection.remotePeer
    this.roomId = roomId
    this.#lp = lp ?? lpStream(stream, { maxDataLength: MAX_REPLICATE_FRAME_BYTES, lengthDecoder: boundedLengthDecoder })
    this.#onFrame = onFrame
    this.closedPromise = new Promise(resolve => { this.#markClosed = resolve })
  }

  static async readFrame (lp: LengthPrefixedStream<Stream>, signal?: AbortSignal): Promise<ReplicateFrame> {
    const bytes = await lp.read({ signal })
    return ReplicateFrame.decode(bytes, { limits: { records: MAX_REPLICATE_RECORDS, delivered: 64, results: MAX_REPLICATE_RECORDS, members: 64, want: MAX_QUERY_KEYS } })
  }

  async run (): Promise<void> {
    try {
      while (!this.closed) {
        const frame = await Session.readFrame(this.#lp)
        this.#onFrame(this, frame)
      }
    } catch (err) {
      this.abort(err)
    }
  }

  write (frame: Partial<ReplicateFrame>): Promise<void> {
    const bytes = encodeReplicateFrame(frame)
    const next = this.#writes.then(async () => {
      if (this.closed) throw new ProtocolError('Session closed')
      await this.#lp.write(bytes)
    })
    this.#writes = next.catch(() => {})
    return next
  }

  abort (err: unknown): void {
    if (this.closed) return
    this.closed = true
    try {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    } catch {}
    this.#markClosed()
  }
}

/** Per (peer, room): what waits to be sent and what is in flight. */
class Outbox {
  readonly peer: PeerId
  readonly roomId: Uint8Array
  pending: Entry[] = []
  pendingBytes = 0
  /** Batches sent and not yet acknowledged, by seq. */
  readonly inflight = new Map<number, Entry[]>()
  seq = 0
  session?: Session
  scheduled = false
  opening?: Promise<Session | undefined>
  failures = 0

  constructor (peer: PeerId, roomId: Uint8Array) {
    this.peer = peer
    this.roomId = roomId
  }

  /** A dead session's unacknowledged batches go back first, in order. */
  requeue (): void {
    const back = [...this.inflight.keys()].sort((a, b) => a - b).flatMap(seq => this.inflight.get(seq) ?? [])
    this.inflight.clear()
    this.pending = [...back, ...this.pending]
    this.pendingBytes = this.pending.reduce((n, e) => n + e.bytes.length, 0)
  }

  failAll (code: string): void {
    this.requeue()
    for (const e of this.pending) e.done({ status: 'refused', code })
    this.pending = []
    this.pendingBytes = 0
  }
}

export interface Replication {
  /**
   * Send records to a peer over its session for the room (opened when
   * needed). Resolves per record with the peer's answer. With `bestEffort`
   * the records are dropped (answered ERR_QUEUE_FULL) when the peer is
   * behind instead of queued: the peer catches up by sync.
   */
  send(peer: PeerId, roomId: Uint8Array, records: Uint8Array[], options?: { delivered?: PeerId[], bestEffort?: boolean, open?: boolean }): Promise<Delivery[]>
  /** Open (or reuse) the session now, so the peer knows we are a member. */
  open(peer: PeerId, roomId: Uint8Array, signal?: AbortSignal): Promise<boolean>
  /** Peers with a live session for this room. */
  members(roomId: Uint8Array): PeerId[]
  /**
   * Ask a peer for its heads of some keys over the session (one round
   * trip; the DHT is for peers without one). Resolves with the records it
   * holds, unverified: merge them.
   */
  query(peer: PeerId, roomId: Uint8Array, keyIds: Uint8Array[], signal: AbortSignal): Promise<Uint8Array[]>
  /** Told when a peer (a relay) lists a room's members in answer to our hello. */
  onMembers(listener: (from: PeerId, roomId: Uint8Array, members: PeerId[]) => void): () => void
  /**
   * Send a sealed signal for member `to` through `relay` over our session
   * for the room there (never opened for this: a signal goes through a
   * relay we are in session with). Throws when there is none.
   */
  signal(relay: PeerId, roomId: Uint8Array, to: PeerId, sealed: Uint8Array): Promise<void>
  /**
   * Told of each signal a relay passed on from member `peer`, or (with
   * `error`, no bytes) of a signal to `peer` the relay could not pass on.
   */
  onSignal(listener: (relay: PeerId, roomId: Uint8Array, peer: PeerId, sealed: Uint8Array, error: string) => void): () => void
  /** Records waiting or in flight to each peer of a room. */
  backlog(roomId: Uint8Array): number
  handle(stream: Stream, connection: Connection): Promise<void>
  stop(): void
}

export function createReplication (init: ReplicationInit, events: ReplicationEvents = {}, openStream: (peer: PeerId, signal: AbortSignal) => Promise<{ stream: Stream, connection: Connection }>): Replication {
  const log = logger('roomkv:replicate')
  const window = init.window ?? REPLICATE_WINDOW
  const maxBatchRecords = Math.min(init.maxBatchRecords ?? MAX_REPLICATE_RECORDS, MAX_REPLICATE_RECORDS)
  const maxBatchBytes = Math.min(init.maxBatchBytes ?? 256 * 1024, MAX_REPLICATE_FRAME_BYTES - 64 * 1024)
  const maxQueuedBytes = init.maxQueuedBytes ?? 16 * 1024 * 1024
  const maxBestEffortBytes = init.maxBestEffortBytes ?? 2 * 1024 * 1024
  const maxSessionsPerPeer = init.maxSessionsPerPeer ?? 64
  const maxSessionsPerRoom = init.maxSessionsPerRoom ?? 1024
  const helloTimeout = init.helloTimeout ?? STREAM_READ_TIMEOUT
  const admit = init.admit ?? (async () => {})
  /** Live sessions by (peer, room), newest last. */
  const sessions = new Map<string, Session[]>()
  /** Live sessions per room, for members(). */
  const byRoom = new Map<string, Set<Session>>()
  const outboxes = new Map<string, Outbox>()
  /** Inbound batches of each session, merged one after another. */
  const receiving = new WeakMap<Session, { queue: ReplicateFrame[], running: boolean }>()
  const memberListeners = new Set<(from: PeerId, roomId: Uint8Array, members: PeerId[]) => void>()
  /** Reads we sent, by number, per session. */
  const queries = new WeakMap<Session, Map<number, (records: Uint8Array[]) => void>>()
  let nextQuery = 0
  let stopped = false
  const signalListeners = new Set<(relay: PeerId, roomId: Uint8Array, peer: PeerId, sealed: Uint8Array, error: string) => void>()
  const signalLimiter = createRateLimiter({ perMinute: (init.signalsPerSecond ?? 50) * 60, burst: init.signalBurst ?? 1000 })
  /** Signals of each session being passed on, one after another (a dial's signals must keep their order). */
  const signalQueues = new WeakMap<Session, { tail: Promise<void>, pending: number }>()

  const roomText = (roomId: Uint8Array): string => toString(roomId, 'base32')

  /** Live sessions per peer, kept with `sessions` (a scan per new session was O(all sessions)). */
  const perPeer = new Map<string, number>()

  function add (session: Session): boolean {
    const key = roomKey(session.peer, session.roomId)
    const room = byRoom.get(roomText(session.roomId)) ?? new Set()
    const peerId = session.peer.toString()
    if (room.size >= maxSessionsPerRoom || (perPeer.get(peerId) ?? 0) >= maxSessionsPerPeer) return false
    perPeer.set(peerId, (perPeer.get(peerId) ?? 0) + 1)
    byRoom.set(roomText(session.roomId), room)
    room.add(session)
    const list = sessions.get(key) ?? []
    list.push(session)
    sessions.set(key, list)
    void session.closedPromise.then(() => { remove(session) })
    return true
  }

  function remove (session: Session): void {
    const key = roomKey(session.peer, session.roomId)
    const peerId = session.peer.toString()
    const count = (perPeer.get(peerId) ?? 1) - 1
    if (count <= 0) perPeer.delete(peerId)
    else perPeer.set(peerId, count)
    const list = (sessions.get(key) ?? []).filter(s => s !== session)
    if (list.length === 0) sessions.delete(key)
    else sessions.set(key, list)
    const room = byRoom.get(roomText(session.roomId))
    room?.delete(session)
    if (room?.size === 0) byRoom.delete(roomText(session.roomId))
    const outbox = outboxes.get(key)
    if (outbox?.session === session) {
      outbox.session = undefined
      outbox.requeue()
      if (outbox.pending.length > 0 && !stopped) schedule(outbox)
      // Nothing left for a peer that is gone: forget it (one outbox per (peer, room) ever met would grow without bound).
      else if (outbox.pending.length === 0 && liveSession(session.peer, session.roomId) == null) outboxes.delete(key)
    }
  }

  function liveSession (peer: PeerId, roomId: Uint8Array): Session | undefined {
    const list = sessions.get(roomKey(peer, roomId))
    return list?.findLast(s => !s.closed)
  }

  // ---- receiving ----

  function onFrame (session: Session, frame: ReplicateFrame): void {
    if (frame.signalPeer.length > 0) {
      onSignalFrame(session, frame)
      return
    }
    if (frame.ack > 0) {
      onAck(session, frame)
      return
    }
    if (frame.seq > 0) {
      const state = receiving.get(session) ?? { queue: [], running: false }
      receiving.set(session, state)
      // A sender may keep `window` batches unanswered; more is a broken or hostile peer.
      if (state.queue.length >= window) {
        events.onRejected?.('ERR_PROTOCOL', session.peer)
        session.abort(new ProtocolError('More batches in flight than the window allows'))
        return
      }
      state.queue.push(frame)
      if (!state.running) void receive(session, state)
      return
    }
    if (frame.query > 0) {
      void answerQuery(session, frame)
      return
    }
    if (frame.reply > 0) {
      const waiting = queries.get(session)?.get(frame.reply)
      if (waiting == null) {
        events.onRejected?.('ERR_PROTOCOL', session.peer)
        session.abort(new ProtocolError('Answer to an unknown read'))
        return
      }
      queries.get(session)?.delete(frame.reply)
      waiting(frame.records)
      return
    }
    if (frame.members.length > 0) {
      const members: PeerId[] = []
      for (const m of frame.members.slice(0, 64)) {
        try {
          members.push(peerIdFromMultihash(Digest.decode(m)))
        } catch {}
      }
      for (const listener of memberListeners) listener(session.peer, session.roomId, members)
      return
    }
    if (frame.error !== '') {
      log('peer %p closed the session: %s', session.peer, frame.error)
      session.abort(new ProtocolError(`Peer closed the session: ${frame.error}`))
      return
    }
    // Anything else (a second hello, an empty frame) is not part of the protocol.
    events.onRejected?.('ERR_PROTOCOL', session.peer)
    session.abort(new ProtocolError('Unexpected frame'))
  }

  function onSignalFrame (session: Session, frame: ReplicateFrame): void {
    let peer: PeerId
    try {
      if (frame.signalPeer.length > 64 || frame.signal.length > MAX_SIGNAL_BYTES) throw new ProtocolError('Signal out of bounds')
      peer = peerIdFromMultihash(Digest.decode(frame.signalPeer))
    } catch (err) {
      events.onRejected?.('ERR_PROTOCOL', session.peer)
      session.abort(err instanceof ProtocolError ? err : new ProtocolError('Signal names no peer'))
      return
    }
    if (init.passSignals !== true) {
      // A member: signals and refusals come from relays; the room decides whom it believes.
      for (const listener of signalListeners) listener(session.peer, session.roomId, peer, frame.signal, frame.error)
      return
    }
    if (frame.signal.length === 0) {
      events.onRejected?.('ERR_PROTOCOL', session.peer)
      session.abort(new ProtocolError('A signal to pass on carries no bytes'))
      return
    }
    const queue = signalQueues.get(session) ?? { tail: Promise.resolve(), pending: 0 }
    signalQueues.set(session, queue)
    // Refusals are written back; a sender that floods without reading them
    // would grow this queue without bound.
    if (queue.pending >= 64) {
      events.onRejected?.('ERR_PROTOCOL', session.peer)
      session.abort(new ProtocolError('Too many signals waiting'))
      return
    }
    queue.pending++
    queue.tail = queue.tail
      .then(async () => { await passSignal(session, peer, frame.signal) })
      .catch(() => {})
      .finally(() => { queue.pending-- })
  }

  /** A relay passes a sealed signal to the addressee's session for the same room, or tells the sender why not. */
  async function passSignal (session: Session, to: PeerId, sealed: Uint8Array): Promise<void> {
    const refuse = async (code: string): Promise<void> => {
      events.onRejected?.(code, session.peer)
      await session.write({ signalPeer: to.toMultihash().bytes, error: code }).catch(() => {})
    }
    if (!signalLimiter.take(session.peer.toString())) {
      await refuse(new RateLimitedError().code)
      return
    }
    try {
      // The byte budget of the sender's peer id and address, as for records.
      await admit(session.peer, session.connection, 1, sealed.length)
    } catch (err) {
      await refuse(errorCode(err))
      return
    }
    const target = to.equals(session.peer) || (init.isRelay?.(to) ?? false) ? undefined : liveSession(to, session.roomId)
    if (target == null || !target.takesSignals) {
      await refuse(new NoSessionError().code)
      return
    }
    try {
      await target.write({ signalPeer: session.peer.toMultihash().bytes, signal: sealed })
    } catch {
      await refuse(new NoSessionError().code)
    }
  }

  async function receive (session: Session, state: { queue: ReplicateFrame[], running: boolean }): Promise<void> {
    state.running = true
    try {
      while (state.queue.length > 0 && !session.closed) {
        const frame = state.queue.shift() as ReplicateFrame
        await session.write(await mergeBatch(session, frame))
      }
    } catch (err) {
      session.abort(err)
    } finally {
      state.running = false
    }
  }

  async function mergeBatch (session: Session, frame: ReplicateFrame): Promise<Partial<ReplicateFrame>> {
    const { peer, roomId } = session
    const refuse = (code: string): Partial<ReplicateFrame> => {
      events.onRejected?.(code, peer)
      return { ack: frame.seq, error: code, results: [] }
    }
    let bytes = 0
    for (const r of frame.records) bytes += r.length
    try {
      await admit(peer, session.connection, frame.records.length, bytes)
    } catch (err) {
      return refuse(errorCode(err))
    }
    // Cheap structural checks first, stopping at the first bad record: a
    // malformed batch costs no signature checks and no storage reads.
    const parsedRecords: VerifiedRecord[] = []
    for (const r of frame.records) {
      if (r.length > MAX_RECORD_BYTES) return refuse('ERR_RECORD_TOO_LARGE')
      let parsed: VerifiedRecord
      try {
        parsed = readStoredRecord(r)
      } catch {
        return refuse('ERR_INVALID_RECORD')
      }
      if (!equals(parsed.roomId, roomId)) return refuse('ERR_WRONG_ROOM')
      parsedRecords.push(parsed)
    }
    // Handed on parsed (not parsed again); the store still verifies each one in full.
    const merged = await init.store.mergeMany(parsedRecords, { roomId })
    const results: AckResult[] = []
    const stored: VerifiedRecord[] = []
    // Forged signatures cost a check each and are never an honest mistake.
    const bad = merged.filter(m => m instanceof Error && errorCode(m) === 'ERR_BAD_SIGNATURE').length
    if (bad > 0) init.penalize?.(peer, session.connection, bad)
    for (const m of merged) {
      if (m instanceof Error) {
        const code = errorCode(m)
        events.onRejected?.(code, peer)
        results.push({ status: AckResult.Status.REFUSED, code })
      } else {
        if (m.status === 'stored') stored.push((m as MergeResult).record)
        results.push({ status: m.status === 'stored' ? AckResult.Status.STORED : AckResult.Status.KNOWN, code: '' })
      }
    }
    events.onServed?.(peer, frame.records.length)
    if (stored.length > 0) {
      const delivered: PeerId[] = []
      for (const d of frame.delivered) {
        try {
          delivered.push(peerIdFromMultihash(Digest.decode(d)))
        } catch {}
      }
      events.onStored?.(peer, roomId, stored, delivered)
    }
    return { ack: frame.seq, results }
  }

  async function answerQuery (session: Session, frame: ReplicateFrame): Promise<void> {
    const { peer, roomId } = session
    try {
      if (frame.want.some(k => k.length !== 32)) throw new ProtocolError('Key ids are 32 bytes')
      // A read costs storage work: charge it like a small batch.
      await admit(peer, session.connection, frame.want.length, 0)
      const records: Uint8Array[] = []
      let bytes = 0
      for (const keyId of frame.want) {
        for (const head of await init.store.heads(roomId, keyId)) {
          if (bytes + head.bytes.length > maxBatchBytes) break // partial answer: the asker reads the rest from the DHT or asks again
          records.push(head.bytes)
          bytes += head.bytes.length
        }
      }
      await session.write({ reply: frame.query, records })
    } catch (err) {
      events.onRejected?.(errorCode(err), peer)
      await session.write({ reply: frame.query, records: [] }).catch(() => {})
    }
  }

  // ---- sending ----

  function onAck (session: Session, frame: ReplicateFrame): void {
    const outbox = outboxes.get(roomKey(session.peer, session.roomId))
    const batch = outbox?.inflight.get(frame.ack)
    if (outbox == null || batch == null || outbox.session !== session) {
      events.onRejected?.('ERR_PROTOCOL', session.peer)
      session.abort(new ProtocolError('Acknowledgement of an unknown batch'))
      return
    }
    outbox.inflight.delete(frame.ack)
    outbox.failures = 0
    batch.forEach((entry, i) => {
      if (frame.error !== '') {
        entry.done({ status: 'refused', code: frame.error })
        return
      }
      const r = frame.results[i]
      if (r == null) entry.done({ status: 'refused', code: 'ERR_PROTOCOL' })
      else if (r.status === AckResult.Status.REFUSED) entry.done({ status: 'refused', code: r.code === '' ? 'ERR_UNKNOWN' : r.code })
      else entry.done({ status: r.status === AckResult.Status.STORED ? 'stored' : 'known' })
    })
    schedule(outbox)
  }

  function schedule (outbox: Outbox): void {
    if (outbox.scheduled) return
    outbox.scheduled = true
    // Same-tick sends join one batch.
    queueMicrotask(() => {
      outbox.scheduled = false
      void pump(outbox)
    })
  }

  async function sessionFor (outbox: Outbox, open: boolean): Promise<Session | undefined> {
    const live = liveSession(outbox.peer, outbox.roomId)
    if (live != null) return live
    if (!open || stopped) return undefined
    outbox.opening ??= (async () => {
      try {
        return await openSession(outbox.peer, outbox.roomId, AbortSignal.timeout(helloTimeout))
      } catch (err) {
        outbox.failures++
        log('opening a session to %p failed (%d): %e', outbox.peer, outbox.failures, err)
        return undefined
      } finally {
        outbox.opening = undefined
      }
    })()
    return outbox.opening
  }

  async function pump (outbox: Outbox): Promise<void> {
    if (outbox.pending.length === 0 || outbox.inflight.size >= window) return
    let session = outbox.session != null && !outbox.session.closed ? outbox.session : undefined
    if (session == null) {
      session = await sessionFor(outbox, true)
      if (session == null) {
        // No way to the peer now: records wait (they are in our store and
        // sync catches the peer up anyway); retry a few times, then give up.
        if (outbox.failures >= 3) outbox.failAll('ERR_UNREACHABLE')
        else setTimeout(() => { schedule(outbox) }, 250 * 2 ** outbox.failures).unref?.()
        return
      }
      outbox.session = session
    }
    while (outbox.pending.length > 0 && outbox.inflight.size < window && !session.closed) {
      const entries: Entry[] = []
      let bytes = 0
      // One `delivered` list per batch: entries from writes that reached
      // different members go in different batches.
      while (entries.length < maxBatchRecords && outbox.pending.length > 0 && (entries.length === 0 ||
        (bytes + outbox.pending[0].bytes.length <= maxBatchBytes && outbox.pending[0].deliveredKey === entries[0].deliveredKey))) {
        const e = outbox.pending.shift() as Entry
        entries.push(e)
        bytes += e.bytes.length
      }
      outbox.pendingBytes -= bytes
      const seq = ++outbox.seq
      outbox.inflight.set(seq, entries)
      const delivered = entries[0].delivered
      session.write({ seq, records: entries.map(e => e.bytes), delivered }).catch((err) => {
        log('sending to %p failed: %e', outbox.peer, err)
        session?.abort(err)
      })
    }
  }

  async function openSession (peer: PeerId, roomId: Uint8Array, signal: AbortSignal): Promise<Session> {
    const { stream, connection } = await openStream(peer, signal)
    const session = new Session(stream, connection, roomId, onFrame)
    try {
      await session.write({ roomId, signals: init.takesSignals === true })
    } catch (err) {
      session.abort(err)
      throw err
    }
    if (!add(session)) {
      session.abort(new ProtocolError('Too many sessions'))
      throw new ProtocolError('Too many sessions')
    }
    void session.run()
    return session
  }

  const api: Replication = {
    async send (peer, roomId, records, options = {}) {
      if (records.length === 0) return []
      const key = roomKey(peer, roomId)
      let outbox = outboxes.get(key)
      if (outbox == null) {
        outbox = new Outbox(peer, roomId)
        outboxes.set(key, outbox)
      }
      const limit = options.bestEffort === true ? maxBestEffortBytes : maxQueuedBytes
      const size = records.reduce((n, r) => n + r.length, 0)
      if (outbox.pendingBytes + size > limit) {
        return records.map(() => ({ status: 'refused', code: QueueFullError.code }))
      }
      if (options.open === false && liveSession(peer, roomId) == null) {
        return records.map(() => ({ status: 'refused', code: 'ERR_NO_SESSION' }))
      }
      const delivered = (options.delivered ?? []).map(p => p.toMultihash().bytes)
      const deliveredKey = (options.delivered ?? []).map(p => p.toString()).sort().join(',')
      const results = Promise.all(records.map(async bytes => new Promise<Delivery>(resolve => {
        (outbox as Outbox).pending.push({ bytes, delivered, deliveredKey, done: resolve })
      })))
      outbox.pendingBytes += size
      schedule(outbox)
      return results
    },
    async open (peer, roomId, signal) {
      if (liveSession(peer, roomId) != null) return true
      try {
        await openSession(peer, roomId, signal ?? AbortSignal.timeout(helloTimeout))
        return true
      } catch (err) {
        log('open session to %p failed: %e', peer, err)
        return false
      }
    },
    members (roomId) {
      const seen = new Map<string, PeerId>()
      for (const s of byRoom.get(roomText(roomId)) ?? []) if (!s.closed) seen.set(s.peer.toString(), s.peer)
      return [...seen.values()]
    },
    async query (peer, roomId, keyIds, signal) {
      const session = liveSession(peer, roomId) ?? await openSession(peer, roomId, signal)
      const id = ++nextQuery
      let waiting = queries.get(session)
      if (waiting == null) queries.set(session, waiting = new Map())
      const answer = new Promise<Uint8Array[]>((resolve, reject) => {
        const onAbort = (): void => { waiting?.delete(id); reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
        void session.closedPromise.then(() => { reject(new ProtocolError('Session closed')) })
        waiting?.set(id, (records) => { signal.removeEventListener('abort', onAbort); resolve(records) })
      })
      try {
        await session.write({ query: id, want: keyIds.slice(0, MAX_QUERY_KEYS) })
      } catch (err) {
        // Not sent (the session is closing): nobody will await the answer,
        // whose rejection must not go unhandled.
        waiting?.delete(id)
        answer.catch(() => {})
        throw err
      }
      return answer
    },
    onMembers (listener) {
      memberListeners.add(listener)
      return () => { memberListeners.delete(listener) }
    },
    async signal (relay, roomId, to, sealed) {
      const session = liveSession(relay, roomId)
      if (session == null) throw new NoSessionError(`No session with ${relay.toString()} for this room`)
      await session.write({ signalPeer: to.toMultihash().bytes, signal: sealed })
    },
    onSignal (listener) {
      signalListeners.add(listener)
      return () => { signalListeners.delete(listener) }
    },
    backlog (roomId) {
      let n = 0
      const room = roomText(roomId)
      for (const [key, outbox] of outboxes) {
        if (!key.endsWith(`/${room}`)) continue
        n += outbox.pending.length
        for (const entries of outbox.inflight.values()) n += entries.length
      }
      return n
    },
    async handle (stream, connection) {
      const peer = connection.remotePeer
      let hello: ReplicateFrame
      const lp = lpStream(stream, { maxDataLength: MAX_REPLICATE_FRAME_BYTES, lengthDecoder: boundedLengthDecoder })
      try {
        hello = await Session.readFrame(lp, AbortSignal.timeout(helloTimeout))
      } catch (err) {
        events.onRejected?.(errorCode(err), peer)
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
      const refuse = async (code: string, message: string): Promise<void> => {
        events.onRejected?.(code, peer)
        try {
          await lp.write(encodeReplicateFrame({ error: code }), { signal: AbortSignal.timeout(second) })
          await stream.close({ signal: AbortSignal.timeout(second) })
        } catch {
          stream.abort(new ProtocolError(message))
        }
      }
      if (hello.roomId.length !== ROOM_ID_BYTES || hello.seq !== 0 || hello.ack !== 0) {
        await refuse('ERR_PROTOCOL', 'A session starts with a hello naming a room')
        return
      }
      if (init.accepts != null && !init.accepts(hello.roomId)) {
        await refuse('ERR_WRONG_ROOM', 'Not a room served here')
        return
      }
      const session = new Session(stream, connection, hello.roomId, onFrame, lp)
      session.takesSignals = hello.signals
      if (!add(session)) {
        await refuse(new RateLimitedError().code, 'Too many sessions')
        return
      }
      events.onRoomPeer?.(peer, hello.roomId)
      if (init.announceMembers === true) {
        // The most recent members (the likeliest to be online) learn of the
        // newcomer, and the newcomer of them: when two join at once, the
        // first one's list did not have the second.
        const isRelay = init.isRelay ?? (() => false)
        const others = api.members(hello.roomId).filter(p => !p.equals(peer) && !isRelay(p)).slice(-64)
        if (others.length > 0) void session.write({ members: others.map(p => p.toMultihash().bytes) }).catch(() => {})
        if (!isRelay(peer)) for (const other of others) void liveSession(other, hello.roomId)?.write({ members: [peer.toMultihash().bytes] }).catch(() => {})
      }
      await session.run()
    },
    stop () {
      stopped = true
      for (const list of sessions.values()) for (const s of list) s.abort(new ProtocolError('Shutting down'))
      for (const outbox of outboxes.values()) outbox.failAll('ERR_CLOSED')
    }
  }
  return api
}
