/**
 * The one place records are merged. Every path (local write, push, sync, DHT
 * PUT) goes through `merge`, which verifies the record and updates the key's
 * heads: the versions no known version replaces. Writes that did not see
 * each other are all kept (a conflict) until a later write replaces them;
 * the winner among heads is deterministic, so replicas that saw the same
 * records hold the same state and show the same winner and conflicts.
 */
import { equals } from 'uint8arrays'
import { base32 } from './base32.ts'
import { DIGEST_ID_BYTES, MAX_HEADS, MAX_RECORD_BYTES, MAX_REPLACES, MAX_SEEN, RECORD_ID_BYTES } from './constants.ts'
import { compareClocks, type Clock } from './hlc.ts'
import { HeadSet } from './proto/record.ts'
import { compareRecords, readStoredRecord, recordIdOf, verifyRecordAsync, type RecordAuthenticator, type VerifiedRecord } from './record.ts'
import { roomIdFromRoomKey } from './room-keys.ts'
import type { SignatureVerifier } from './signature.ts'
import { yieldToEventLoop } from './yield.ts'
import { createSyncIndex, type SyncIndex } from './sync/index.ts'
import type { SyncItems } from './sync/items.ts'

/** One change of a batch: `value` undefined deletes the key. */
export interface StorageWrite {
  roomId: string
  keyId: string
  value?: Uint8Array
}

/** What happened to one write of a batch: applied, or refused (quota) and not applied. */
export type StorageWriteResult = { ok: true } | { ok: false, error: Error }

