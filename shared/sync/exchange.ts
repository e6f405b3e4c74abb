/**
 * The sync exchange on a stream (/roomkv/sync/2.0.0, docs/protocol.md,
 * "Sync"): the asker's and the responder's loops around reconcile(), and
 * the records they move.
 *
 * Asker                                   Responder
 *   SyncQuery{room, ranges}         ->
 *                                   <-    SyncReply{ranges, need}      (round header)
 *                                   <-    SyncReply{records} ...       (records the asker lacks, as soon as known)
 *                                   <-    SyncReply{records, last}
 *   SyncQuery{room, ranges, want}   ->    (sent as soon as the header is read,
 *                                          while the records are still arriving)
 *   ...
 *   SyncQuery{room, want}           ->    (no ranges: the last query)
 *                                   <-    SyncReply{records..., last}  (only when want is not empty)
 *
 * The responder sends the records the asker lacks on this stream, in key
 * order, read from storage a batch of keys at a time. The asker sends the
 * records the responder lacks (its `need`) over the replication session
 * (`push`), not on this stream: the responder then admits, stores, answers
 * and forwards them to the room's members exactly as a live write (one path
 * for quotas, acks and fan-out), and this stream stays one-directional for
 * bulk data. The asker merges frame N while frame N+1 is in flight.
 */
import { logger } from '@libp2p/logger'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { equals } from 'uint8arrays'
import type { Stream } from '@libp2p/interface'
import {
  MAX_SYNC_DURATION, MAX_SYNC_FRAME_BYTES, MAX_SYNC_IDS, MAX_SYNC_QUERY_BYTES, MAX_SYNC_RANGES, MAX_SYNC_ROUNDS, ROOM_ID_BYTES
} from '../constants.ts'
import { ProtocolError, RoomkvError, errorCode } from '../errors.ts'
import { SyncQuery, SyncReply, type SyncRange } from '../proto/protocol.ts'
import { readStoredRecord } from '../record.ts'
import type { RecordStore } from '../record-store.ts'
import { boundedLengthDecoder } from '../protocol/replication.ts'
import { SyncLimitError, SyncMalformedError } from './errors.ts'
import { yieldToEventLoop } from '../yield.ts'
import { ITEM_ID_BYTES, ITEM_KEY_BYTES, lowerBound, type SyncItems } from './items.ts'
import { checkRanges, idText, MODE_IDS, MODE_SKIP, openingRanges, reconcile } from './reconcile.ts'

const log = logger('roomkv:sync')

/** Records per reply frame: a frame of 1 MiB holds at most ~7,000 minimal records. */
const MAX_FRAME_RECORDS = 16_384
/** Bytes of records per reply frame, below MAX_SYNC_FRAME_BYTES with room for framing. */
const FRAME_RECORD_BYTES = MAX_SYNC_FRAME_BYTES - 64 * 1024
/** Bytes of records in the first reply frame of a round; each next frame may hold twice as many. */
const FIRST_FRAME_RECORD_BYTES = 64 * 1024
/** Keys read from storage at once when serving records. */
const READ_BATCH_KEYS = 256
/** Reply frames one asker accepts in one sync: 16 GiB of records at most, a bound on a responder that never says `last`. */
const MAX_REPLY_FRAMES = 16_384
/** Reply frames received and not yet merged, at most (each up to 1 MiB). */
const MERGE_BACKLOG = 2
/** The first reply may take this many read timeouts (the responder builds its index first). */
const FIRST_REPLY_TIMEOUT_FACTOR = 6
/** Bytes of records pushed back per replication send. */
const PUSH_CHUNK_BYTES = 1024 * 1024

export interface SyncProgress {
  /** Records received so far. */
  received: number
  /** Items the responder holds: an upper bound of what this sync can receive. */
  total: number
}

export interface AskResult {
  received: number
  stored: number
  sent: number
  /** Queries sent (the last, range-less one included). */
  rounds: number
  /** Bytes of sync messages sent and received (length prefixes included), records pushed back not included. */
  bytesSent: number
  bytesReceived: number
}

export interface AskInit {
  stream: Stream
  store: RecordStore
  roomId: Uint8Array
  signal: AbortSignal
  /** Every read times out after this. */
  readTimeout: number
  /** Send records the responder lacks (over the replication session); resolves with how many it took. */
  push(records: Uint8Array[]): Promise<number>
  /**
   * Push back at most this many records; the responder gets the rest when
   * it syncs with us itself (members do, with every member they meet). A
   * newcomer still catching up from a relay lacks the whole room: pushing
   * it all sent the room twice. @default unlimited (a relay only learns
   * what it missed from its members' pushes)
   */
  maxPushBack?: number
  onProgress?(progress: SyncProgress): void
}

