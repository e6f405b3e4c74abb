/**
 * The one place records are merged. Every path (local write, push, sync, DHT
 * PUT) goes through `merge`, which verifies the record and updates the key's
 * heads: the versions no known version replaces. Writes that did not see
 * each other are all kept (a conflict) until a later write replaces them;
 * the winner among heads is deterministic, so replicas that saw the same
 * records hold the same state and show the same winner and conflicts.
 */
import { equals, toString } from 'uint8arrays'
import { DIGEST_ID_BYTES, MAX_RECORD_BYTES, MAX_REPLACES, MAX_SEEN } from './constants.ts'
import { compareClocks, type Clock } from './hlc.ts'
import { HeadSet } from './proto/record.ts'
import { compareRecords, readStoredRecord, verifyRecordAsync, type VerifiedRecord } from './record.ts'

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
   */
  write?(ops: StorageWrite[]): Promise<StorageWriteResult[]>
  put(roomId: string, keyId: string, value: Uint8Array): Promise<void>
  delete(roomId: string, keyId: string): Promise<void>
  /** Every stored value of one room (in key id order where the storage can). */
  list(roomId: string): AsyncIterable<Uint8Array>
  /** Every room with stored values (for garbage collection). */
  rooms?(): AsyncIterable<string>
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
  /** Verify then merge. Throws the verification error for invalid records. */
  merge(bytes: Uint8Array, options?: MergeOptions): Promise<MergeResult>
  /** The key's winner, if any live version exists. */
  get(roomId: Uint8Array, keyId: Uint8Array): Promise<VerifiedRecord | undefined>
  /** The key's live heads, winner first (more than one = a conflict). */
  heads(roomId: Uint8Array, keyId: Uint8Array): Promise<VerifiedRecord[]>
  /** Every live head of every key of a room. */
  list(roomId: Uint8Array): AsyncIterable<VerifiedRecord>
  /** Live heads grouped by key, winner first. */
  keys(roomId: Uint8Array): AsyncIterable<VerifiedRecord[]>
  /** One entry per live head: what sync compares. */
  digest(roomId: Uint8Array): Promise<DigestEntry[]>
  /** Called for every record that became a head, with the key's heads after it. */
  onRecord(listener: (record: VerifiedRecord, heads: VerifiedRecord[]) => void): () => void
  /** Drop expired versions from storage (reads already hide them). Returns how many were dropped. */
  prune(): Promise<number>
  close(): Promise<void>
}

export interface RecordStoreInit {
  /** @default Date.now */
  now?: () => number
}

const text = (bytes: Uint8Array): string => toString(bytes, 'base32')

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

export function createRecordStore (storage: RecordStorage, init: RecordStoreInit = {}): RecordStore {
  const now = init.now ?? Date.now
  const listeners = new Set<(record: VerifiedRecord, heads: VerifiedRecord[]) => void>()
  // Merges of one key run one after another; different keys run in parallel.
  const locks = new Map<string, Promise<unknown>>()

  function withLock<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const previous = locks.get(key) ?? Promise.resolve()
    const next = previous.then(fn, fn)
    const settled = next.catch(() => {})
    locks.set(key, settled)
    void settled.then(() => { if (locks.get(key) === settled) locks.delete(key) })
    return next
  }

  const isLive = (record: VerifiedRecord): boolean => record.body.expiresAt === 0 || record.body.expiresAt > now()

  /** Stored heads, live or not; unreadable entries are dropped (they never win). */
  function decode (value: Uint8Array | undefined): VerifiedRecord[] {
    if (value == null) return []
    let set: HeadSet
    try {
      set = HeadSet.decode(value)
    } catch {
      return []
    }
    const heads: VerifiedRecord[] = []
    for (const bytes of set.records) {
      try {
        heads.push(readStoredRecord(bytes))
      } catch {}
    }
    return heads
  }

  const byRank = (a: VerifiedRecord, b: VerifiedRecord): number => compareRecords(b, a)
  const live = (heads: VerifiedRecord[]): VerifiedRecord[] => heads.filter(isLive).sort(byRank)

  return {
    async merge (bytes, options = {}) {
      // Take the key's turn before the (asynchronous) signature check, so
      // merges of one key complete in call order; bytes that do not even
      // parse fail verification right away.
      let lockKey: string
      try {
        if (bytes.length > MAX_RECORD_BYTES) throw new Error('too large')
        const parsed = readStoredRecord(bytes)
        lockKey = `${text(parsed.roomId)}/${text(parsed.body.keyId)}`
      } catch {
        await verifyRecordAsync(bytes, { ...options, now: now() })
        throw new Error('unreachable: unparsable record verified')
      }
      return withLock(lockKey, async () => {
        const record = await verifyRecordAsync(bytes, { ...options, now: now() })
        const roomId = text(record.roomId)
        const keyId = text(record.body.keyId)
        // Expired heads no longer count: a live older version takes their
        // place, as on a replica that never saw them.
        const current = live(decode(await storage.get(roomId, keyId)))
        const result = (status: MergeStatus, heads: VerifiedRecord[]): MergeResult =>
          ({ status, record, winner: heads[0] ?? record, heads })
        if (current.some(h => equals(h.id, record.id))) return result('known', current)
        if (current.some(h => hasSeen(h, record))) return result('stale', current)
        const heads = current.filter(h => !hasSeen(record, h))
        heads.push(record)
        heads.sort(byRank)
        await storage.put(roomId, keyId, HeadSet.encode({ records: heads.map(h => h.bytes) }))
        for (const listener of listeners) listener(record, heads)
        return result('stored', heads)
      })
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
        for (const keyId of expiredKeys) {
          await withLock(`${roomId}/${keyId}`, async () => {
            const heads = decode(await storage.get(roomId, keyId))
            const kept = live(heads)
            dropped += heads.length - kept.length
            if (kept.length === 0) await storage.delete(roomId, keyId)
            else await storage.put(roomId, keyId, HeadSet.encode({ records: kept.map(h => h.bytes) }))
          })
        }
      }
      return dropped
    },
    async close () {
      await Promise.allSettled([...locks.values()])
      await storage.close()
    }
  }
}


/** In-memory storage: for tests and short-lived CLI peers. */
export function memoryRecordStorage (): RecordStorage {
  const rooms = new Map<string, Map<string, Uint8Array>>()
  return {
    async get (roomId, keyId) { return rooms.get(roomId)?.get(keyId) },
    async put (roomId, keyId, record) {
      let room = rooms.get(roomId)
      if (room == null) rooms.set(roomId, room = new Map())
      room.set(keyId, record)
    },
    async delete (roomId, keyId) { rooms.get(roomId)?.delete(keyId) },
    async * list (roomId) { yield * [...(rooms.get(roomId)?.values() ?? [])] },
    async close () {}
  }
}