/** Raw storage of one key's heads (encoded HeadSet) by room and key id (base32 text). */
export interface RecordStorage {
  get(roomId: string, keyId: string): Promise<Uint8Array | undefined>
  /**
   * Several keys of one room in one read (one transaction / query); missing
   * keys are undefined, in the order asked. Optional: falls back to `get`.
   */
  getMany?(roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>>
  /**
   * Apply a batch in one transaction. Writes a quota refuses are left out
   * and reported (`{ ok: false, error }`, e.g. RoomFullError); every other
   * write is applied, and all applied writes are durable together when the
   * promise resolves. Optional: falls back to `put`/`delete` one by one.
   *
   * Reads called after `write` (before it resolves) must see its applied
   * writes: the record store computes the next batch while this one
   * commits. IndexedDB runs transactions of one store in creation order;
   * SQLite and memory storage apply the batch synchronously.
   */
  write?(ops: StorageWrite[]): Promise<StorageWriteResult[]>
  put(roomId: string, keyId: string, value: Uint8Array): Promise<void>
  delete(roomId: string, keyId: string): Promise<void>
  /** Every stored value of one room (in key id order where the storage can). */
  list(roomId: string): AsyncIterable<Uint8Array>
  /** Every room with stored values (for garbage collection). */
  rooms?(): AsyncIterable<string>
  /** Keys stored for a room, where the storage keeps a count. Optional. */
  count?(roomId: string): number | Promise<number>
  close(): Promise<void>
}

export type MergeStatus = 'stored' | 'known' | 'stale'

export interface MergeResult {
  /**
   * stored: the record is now a head (the winner, or a conflict);
   * known: it already was; stale: a known head replaces it.
   */
  status: MergeStatus
  record: VerifiedRecord
  /** The key's winner after the merge. */
  winner: VerifiedRecord
  /** The key's heads after the merge, winner first. */
  heads: VerifiedRecord[]
}

export interface MergeOptions {
  roomId?: Uint8Array
  keyId?: Uint8Array
}

export interface DigestEntry {
  keyId: Uint8Array
  recordId: Uint8Array
}

export interface RecordStore {
  /**
   * Verify then merge. Throws the verification error for invalid records.
   * Merges called in the same tick (or while a batch is being written) are
   * verified side by side and written in one storage transaction; a record
   * already held as a head is answered `known` without any crypto.
   */
  merge(bytes: Uint8Array, options?: MergeOptions): Promise<MergeResult>
  /**
   * merge() for many records at once: one result or error per record, in
   * order. A record may be given as readStoredRecord's parse of its bytes
   * (a receiver that checked structure first): it is not parsed again, and
   * still fully verified.
   */
  mergeMany(records: Array<Uint8Array | VerifiedRecord>, options?: MergeOptions): Promise<Array<MergeResult | Error>>
  /** Merge a record this replica just sealed (sealRecordAsync): no signature check. */
  mergeOwn(record: VerifiedRecord): Promise<MergeResult>
  /**
   * A local write of one key: `build` gets the key's live heads as they are
   * when its batch is merged and seals the new record (which must be of
   * that room and key). Writes of one tick share one read and one write
   * transaction; writes of one key see each other, in call order.
   */
  writeOwn(roomId: Uint8Array, keyId: Uint8Array, build: (heads: VerifiedRecord[]) => Promise<VerifiedRecord>): Promise<MergeResult>
  /** The key's winner, if any live version exists. */
  get(roomId: Uint8Array, keyId: Uint8Array): Promise<VerifiedRecord | undefined>
  /** The key's live heads, winner first (more than one = a conflict). */
  heads(roomId: Uint8Array, keyId: Uint8Array): Promise<VerifiedRecord[]>
  /** Every live head of every key of a room. */
  list(roomId: Uint8Array): AsyncIterable<VerifiedRecord>
  /** Live heads grouped by key, winner first. */
  keys(roomId: Uint8Array): AsyncIterable<VerifiedRecord[]>
  /** One entry per live head. */
  digest(roomId: Uint8Array): Promise<DigestEntry[]>
  /**
   * The room's live heads as a sorted item set: what sync reconciles. Served
   * from an index kept up to date by every merge (built from storage on the
   * room's first sync, one pass); see RecordStoreInit.maxIndexedItems.
   */
  syncItems(roomId: Uint8Array): Promise<SyncItems>
  /**
   * Every live head of a room, encoded and unparsed, in storage order: a
   * sync's bulk transfer to a replica that holds nothing reads the room
   * once, without the sync index (whose first build reads and hashes every
   * record before the first one is sent: ~1.5 s for 100,000 keys).
   */
  liveRecords(roomId: Uint8Array): AsyncIterable<Uint8Array>
  /** Keys stored for a room, when the storage counts them (a progress hint). */
  keyCount(roomId: Uint8Array): Promise<number | undefined>
  /**
   * The stored heads of many keys (encoded records, unparsed, expired ones
   * included), in the order asked, in one storage read: what sync serves.
   */
  storedHeads(roomId: Uint8Array, keyIds: Uint8Array[]): Promise<Uint8Array[][]>
  /** Called for every record that became a head, with the key's heads after it. */
  onRecord(listener: (record: VerifiedRecord, heads: VerifiedRecord[]) => void): () => void
  /** Drop expired versions from storage (reads already hide them). Returns how many were dropped. */
  prune(): Promise<number>
  close(): Promise<void>
}

export interface RecordStoreInit {
  /** @default Date.now */
  now?: () => number
  /** Most records merged in one batch (one storage transaction). @default 512 */
  maxBatch?: number
  /** Told about stored bytes that no longer decode (they are hidden, and replaced by the next merge of the key). */
  onCorrupt?(bytes: Uint8Array): void
  /**
   * Items (live heads) the sync index holds in memory across rooms, 56 bytes
   * each (key id, record id, expiry): 1,000,000 is ~56 MB. Past it, the
   * rooms synced least recently are dropped and rebuilt from storage when
   * synced again. @default 1,000,000
   */
  maxIndexedItems?: number
  /**
   * Where signatures of received records are checked: a tab passes a pool
   * of Workers, so a catch-up of 10,000 records does not hold its main
   * thread (Chromium's Ed25519 verify runs on the calling thread).
   * @default verifySignature (this thread)
   */
  verifySignature?: SignatureVerifier
  /**
   * A member's check of received records in place of their signatures
   * (RecordAuthenticator in record.ts): a room's client opens the records of
   * its room, which costs an AES-GCM decryption instead of an Ed25519 check
   * and leaves the payload ready for reading. @default none: signatures
   */
  authenticate?: RecordAuthenticator
}

/** Storage's text for room and key ids (base32). */
const text = base32

/** Records mergeMany queues before it gives the event loop a turn. */
const ENQUEUE_SLICE = 256
/** Longest run of index building (reading a room from storage) between turns of the event loop, ms. */
const INDEX_BUILD_SLICE_MS = 10

/**
 * What a new write of a key supersedes: every head the writer holds, then
 * what those heads superseded, so a replica that missed an intermediate
 * version still recognises older ones as replaced. Capped at MAX_REPLACES.
 */
export function supersededBy (heads: VerifiedRecord[]): Uint8Array[] {
  const out: Uint8Array[] = []
  const add = (id: Uint8Array): void => {
    if (out.length < MAX_REPLACES && !out.some(o => equals(o, id))) out.push(id)
  }
  for (const head of heads) add(head.id)
  for (const head of heads) for (const id of head.body.replaces) add(id)
  return out
}

/**
 * The causal context of a new write of a key: the ids it supersedes, and per
 * writer the newest version seen (every head and what each head had seen).
 * A version is replaced if a head lists its id, or has seen its writer at or
 * past its clock; the second rule has no depth limit.
 */
export function writeContext (heads: VerifiedRecord[]): { replaces: Uint8Array[], seen: Array<{ writer: string, clock: Clock }> } {
  const newest = new Map<string, Clock>()
  const see = (writer: string, clock: Clock): void => {
    const known = newest.get(writer)
    if (known == null || compareClocks(clock, known) > 0) newest.set(writer, clock)
  }
  for (const head of heads) {
    see(head.body.writer, head.clock)
    for (const s of head.body.seen) see(s.writer, { wall: s.wall, counter: s.counter })
  }
  const seen = [...newest].map(([writer, clock]) => ({ writer, clock }))
    .sort((a, b) => compareClocks(b.clock, a.clock) || (a.writer < b.writer ? -1 : 1))
    .slice(0, MAX_SEEN)
  return { replaces: supersededBy(heads), seen }
}

/** True when `later` was written by someone who had seen `earlier`. */
export function hasSeen (later: VerifiedRecord, earlier: VerifiedRecord): boolean {
  if (later.body.replaces.some(id => equals(id, earlier.id))) return true
  return later.body.seen.some(s => s.writer === earlier.body.writer &&
    compareClocks({ wall: s.wall, counter: s.counter }, earlier.clock) >= 0)
}

interface Pending {
  bytes: Uint8Array
  /** The record id: all a record already held needs (no parse, no crypto). */
  id: Uint8Array
  /**
   * Fully parsed, when the caller had it (own records, receivers that
   * checked structure); otherwise verification parses it, once.
   */
  parsed?: VerifiedRecord
  verified: boolean
  /** Verification started ahead of the batch (a backlog: see drain). */
  verifying?: Promise<VerifiedRecord | Error>
  /** A local write: the record is sealed inside the batch, from the key's heads at that point. */
  build?: (heads: VerifiedRecord[]) => Promise<VerifiedRecord>
  options: MergeOptions
  roomId: string
  keyId: string
  resolve(result: MergeResult): void
  reject(err: unknown): void
}

/**
 * What the sync index needs of a stored record (key id, record id, expiry),
 * read without decoding the whole body: a full parse (readStoredRecord)
 * decodes the writer, the seen list and the sealed payload, and was two
 * thirds of building the index of a 100,000-key room. Stored records were
 * verified when merged; bytes that do not scan are skipped (reads hide them
 * too).
 */
function indexedHeadOf (bytes: Uint8Array): { keyId: Uint8Array, recordId: Uint8Array, expiresAt: number } | undefined {
  const body = protoField(bytes, 1, 2)
  if (!(body instanceof Uint8Array)) return undefined
  const keyId = protoField(body, 3, 2)
  const expiresAt = protoField(body, 8, 0) ?? 0
  if (!(keyId instanceof Uint8Array) || keyId.length !== 32 || typeof expiresAt !== 'number') return undefined
  return { keyId, recordId: recordIdOf(body), expiresAt }
}

/** An encoded SignedRecord's expiry (0 = never), scanned (not parsed); undefined when it does not scan. */
function expiresAtOf (bytes: Uint8Array): number | undefined {
  const body = protoField(bytes, 1, 2)
  if (!(body instanceof Uint8Array)) return undefined
  const expiresAt = protoField(body, 8, 0) ?? 0
  return typeof expiresAt === 'number' ? expiresAt : undefined
}

/** Body, room key and key id of an encoded SignedRecord, scanned (not parsed); undefined when they are missing or of the wrong size. */
function scanRecord (bytes: Uint8Array): { body: Uint8Array, roomKey: Uint8Array, keyId: Uint8Array } | undefined {
  const body = protoField(bytes, 1, 2)
  if (!(body instanceof Uint8Array)) return undefined
  const roomKey = protoField(body, 2, 2)
  const keyId = protoField(body, 3, 2)
  if (!(roomKey instanceof Uint8Array) || roomKey.length !== 32 || !(keyId instanceof Uint8Array) || keyId.length !== 32) return undefined
  return { body, roomKey, keyId }
}

/** The first field `field` of wire type `type` (0 varint, 2 bytes) of a protobuf message; undefined when absent or the message does not scan. */
function protoField (message: Uint8Array, field: number, type: 0 | 2): Uint8Array | number | undefined {
  // No closures or objects per call: a catch-up scans three fields of every record.
  let pos = 0
  while (pos < message.length) {
    const tag = readVarint(message, pos)
    if (tag < 0) return undefined
    pos = varintEnd
    const wire = tag % 8
    const number = Math.floor(tag / 8)
    if (wire === 0) {
      const value = readVarint(message, pos)
      if (value < 0) return undefined
      pos = varintEnd
      if (number === field && type === 0) return value
    } else if (wire === 2) {
      const length = readVarint(message, pos)
      if (length < 0) return undefined
      pos = varintEnd
      if (pos + length > message.length) return undefined
      if (number === field && type === 2) return message.subarray(pos, pos + length)
      pos += length
    } else if (wire === 1) {
      pos += 8
    } else if (wire === 5) {
      pos += 4
    } else {
      return undefined
    }
  }
  return undefined
}

/** Where the last readVarint ended (module state: protoField runs synchronously). */
let varintEnd = 0

/** The varint at `pos`, or -1 when it is truncated or longer than 64 bits; sets varintEnd. */
function readVarint (bytes: Uint8Array, pos: number): number {
  let value = 0
  for (let shift = 0; shift < 64; shift += 7) {
    if (pos >= bytes.length) return -1
    const b = bytes[pos++]
    value += (b & 0x7f) * 2 ** shift
    if (b < 0x80) {
      varintEnd = pos
      return value
    }
  }
  return -1
}

/** Keep the MAX_HEADS greatest heads of a key (see docs/protocol.md, "Heads and merge"). */
function capHeads (heads: VerifiedRecord[]): VerifiedRecord[] {
  return heads.length > MAX_HEADS ? heads.slice(0, MAX_HEADS) : heads
}

export function createRecordStore (storage: RecordStorage, init: RecordStoreInit = {}): RecordStore {
  const now = init.now ?? Date.now
  const maxBatch = init.maxBatch ?? 512
  const listeners = new Set<(record: VerifiedRecord, heads: VerifiedRecord[]) => void>()
  // Every change of storage runs one batch at a time: merges queued while a
  // batch is written form the next batch (that is the coalescing: no timer).
  let chain: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn)
    chain = next.catch(() => {})
    return next
  }
  const queue: Pending[] = []
  let draining: Promise<void> | undefined
  const syncIndex: SyncIndex = createSyncIndex({
    maxItems: init.maxIndexedItems,
    now,
    async * read (roomId) {
      // A big room takes a while to read and index: other work (another
      // peer's write, a sync already streaming) gets turns meanwhile.
      let lastTurn = Date.now()
      for await (const bytes of headsInStorage(roomId)) {
        if (Date.now() - lastTurn > INDEX_BUILD_SLICE_MS) {
          await yieldToEventLoop()
          lastTurn = Date.now()
        }
        const head = indexedHeadOf(bytes)
        if (head != null) yield head
      }
    }
  })

  /** Every stored head of a room (storage's room id), encoded, expired ones included; values that do not decode are skipped (reads hide them too). */
  async function * headsInStorage (roomId: string): AsyncGenerator<Uint8Array> {
    for await (const value of storage.list(roomId)) {
      let records: Uint8Array[]
      try {
        records = HeadSet.decode(value).records
      } catch {
        continue
      }
      yield * records
    }
  }

  const isLive = (record: VerifiedRecord): boolean => record.body.expiresAt === 0 || record.body.expiresAt > now()

  /**
   * The record ids of a stored value's heads, by the value itself: storage
   * that keeps the values it was given in memory (a tab's resident rooms,
   * memory storage) hands the same objects back, and reading them then
   * costs no SHA-256 per record (listing a 100,000-key room spent 0.7 s of
   * its 1.8 s hashing). Values are never changed in place, only replaced;
   * entries go with their values. The ids of a value are kept end to end in
   * one array (~100 bytes a key in all, against ~330 for the value itself).
   */
  const storedIds = new WeakMap<Uint8Array, Uint8Array>()
  const keepIds = (value: Uint8Array, heads: VerifiedRecord[]): void => {
    const ids = new Uint8Array(heads.length * RECORD_ID_BYTES)
    heads.forEach((h, i) => { ids.set(h.id, i * RECORD_ID_BYTES) })
    storedIds.set(value, ids)
  }

  /** Stored heads, live or not; unreadable entries are dropped (they never win). */
  function decode (value: Uint8Array | undefined): VerifiedRecord[] {
    if (value == null) return []
    let set: HeadSet
    try {
      set = HeadSet.decode(value)
    } catch {
      init.onCorrupt?.(value)
      return []
    }
    const known = storedIds.get(value)
    const ids = known?.length === set.records.length * RECORD_ID_BYTES ? known : undefined
    const heads: VerifiedRecord[] = []
    set.records.forEach((bytes, i) => {
      try {
        heads.push(readStoredRecord(bytes, ids?.subarray(i * RECORD_ID_BYTES, (i + 1) * RECORD_ID_BYTES)))
      } catch {
        init.onCorrupt?.(bytes)
      }
    })
    if (ids == null && heads.length === set.records.length) keepIds(value, heads)
    return heads
  }

  const byRank = (a: VerifiedRecord, b: VerifiedRecord): number => compareRecords(b, a)
  const live = (heads: VerifiedRecord[]): VerifiedRecord[] => heads.filter(isLive).sort(byRank)

  async function readMany (roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>> {
    if (storage.getMany != null) return storage.getMany(roomId, keyIds)
    return Promise.all(keyIds.map(keyId => storage.get(roomId, keyId)))
  }

  async function writeMany (ops: StorageWrite[]): Promise<StorageWriteResult[]> {
    if (ops.length === 0) return []
    if (storage.write != null) return storage.write(ops)
    const settled = await Promise.allSettled(ops.map(op => op.value == null ? storage.delete(op.roomId, op.keyId) : storage.put(op.roomId, op.keyId, op.value)))
    return settled.map(r => r.status === 'fulfilled' ? { ok: true } : { ok: false, error: r.reason instanceof Error ? r.reason : new Error(String(r.reason)) })
  }

  /**
   * The next batch: queue order, one record per key (a later record of a
   * key waits for the next batch, so merges of a key keep call order). Scans
   * only as far as the batch fills: a backlog of 100,000 records costs
   * O(batch) per batch, not a pass over the whole queue.
   */
  function takeBatch (): Pending[] {
    const batch: Pending[] = []
    const waiting: Pending[] = []
    const keys = new Set<string>()
    let i = 0
    for (; i < queue.length && batch.length < maxBatch; i++) {
      const p = queue[i]
      const key = `${p.roomId}/${p.keyId}`
      if (keys.has(key)) {
        waiting.push(p)
        continue
      }
      keys.add(key)
      batch.push(p)
    }
    // The records that wait keep their place, ahead of the unscanned rest.
    queue.splice(0, i, ...waiting)
    return batch
  }

  const verifyPending = async (p: Pending, t: number): Promise<VerifiedRecord | Error> => {
    try {
      // p.id was computed from p.bytes at enqueue (scanRecord): no second SHA-256.
      return await verifyRecordAsync(p.bytes, { ...p.options, now: t, verifySignature: init.verifySignature, authenticate: init.authenticate }, p.id.length > 0 ? p.id : undefined)
    } catch (err: any) {
      return err instanceof Error ? err : new Error(String(err))
    }
  }

  // Batches are computed one at a time (serial) but committed in a
  // pipeline: batch N+1 reads heads and checks signatures while batch N's
  // transaction commits (storage orders them; see RecordStorage.write).
  // Callers and listeners hear of each batch after it is durable, in order.
  let committed: Promise<void> = Promise.resolve()

  async function drain (): Promise<void> {
    try {
      let batch = takeBatch()
      while (batch.length > 0) {
        const current = batch
        const issued = serial(async () => {
          try {
            const finish = await mergeBatch(current)
            committed = committed.then(finish.done)
          } catch (err) {
            // A failed read: nothing of this batch was written.
            for (const p of current) p.reject(err)
          }
        })
        // A backlog (a catch-up: thousands of records merged at once): the
        // next batch's signatures are checked while this one is read and
        // written, so the verifier (WebCrypto, off the JS thread) never
        // waits for storage. Only for a backlog: a record already held
        // needs no crypto, and a lone push should not pay for it.
        batch = queue.length > 0 ? takeBatch() : []
        if (queue.length > 0 || batch.length >= maxBatch / 2) {
          const t = now()
          for (const p of batch) if (p.build == null && !p.verified) p.verifying = verifyPending(p, t)
        }
        await issued
        if (batch.length === 0) batch = takeBatch()
      }
    } finally {
      draining = undefined
    }
  }

  /** Seal a local write from the key's heads (writeOwn); the error, not a rejection, when it fails. */
  async function buildOwn (p: Pending, heads: VerifiedRecord[]): Promise<VerifiedRecord | Error> {
    try {
      p.parsed = await p.build!(heads)
      p.bytes = p.parsed.bytes
      p.id = p.parsed.id
      return p.parsed
    } catch (err: any) {
      return err instanceof Error ? err : new Error(String(err))
    }
  }

  /**
   * Compute a batch's new heads and start its storage write; `done` (never
   * rejects) waits for the write, then updates the sync index, tells
   * listeners and settles the batch's callers.
   */
  async function mergeBatch (batch: Pending[]): Promise<{ done: () => Promise<void> }> {
    const t = now()
    // 1. Current heads of every key, one read per room.
    const byRoom = new Map<string, Pending[]>()
    for (const p of batch) {
      const list = byRoom.get(p.roomId)
      if (list == null) byRoom.set(p.roomId, [p])
      else list.push(p)
    }
    const current = new Map<Pending, VerifiedRecord[]>()
    await Promise.all([...byRoom].map(async ([roomId, pending]) => {
      const values = await readMany(roomId, pending.map(p => p.keyId))
      pending.forEach((p, i) => current.set(p, live(decode(values[i]))))
    }))
    // 2. Records already held need no crypto at all; the rest are verified
    //    side by side (WebCrypto runs them off the JS thread).
    // A plain loop, awaiting only what is pending: an async callback per
    // record was a promise and a closure each, thousands per catch-up batch.
    const verified: Array<VerifiedRecord | Error | Promise<VerifiedRecord | Error>> = new Array(batch.length)
    let waits = false
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]
      const heads = current.get(p) ?? []
      if (p.build != null) {
        verified[i] = buildOwn(p, heads)
        waits = true
      } else if (heads.some(h => equals(h.id, p.id))) {
        try {
          verified[i] = p.parsed ?? readStoredRecord(p.bytes)
        } catch (err: any) {
          verified[i] = err instanceof Error ? err : new Error(String(err))
        }
      } else if (p.verified && p.parsed != null) {
        verified[i] = p.parsed
      } else {
        verified[i] = p.verifying ?? verifyPending(p, t)
        waits = true
      }
    }
    if (waits) {
      for (let i = 0; i < verified.length; i++) {
        const v = verified[i]
        if (v instanceof Promise) verified[i] = await v
      }
    }
    // 3. New head sets, one write per key, all in one storage transaction.
    const ops: StorageWrite[] = []
    const outcome: Array<{ p: Pending, result?: MergeResult, error?: Error, op?: number }> = []
    batch.forEach((p, i) => {
      const record = verified[i] as VerifiedRecord | Error // settled above
      if (record instanceof Error) {
        outcome.push({ p, error: record })
        return
      }
      const heads = current.get(p) ?? []
      const result = (status: MergeStatus, after: VerifiedRecord[]): MergeResult => ({ status, record, winner: after[0] ?? record, heads: after })
      if (heads.some(h => equals(h.id, record.id))) {
        outcome.push({ p, result: result('known', heads) })
        return
      }
      if (heads.some(h => hasSeen(h, record))) {
        outcome.push({ p, result: result('stale', heads) })
        return
      }
      const next = heads.filter(h => !hasSeen(record, h))
      next.push(record)
      next.sort(byRank)
      const capped = capHeads(next)
      // Below the MAX_HEADS greatest concurrent versions: dropped as if replaced.
      if (!capped.some(h => equals(h.id, record.id))) {
        outcome.push({ p, result: result('stale', heads) })
        return
      }
      const value = HeadSet.encode({ records: capped.map(h => h.bytes) })
      keepIds(value, capped)
      ops.push({ roomId: p.roomId, keyId: p.keyId, value })
      outcome.push({ p, result: result('stored', capped), op: ops.length - 1 })
    })
    const writing = writeMany(ops).catch((err: any): StorageWriteResult[] => {
      const error = err instanceof Error ? err : new Error(String(err))
      return ops.map(() => ({ ok: false, error }))
    })
    // Storage without batched writes (put/delete one by one) promises no
    // order between them and later reads: the next batch waits for this one.
    if (storage.write == null) await writing
    // 4. Tell listeners after the batch is durable, then the callers.
    const done = async (): Promise<void> => {
      const written = await writing
      for (const { p, result, error, op } of outcome) {
        if (error != null) { p.reject(error); continue }
        if (op != null) {
          const w = written[op]
          if (w == null || !w.ok) {
            p.reject(w != null && !w.ok ? w.error : new Error('storage did not report the write'))
            continue
          }
          syncIndex.update(p.roomId, result!.record.body.keyId, result!.heads.map(h => ({ recordId: h.id, expiresAt: h.body.expiresAt })))
          for (const listener of listeners) {
            try {
              listener(result!.record, result!.heads)
            } catch {}
          }
        }
        p.resolve(result!)
      }
    }
    return { done }
  }

  // The room of the last record enqueued, by its room key: every record of
  // a room carries the same key, so a catch-up asks for the same room
  // 10,000 times. Matching the key's bytes is cheaper than what it replaced
  // (a text key per record, and the room id's base32 per record).
  let lastRoom: { roomKey: Uint8Array, roomId: Uint8Array, text: string } | undefined
  const roomOf = (roomKey: Uint8Array): { roomId: Uint8Array, text: string } => {
    const last = lastRoom
    if (last != null && equals(last.roomKey, roomKey)) return last
    const roomId = roomIdFromRoomKey(roomKey)
    // A copy: roomKey is a view into the caller's bytes.
    lastRoom = { roomKey: roomKey.slice(), roomId, text: text(roomId) }
    return lastRoom
  }

  function enqueue (bytes: Uint8Array, options: MergeOptions, known?: VerifiedRecord, parsedBefore?: VerifiedRecord): Promise<MergeResult> {
    // Only what batching and the "already held" check need, before
    // queueing: room, key and record id, scanned from the bytes (no crypto,
    // no full parse: verification parses a new record once). Bytes that do
    // not even scan get their typed error from the full check right away.
    let head: { id: Uint8Array, roomText: string, keyId: Uint8Array, parsed?: VerifiedRecord } | undefined
    const given = known ?? parsedBefore
    if (bytes.length <= MAX_RECORD_BYTES) {
      if (given != null) head = { id: given.id, roomText: text(given.roomId), keyId: given.body.keyId, parsed: given }
      else {
        const scanned = scanRecord(bytes)
        if (scanned != null) head = { id: recordIdOf(scanned.body), roomText: roomOf(scanned.roomKey).text, keyId: scanned.keyId }
      }
    }
    if (head == null) {
      return verifyRecordAsync(bytes, { ...options, now: now() }).then(() => {
        throw new Error('unreachable: unparsable record verified')
      })
    }
    const { id, roomText, keyId, parsed } = head
    return new Promise<MergeResult>((resolve, reject) => {
      queue.push({ bytes, id, parsed, verified: known != null, options, roomId: roomText, keyId: text(keyId), resolve, reject })
      // Let merges of the same tick join this batch.
      draining ??= Promise.resolve().then(drain)
    })
  }

  return {
    async merge (bytes, options = {}) {
      return enqueue(bytes, options)
    },
    async mergeMany (records, options = {}) {
      // Queued in slices with a turn of the event loop between them:
      // scanning and hashing a 1 MiB sync frame (~3,000 records) at once
      // held a tab's main thread for 100+ ms.
      const results: Array<Promise<MergeResult | Error>> = []
      for (let i = 0; i < records.length; i += ENQUEUE_SLICE) {
        if (i > 0) await yieldToEventLoop()
        for (const r of records.slice(i, i + ENQUEUE_SLICE)) {
          results.push((r instanceof Uint8Array ? enqueue(r, options) : enqueue(r.bytes, options, undefined, r))
            .catch((err: unknown) => err instanceof Error ? err : new Error(String(err))))
        }
      }
      return Promise.all(results)
    },
    async writeOwn (roomId, keyId, build) {
      return new Promise<MergeResult>((resolve, reject) => {
        queue.push({ bytes: new Uint8Array(0), id: new Uint8Array(0), verified: true, build, options: {}, roomId: text(roomId), keyId: text(keyId), resolve, reject })
        draining ??= Promise.resolve().then(drain)
      })
    },
    async mergeOwn (record) {
      return enqueue(record.bytes, {}, record)
    },
    async get (roomId, keyId) {
      return (await this.heads(roomId, keyId))[0]
    },
    async heads (roomId, keyId) {
      return live(decode(await storage.get(text(roomId), text(keyId))))
    },
    async * keys (roomId) {
      for await (const value of storage.list(text(roomId))) {
        const heads = live(decode(value))
        if (heads.length > 0) yield heads
      }
    },
    async * list (roomId) {
      for await (const heads of this.keys(roomId)) yield * heads
    },
    async digest (roomId) {
      const entries: DigestEntry[] = []
      for await (const record of this.list(roomId)) {
        entries.push({ keyId: record.body.keyId, recordId: record.id.subarray(0, DIGEST_ID_BYTES) })
      }
      return entries
    },
    async syncItems (roomId) {
      return syncIndex.items(text(roomId))
    },
    async * liveRecords (roomId) {
      for await (const bytes of headsInStorage(text(roomId))) {
        const expiresAt = expiresAtOf(bytes)
        if (expiresAt === 0 || (expiresAt != null && expiresAt > now())) yield bytes
      }
    },
    async keyCount (roomId) {
      return storage.count == null ? undefined : storage.count(text(roomId))
    },
    async storedHeads (roomId, keyIds) {
      const values = await readMany(text(roomId), keyIds.map(text))
      return values.map((value) => {
        if (value == null) return []
        try {
          return HeadSet.decode(value).records
        } catch {
          init.onCorrupt?.(value)
          return []
        }
      })
    },
    onRecord (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    async prune () {
      let dropped = 0
      for await (const roomId of storage.rooms?.() ?? []) {
        const expiredKeys = new Set<string>()
        for await (const value of storage.list(roomId)) {
          const heads = decode(value)
          if (heads.some(h => !isLive(h))) expiredKeys.add(text(heads[0].body.keyId))
        }
        if (expiredKeys.size === 0) continue
        // Between batches, so no merge of these keys is half done.
        await serial(async () => {
          const keyIds = [...expiredKeys]
          const values = await readMany(roomId, keyIds)
          const ops: StorageWrite[] = []
          keyIds.forEach((keyId, i) => {
            const heads = decode(values[i])
            const kept = live(heads)
            dropped += heads.length - kept.length
            ops.push(kept.length === 0 ? { roomId, keyId } : { roomId, keyId, value: HeadSet.encode({ records: kept.map(h => h.bytes) }) })
          })
          await writeMany(ops)
          // Rebuilt at the room's next sync (expired heads are already left out of snapshots).
          syncIndex.drop(roomId)
        })
      }
      return dropped
    },
    async close () {
      while (draining != null) await draining
      await serial(async () => {})
      await committed
      await storage.close()
    }
  }
}