export interface ServeInit {
  stream: Stream
  store: RecordStore
  readTimeout: number
  /** Called with the first query, before any work: throw to refuse (the code is sent to the asker). */
  admit(query: SyncQuery): Promise<void> | void
  /** Charge a frame of records before it is sent; throws to stop serving. */
  admitRead?(records: number, bytes: number): Promise<void> | void
}

function lp (stream: Stream, maxDataLength: number): LengthPrefixedStream<Stream> {
  return lpStream(stream, { maxDataLength, lengthDecoder: boundedLengthDecoder })
}

const varintBytes = (n: number): number => n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4

function decodeQuery (bytes: Uint8Array | { subarray(): Uint8Array }): SyncQuery {
  try {
    return SyncQuery.decode(bytes as Uint8Array, { limits: { ranges: MAX_SYNC_RANGES } })
  } catch (err: any) {
    if (err?.name === 'MaxLengthError') throw new SyncLimitError(err.message)
    throw new SyncMalformedError(`SyncQuery does not parse: ${err?.message}`)
  }
}

function decodeReply (bytes: Uint8Array | { subarray(): Uint8Array }): SyncReply {
  try {
    return SyncReply.decode(bytes as Uint8Array, { limits: { ranges: MAX_SYNC_RANGES, records: MAX_FRAME_RECORDS } })
  } catch (err: any) {
    if (err?.name === 'MaxLengthError') throw new SyncLimitError(err.message)
    throw new SyncMalformedError(`SyncReply does not parse: ${err?.message}`)
  }
}

/** A want / need list: whole 16-byte ids, at most MAX_SYNC_IDS. */
function checkIdList (ids: Uint8Array, what: string): void {
  if (ids.length % ITEM_ID_BYTES !== 0) throw new SyncMalformedError(`${what} is not a list of 16-byte ids`)
  if (ids.length / ITEM_ID_BYTES > MAX_SYNC_IDS) throw new SyncLimitError(`${what} lists more than ${MAX_SYNC_IDS} ids`)
}

function concatIds (ids: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ids.length * ITEM_ID_BYTES)
  ids.forEach((id, i) => { out.set(id, i * ITEM_ID_BYTES) })
  return out
}

/** Indexes of the items with these record ids among `listed` (other ids are left out), ascending. */
function indexesOf (listed: Map<string, number>, ids: Uint8Array): number[] {
  const out: number[] = []
  for (let o = 0; o < ids.length; o += ITEM_ID_BYTES) {
    const i = listed.get(idText(ids, o))
    if (i != null) out.push(i)
  }
  return out.sort((a, b) => a - b)
}

/**
 * My items that a message of mine listed in its ids ranges, by record id:
 * the only ids the peer may name back (`want` answers the responder's
 * lists, `need` the asker's). At most MAX_SYNC_IDS entries, so naming ids
 * never costs a map of the whole room.
 */
function listedIn (items: SyncItems, ranges: SyncRange[]): Map<string, number> {
  const listed = new Map<string, number>()
  let lo = 0
  for (const range of ranges) {
    const hi = lowerBound(items, range.upper.length === 0 ? null : range.upper, lo)
    if (range.mode === MODE_IDS) for (let i = lo; i < hi; i++) listed.set(idText(items.ids, i * ITEM_ID_BYTES), i)
    lo = hi
  }
  return listed
}

/**
 * The records of items (ascending indexes), in key order, read from storage
 * READ_BATCH_KEYS keys at a time: never more than one batch in memory. A key
 * whose every stored head is wanted is sent as stored, unparsed; otherwise
 * its heads are parsed and only the wanted ones sent.
 */
