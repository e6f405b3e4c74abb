/**
 * The one place records are merged. Every path (local put, push, sync, DHT
 * PUT) goes through `merge`, which verifies the record and keeps the winner
 * per key, so replicas that saw the same records hold the same state.
 */
import { toString } from 'uint8arrays'
import { DIGEST_ID_BYTES } from './constants.ts'
import { compareRecords, verifyRecord, type VerifiedRecord } from './record.ts'

/** Raw storage of record bytes by room and key id (base32 text). */
export interface RecordStorage {
  get(roomId: string, keyId: string): Promise<Uint8Array | undefined>
  put(roomId: string, keyId: string, record: Uint8Array): Promise<void>
  delete(roomId: string, keyId: string): Promise<void>
  /** Every record of one room, in no particular order. */
  list(roomId: string): AsyncIterable<Uint8Array>
  close(): Promise<void>
}

export type MergeStatus = 'stored' | 'known' | 'stale'

export interface MergeResult {
  /** stored: the record is the new winner; known: identical to the winner; stale: an older version. */
  status: MergeStatus
  record: VerifiedRecord
  winner: VerifiedRecord
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
  get(roomId: Uint8Array, keyId: Uint8Array): Promise<VerifiedRecord | undefined>
  list(roomId: Uint8Array): AsyncIterable<VerifiedRecord>
  digest(roomId: Uint8Array): Promise<DigestEntry[]>
  /** Called for every record that became a key's winner. */
  onRecord(listener: (record: VerifiedRecord) => void): () => void
  close(): Promise<void>
}

export interface RecordStoreInit {
  /** @default Date.now */
  now?: () => number
}

const text = (bytes: Uint8Array): string => toString(bytes, 'base32')

export function createRecordStore (storage: RecordStorage, init: RecordStoreInit = {}): RecordStore {
  const now = init.now ?? Date.now
  const listeners = new Set<(record: VerifiedRecord) => void>()
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

  function readStored (bytes: Uint8Array | undefined): VerifiedRecord | undefined {
    if (bytes == null) return undefined
    try {
      return verifyRecord(bytes, { allowExpired: true })
    } catch {
      return undefined // unreadable bytes never win against a valid record
    }
  }

  const isLive = (record: VerifiedRecord): boolean => record.body.expiresAt === 0 || record.body.expiresAt > now()

  return {
    async merge (bytes, options = {}) {
      const record = verifyRecord(bytes, { ...options, now: now() })
      const roomId = text(record.roomId)
      const keyId = text(record.body.keyId)
      return withLock(`${roomId}/${keyId}`, async () => {
        const current = readStored(await storage.get(roomId, keyId))
        // An expired winner no longer counts: a live older version replaces it,
        // as it would on a replica that never saw the expired one.
        const order = current == null || !isLive(current) ? 1 : compareRecords(record, current)
        if (order > 0) {
          await storage.put(roomId, keyId, record.bytes)
          for (const listener of listeners) listener(record)
          return { status: 'stored', record, winner: record }
        }
        return { status: order === 0 ? 'known' : 'stale', record, winner: current as VerifiedRecord }
      })
    },
    async get (roomId, keyId) {
      const record = readStored(await storage.get(text(roomId), text(keyId)))
      return record != null && isLive(record) ? record : undefined
    },
    async * list (roomId) {
      for await (const bytes of storage.list(text(roomId))) {
        const record = readStored(bytes)
        if (record != null && isLive(record)) yield record
      }
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
