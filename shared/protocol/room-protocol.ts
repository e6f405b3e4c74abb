/**
 * The roomkv wire protocols as a libp2p service: push (live updates) and
 * sync (catch-up by digest). Runs unchanged on the relay, in tabs and in
 * Node peers; all of them serve any room whose records they hold.
 */
import { pbStream } from '@libp2p/utils'
import { equals, toString } from 'uint8arrays'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import {
  DIGEST_ID_BYTES, MAX_PUSH_MESSAGE_BYTES, MAX_SYNC_FRAME_BYTES, MAX_SYNC_REQUEST_BYTES, PUSH_PROTOCOL,
  ROOM_ID_BYTES, STREAM_READ_TIMEOUT, SYNC_PROTOCOL
} from '../constants.ts'
import { ProtocolError, RateLimitedError, errorCode } from '../errors.ts'
import { createRateLimiter, type RateLimiter } from '../rate-limit.ts'
import { PushRequest, PushResponse, SyncFrame, SyncRequest } from '../proto/protocol.ts'
import type { RecordStore } from '../record-store.ts'
import type { VerifiedRecord } from '../record.ts'

export interface RoomProtocolInit {
  store: RecordStore
  /** Push requests one peer may send a minute. @default 1200 */
  pushesPerMinute?: number
  /** Sync requests one peer may send a minute. @default 60 */
  syncsPerMinute?: number
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
  /** Told about records a peer pushed that were new here (a relay forwards them to the room). */
  onPushed?(peer: PeerId, roomId: Uint8Array, records: Uint8Array[]): void
}

export interface RoomProtocolComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
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
  /** Records of ours the peer lacked, pushed back to it. */
  sent: number
}

export interface RoomProtocol {
  push(peer: PeerId, roomId: Uint8Array, records: Uint8Array[], options?: { signal?: AbortSignal }): Promise<PushResult>
  sync(peer: PeerId, roomId: Uint8Array, options?: { signal?: AbortSignal }): Promise<SyncResult>
}

export function roomProtocol (init: RoomProtocolInit): (components: RoomProtocolComponents) => RoomProtocol & Startable {
  return (components) => new RoomProtocolService(components, init)
}

const digestKey = (keyId: Uint8Array): string => toString(keyId, 'base64')

class RoomProtocolService implements RoomProtocol, Startable {
  readonly #components: RoomProtocolComponents
  readonly #store: RecordStore
  readonly #log: Logger
  readonly #init: RoomProtocolInit
  readonly #readTimeout: number
  readonly #pushLimit: RateLimiter
  readonly #syncLimit: RateLimiter

  constructor (components: RoomProtocolComponents, init: RoomProtocolInit) {
    this.#components = components
    this.#init = init
    this.#store = init.store
    this.#log = components.logger.forComponent('roomkv:protocol')
    this.#readTimeout = init.readTimeout ?? STREAM_READ_TIMEOUT
    // Bursts of a tenth of the minute's allowance: a joining tab syncs with
    // a few peers at once, a writer pushes a quick series of changes.
    const pushes = init.pushesPerMinute ?? 1200
    const syncs = init.syncsPerMinute ?? 60
    this.#pushLimit = createRateLimiter({ perMinute: pushes, burst: Math.max(1, Math.ceil(pushes / 6)) })
    this.#syncLimit = createRateLimiter({ perMinute: syncs, burst: Math.max(1, Math.ceil(syncs / 6)) })
  }

  async start (): Promise<void> {
    const options = {
      maxInboundStreams: this.#init.maxInboundStreams ?? 64,
      runOnLimitedConnection: this.#init.runOnLimitedConnection ?? false
    }
    await this.#components.registrar.handle(PUSH_PROTOCOL, (stream, connection) => this.#serve(stream, connection, this.#handlePush.bind(this)), options)
    await this.#components.registrar.handle(SYNC_PROTOCOL, (stream, connection) => this.#serve(stream, connection, this.#handleSync.bind(this)), options)
  }

  async stop (): Promise<void> {
    await this.#components.registrar.unhandle(PUSH_PROTOCOL)
    await this.#components.registrar.unhandle(SYNC_PROTOCOL)
  }

  async #serve (stream: Stream, connection: Connection, handler: (stream: Stream, peer: PeerId) => Promise<void>): Promise<void> {
    try {
      await handler(stream, connection.remotePeer)
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

  /** Merge a batch of records; counts what happened, never throws for one bad record. */
  async #mergeAll (records: Uint8Array[], roomId: Uint8Array, peer?: PeerId): Promise<PushResult & { storedRecords: VerifiedRecord[] }> {
    const result = { stored: 0, known: 0, rejected: 0, storedRecords: [] as VerifiedRecord[] }
    for (const [i, bytes] of records.entries()) {
      // Signature checks are synchronous: let timers, pings and the UI run
      // between chunks of a large batch instead of blocking for seconds.
      if (i > 0 && i % 64 === 0) await new Promise(resolve => setTimeout(resolve, 0))
      try {
        const merged = await this.#store.merge(bytes, { roomId })
        if (merged.status === 'stored') {
          result.stored++
          result.storedRecords.push(merged.record)
        } else {
          result.known++
        }
      } catch (err) {
        result.rejected++
        if (peer != null) this.#init.onRejected?.(errorCode(err), peer)
      }
    }
    return result
  }