async function * recordsOf (store: RecordStore, roomId: Uint8Array, items: SyncItems, indexes: number[]): AsyncGenerator<Uint8Array> {
  let i = 0
  while (i < indexes.length) {
    // One batch: up to READ_BATCH_KEYS distinct keys, with the wanted ids of each.
    const keys: Uint8Array[] = []
    const wanted: Array<Set<string>> = []
    while (i < indexes.length && keys.length < READ_BATCH_KEYS) {
      const index = indexes[i]
      const keyId = items.keys.subarray(index * ITEM_KEY_BYTES, (index + 1) * ITEM_KEY_BYTES)
      const ids = new Set<string>()
      while (i < indexes.length && equals(items.keys.subarray(indexes[i] * ITEM_KEY_BYTES, (indexes[i] + 1) * ITEM_KEY_BYTES), keyId)) {
        ids.add(idText(items.ids, indexes[i] * ITEM_ID_BYTES))
        i++
      }
      keys.push(keyId)
      wanted.push(ids)
    }
    const stored = await store.storedHeads(roomId, keys)
    for (let k = 0; k < keys.length; k++) {
      const heads = stored[k]
      if (heads.length === wanted[k].size) {
        yield * heads
        continue
      }
      for (const bytes of heads) {
        try {
          if (wanted[k].has(idText(readStoredRecord(bytes).id))) yield bytes
        } catch {} // unreadable stored bytes are never served
      }
    }
  }
}

/** The asker's side: reconcile with the responder, merge what it sends, push back what it lacks. */
export async function askSync (init: AskInit): Promise<AskResult> {
  const { store, roomId } = init
  const signal = AbortSignal.any([init.signal, AbortSignal.timeout(MAX_SYNC_DURATION)])
  const started = Date.now()
  const items = await store.syncItems(roomId)
  log('ask: %d items (index ready after %d ms)', items.count, Date.now() - started)
  // What the last query listed: the responder's `need` names ids from it.
  let listed = new Map<string, number>()
  const messages = lp(init.stream, MAX_SYNC_FRAME_BYTES + 64 * 1024)
  const result: AskResult = { received: 0, stored: 0, sent: 0, rounds: 0, bytesSent: 0, bytesReceived: 0 }
  let total = 0

  // Queries are written without holding up the reads: the responder reads
  // the next query only after streaming this round's records, so a reader
  // blocked on a write (a full window) would never drain those records.
  let writing: Promise<void> = Promise.resolve()
  let writeError: unknown
  const send = (ranges: SyncRange[], want: Uint8Array[]): void => {
    if (++result.rounds > MAX_SYNC_ROUNDS) throw new SyncLimitError(`Sync did not end in ${MAX_SYNC_ROUNDS} rounds`)
    listed = listedIn(items, ranges)
    const bytes = SyncQuery.encode({ roomId, ranges, want: concatIds(want) })
    result.bytesSent += bytes.length + varintBytes(bytes.length)
    writing = writing.then(async () => { await messages.write(bytes, { signal }) }).catch((err: unknown) => { writeError ??= err })
  }

  // Records the responder lacks go back over the replication session, one
  // chunk after another, while the exchange goes on.
  let pushing: Promise<void> = Promise.resolve()
  let pushError: unknown
  let pushBudget = init.maxPushBack ?? Infinity
  const pushBack = (all: number[]): void => {
    const indexes = all.length <= pushBudget ? all : all.slice(0, pushBudget)
    pushBudget -= indexes.length
    if (indexes.length === 0) return
    pushing = pushing.then(async () => {
      let chunk: Uint8Array[] = []
      let bytes = 0
      for await (const record of recordsOf(store, roomId, items, indexes)) {
        chunk.push(record)
        bytes += record.length
        if (bytes >= PUSH_CHUNK_BYTES) {
          result.sent += await init.push(chunk)
          chunk = []
          bytes = 0
        }
      }
      if (chunk.length > 0) result.sent += await init.push(chunk)
    }).catch((err: unknown) => { pushError ??= err })
  }

  // Frames go to the store as they arrive: it merges frame N (and checks
  // the signatures of its next batch ahead) while frame N+1 is read. At
  // most MERGE_BACKLOG frames are in the store's queue; then reading pauses,
  // and the responder's writes with it.
  const merging: Array<Promise<void>> = []
  const merge = async (records: Uint8Array[]): Promise<void> => {
    if (records.length === 0) return
    merging.push(store.mergeMany(records, { roomId }).then((merged) => {
      for (const m of merged) if (!(m instanceof Error) && m.status === 'stored') result.stored++
    }))
    if (merging.length < MERGE_BACKLOG) return
    // Paused, the muxer stops granting the responder window, so what is in
    // flight stays below the stream's 4 MiB read buffer (yamux otherwise
    // acknowledges every frame on arrival, read or not, and a responder
    // faster than this store overflowed it: the sync of a 60,000-key room
    // failed and restarted every ~25 s).
    setReading(false)
    try {
      while (merging.length >= MERGE_BACKLOG) await merging.shift()
    } finally {
      setReading(true)
    }
  }
  const setReading = (on: boolean): void => {
    try {
      if (on) init.stream.resume()
      else init.stream.pause()
    } catch {} // closing: the next read reports it
  }

  send(openingRanges(items), [])
  let outstanding = 1 // rounds whose reply has not ended
  let ended = false // the last (range-less) query was sent
  let header = true // the next frame starts a round
  for (let frames = 0; outstanding > 0; frames++) {
    if (frames > MAX_REPLY_FRAMES) throw new SyncLimitError('Sync reply did not end')
    // The first header may wait for the responder to build its sync index
    // (a pass over the room in storage: seconds for 100,000 keys on a busy relay).
    const raw = await messages.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(frames === 0 ? FIRST_REPLY_TIMEOUT_FACTOR * init.readTimeout : init.readTimeout)]) })
    result.bytesReceived += raw.byteLength + varintBytes(raw.byteLength)
    const frame = decodeReply(raw)
    if (frame.error !== '') throw Object.assign(new ProtocolError(`Peer refused sync: ${frame.error}`), { refusal: frame.error })
    if (header) {
      header = false
      if (result.rounds === 1) total = frame.total
      log('ask: round header after %d ms: %d ranges, need %d, total %d', Date.now() - started, frame.ranges.length, frame.need.length / ITEM_ID_BYTES, frame.total)
      checkIdList(frame.need, 'need')
      pushBack(indexesOf(listed, frame.need))
      if (!ended) {
        if (frame.ranges.length === 0) throw new SyncMalformedError('Round header without ranges')
        checkRanges(frame.ranges)
        const step = reconcile(items, frame.ranges)
        pushBack(step.theyLack)
        if (step.open) {
          send(step.ranges, step.iLack)
          outstanding++
        } else {
          send([], step.iLack)
          ended = true
          if (step.iLack.length > 0) outstanding++
        }
      } else if (frame.ranges.length > 0) {
        throw new SyncMalformedError('Ranges after the last query')
      }
    } else if (frame.ranges.length > 0 || frame.need.length > 0) {
      throw new SyncMalformedError('Ranges in a records frame')
    }
    if (writeError != null) throw writeError
    result.received += frame.records.length
    await merge(frame.records)
    init.onProgress?.({ received: result.received, total })
    if (frame.last) {
      outstanding--
      header = true
    }
  }
  log('ask: last frame after %d ms, %d received', Date.now() - started, result.received)
  await writing
  await Promise.all(merging)
  await pushing
  if (writeError != null) throw writeError
  if (pushError != null) throw pushError
  log('ask: done after %d ms: %o', Date.now() - started, result)
  return result
}