/** In-memory storage: for tests and short-lived CLI peers. Batched reads and writes are plain loops (no transaction to share). */
export function memoryRecordStorage (): RecordStorage {
  const rooms = new Map<string, Map<string, Uint8Array>>()
  const roomOf = (roomId: string): Map<string, Uint8Array> => {
    let room = rooms.get(roomId)
    if (room == null) rooms.set(roomId, room = new Map())
    return room
  }
  const applied: StorageWriteResult = { ok: true }
  return {
    async get (roomId, keyId) { return rooms.get(roomId)?.get(keyId) },
    async getMany (roomId, keyIds) {
      const room = rooms.get(roomId)
      return keyIds.map(keyId => room?.get(keyId))
    },
    async write (ops) {
      for (const op of ops) {
        if (op.value == null) rooms.get(op.roomId)?.delete(op.keyId)
        else roomOf(op.roomId).set(op.keyId, op.value)
      }
      return ops.map(() => applied)
    },
    async put (roomId, keyId, record) { roomOf(roomId).set(keyId, record) },
    async delete (roomId, keyId) { rooms.get(roomId)?.delete(keyId) },
    async * list (roomId) { yield * [...(rooms.get(roomId)?.values() ?? [])] },
    async * rooms () { yield * [...rooms.keys()] },
    async close () {}
  }
}