  async #handlePush (stream: Stream, peer: PeerId): Promise<void> {
    const messages = pbStream(stream, { maxDataLength: MAX_PUSH_MESSAGE_BYTES })
    const request = await messages.read(PushRequest, { signal: AbortSignal.timeout(this.#readTimeout) })
    if (!this.#pushLimit.take(peer.toString())) {
      await messages.write({ stored: 0, known: 0, rejected: request.records.length, error: new RateLimitedError().code }, PushResponse)
      this.#init.onRejected?.(new RateLimitedError().code, peer)
      return
    }
    this.#checkRoomId(request.roomId)
    this.#init.onRoomPeer?.(peer, request.roomId)
    const { stored, known, rejected, storedRecords } = await this.#mergeAll(request.records, request.roomId, peer)
    this.#init.onServed?.('push', peer)
    if (storedRecords.length > 0) this.#init.onPushed?.(peer, request.roomId, storedRecords.map(r => r.bytes))
    await messages.write({ stored, known, rejected, error: '' }, PushResponse)
  }

  async #handleSync (stream: Stream, peer: PeerId): Promise<void> {
    const messages = pbStream(stream, { maxDataLength: MAX_SYNC_REQUEST_BYTES })
    const request = await messages.read(SyncRequest, { signal: AbortSignal.timeout(this.#readTimeout) })
    if (!this.#syncLimit.take(peer.toString())) {
      await messages.write({ records: [], want: [], done: true, error: new RateLimitedError().code }, SyncFrame)
      this.#init.onRejected?.(new RateLimitedError().code, peer)
      return
    }
    this.#checkRoomId(request.roomId)
    this.#init.onRoomPeer?.(peer, request.roomId)
    // Digest entries are (key id, head id) pairs. Heads the requester lacks
    // are sent; keys where it holds heads we lack are asked for (`want`), so
    // both sides end with every version and merge to the same heads.
    const theirs = new Map<string, Uint8Array>()
    for (const { keyId, recordId } of request.have) theirs.set(`${digestKey(keyId)}/${digestKey(recordId)}`, keyId)
    let frame: Uint8Array[] = []
    let frameBytes = 0
    for await (const record of this.#store.list(request.roomId)) {
      const entry = `${digestKey(record.body.keyId)}/${digestKey(record.id.subarray(0, DIGEST_ID_BYTES))}`
      if (theirs.delete(entry)) continue
      if (frameBytes + record.bytes.length + 16 > MAX_SYNC_FRAME_BYTES) {
        await messages.write({ records: frame, want: [], done: false, error: '' }, SyncFrame)
        frame = []
        frameBytes = 0
      }
      frame.push(record.bytes)
      frameBytes += record.bytes.length + 16
    }
    const want = new Map<string, Uint8Array>()
    for (const keyId of theirs.values()) want.set(digestKey(keyId), keyId)
    await messages.write({ records: frame, want: [...want.values()], done: true, error: '' }, SyncFrame)
    this.#init.onServed?.('sync', peer)
  }

  async push (peer: PeerId, roomId: Uint8Array, records: Uint8Array[], options: { signal?: AbortSignal } = {}): Promise<PushResult> {
    const signal = options.signal ?? AbortSignal.timeout(this.#readTimeout)
    const stream = await this.#components.connectionManager.openStream(peer, PUSH_PROTOCOL, { signal })
    try {
      const messages = pbStream(stream, { maxDataLength: MAX_PUSH_MESSAGE_BYTES })
      await messages.write({ roomId, records }, PushRequest, { signal })
      const response = await messages.read(PushResponse, { signal })
      await stream.close({ signal })
      if (response.error !== '') throw new ProtocolError(`Peer refused push: ${response.error}`)
      return { stored: response.stored, known: response.known, rejected: response.rejected }
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
  }

  async sync (peer: PeerId, roomId: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<SyncResult> {
    const signal = options.signal ?? AbortSignal.timeout(6 * this.#readTimeout)
    const have = await this.#store.digest(roomId)
    const stream = await this.#components.connectionManager.openStream(peer, SYNC_PROTOCOL, { signal })
    const result: SyncResult = { received: 0, stored: 0, sent: 0 }
    let want: Uint8Array[] = []
    try {
      const messages = pbStream(stream, { maxDataLength: Math.max(MAX_SYNC_REQUEST_BYTES, MAX_SYNC_FRAME_BYTES + 1024) })
      await messages.write({ roomId, have }, SyncRequest, { signal })
      for (let frames = 0; ; frames++) {
        const frame = await messages.read(SyncFrame, { signal: anySignal(signal, this.#readTimeout) })
        if (frame.error !== '') throw new ProtocolError(`Peer refused sync: ${frame.error}`)
        const merged = await this.#mergeAll(frame.records, roomId)
        result.received += frame.records.length
        result.stored += merged.stored
        if (frame.done) {
          want = frame.want
          break
        }
        if (frames > 100_000) throw new ProtocolError('Sync did not finish')
      }
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
    const records: Uint8Array[] = []
    for (const keyId of want) {
      for (const head of await this.#store.heads(roomId, keyId)) records.push(head.bytes)
    }
    // Send back in batches below the push message cap.
    for (let i = 0; i < records.length;) {
      const batch: Uint8Array[] = []
      let size = 0
      while (i < records.length && size + records[i].length < MAX_PUSH_MESSAGE_BYTES - 4096) {
        size += records[i].length + 8
        batch.push(records[i++])
      }
      if (batch.length === 0) break
      await this.push(peer, roomId, batch, { signal })
      result.sent += batch.length
    }
    return result
  }
}

function anySignal (signal: AbortSignal, timeout: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(timeout)])
}