/** The responder's side: answer queries until the last one, sending the records the asker lacks. */
export async function serveSync (init: ServeInit): Promise<{ rounds: number, sent: number }> {
  const { store } = init
  const deadline = AbortSignal.timeout(MAX_SYNC_DURATION)
  const messages = lp(init.stream, MAX_SYNC_QUERY_BYTES)
  const read = async (): Promise<SyncQuery> => decodeQuery(await messages.read({ signal: AbortSignal.any([deadline, AbortSignal.timeout(init.readTimeout)]) }))
  const write = async (reply: Partial<SyncReply>): Promise<void> => {
    await messages.write(SyncReply.encode({ ranges: [], need: new Uint8Array(0), records: [], last: false, error: '', total: 0, ...reply }), { signal: deadline })
  }
  let query = await read()
  try {
    await init.admit(query)
  } catch (err) {
    // Refused before any work: say why, then end.
    await write({ error: errorCode(err), last: true }).catch(() => {})
    throw err
  }
  const roomId = query.roomId
  if (roomId.length !== ROOM_ID_BYTES) throw new SyncMalformedError('Room id has the wrong length')
  let items: SyncItems | undefined
  // What the last reply listed: the asker's `want` names ids from it.
  let listed = new Map<string, number>()
  let rounds = 0
  let sent = 0
  /** The room's item set, from the store's index on first need (a newcomer's sync never needs it). */
  const indexed = async (): Promise<SyncItems> => {
    if (items == null) {
      const started = Date.now()
      items = await store.syncItems(roomId)
      log('serve: %d items (index ready after %d ms)', items.count, Date.now() - started)
    }
    return items
  }
  try {
    for (;;) {
      if (++rounds > MAX_SYNC_ROUNDS) throw new SyncLimitError(`Sync did not end in ${MAX_SYNC_ROUNDS} rounds`)
      if (!equals(query.roomId, roomId)) throw new SyncMalformedError('Room id changed during the sync')
      checkIdList(query.want, 'want')
      const last = query.ranges.length === 0
      if (rounds === 1 && holdsNothing(query)) {
        // An empty replica (a newcomer): the answer is every live head, so
        // stream them straight from storage. Building the index first read
        // and hashed the whole room before the first record went out.
        const t = Date.now()
        await write({ ranges: [{ upper: NONE, mode: MODE_SKIP, fingerprint: NONE, ids: NONE }], total: await store.keyCount(roomId) ?? 0, last: false })
        sent += await streamRecords(init, store.liveRecords(roomId), write)
        log('serve: round 1 sent the whole room (%d records) in %d ms', sent, Date.now() - t)
        query = await read()
        continue
      }
      let toSend = indexesOf(listed, query.want)
      if (last) {
        if (toSend.length === 0 && query.want.length === 0) break
        await write({ total: rounds === 1 ? (await indexed()).count : 0, last: toSend.length === 0 })
      } else {
        checkRanges(query.ranges)
        const all = await indexed()
        const step = reconcile(all, query.ranges)
        listed = listedIn(all, step.ranges)
        if (step.theyLack.length > 0) toSend = mergeSorted(toSend, step.theyLack)
        await write({ ranges: step.ranges, need: concatIds(step.iLack), total: rounds === 1 ? all.count : 0, last: toSend.length === 0 })
      }
      if (toSend.length > 0) {
        const t = Date.now()
        sent += await streamRecords(init, recordsOf(init.store, roomId, await indexed(), toSend), write)
        log('serve: round %d sent %d records in %d ms', rounds, toSend.length, Date.now() - t)
      }
      if (last) break
      query = await read()
    }
  } catch (err) {
    // A clear refusal for the asker when the fault is its message.
    if (err instanceof RoomkvError) await write({ error: err.code, last: true }).catch(() => {})
    throw err
  }
  return { rounds, sent }
}

const NONE = new Uint8Array(0)

/**
 * The asker's first query says it holds nothing: one ids range over the
 * whole item space, naming no id, and no `want`. Reconciling it against
 * any item set gives one skip range and every item to send.
 */
function holdsNothing (query: SyncQuery): boolean {
  if (query.ranges.length !== 1 || query.want.length !== 0) return false
  const [range] = query.ranges
  return range.upper.length === 0 && range.mode === MODE_IDS && range.ids.length === 0
}

/** `records` in frames of at most FRAME_RECORD_BYTES, each charged before it is sent; the last frame says `last`. */
async function streamRecords (init: ServeInit, records: AsyncIterable<Uint8Array>, write: (reply: Partial<SyncReply>) => Promise<void>): Promise<number> {
  let frame: Uint8Array[] = []
  let bytes = 0
  let sent = 0
  // Small frames first, doubling up to the largest: the asker starts
  // checking records after one round trip's worth of bytes instead of a
  // whole 1 MiB frame, and large frames keep the per-frame cost low after.
  let target = FIRST_FRAME_RECORD_BYTES
  const flush = async (last: boolean): Promise<void> => {
    await init.admitRead?.(frame.length, bytes)
    await write({ records: frame, last })
    sent += frame.length
    frame = []
    bytes = 0
    target = Math.min(2 * target, FRAME_RECORD_BYTES)
    // Storage reads and writes to a fast stream all resolve as microtasks:
    // without a turn of the event loop here the socket would see nothing
    // until the last frame, and every other peer of this process would wait.
    if (!last) await yieldToEventLoop()
  }
  for await (const record of records) {
    if (frame.length > 0 && (bytes + record.length + 8 > target || frame.length >= MAX_FRAME_RECORDS)) await flush(false)
    frame.push(record)
    bytes += record.length + 8
  }
  // The round always ends with a `last` frame, empty if the records ran out (a key deleted meanwhile).
  await flush(true)
  return sent
}

function mergeSorted (a: number[], b: number[]): number[] {
  const out: number[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i++] : b[j++]
    if (out.length === 0 || out[out.length - 1] !== next) out.push(next)
  }
  return out
}
