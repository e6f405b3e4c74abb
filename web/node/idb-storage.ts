/**
 * Record storage in IndexedDB (idb-keyval's store helper), one object store
 * for every room, keyed by [room id, key id] so a room is one key range.
 * Records are stored as received: signed ciphertext.
 *
 * Batches are what make IndexedDB fast: a put in its own transaction costs
 * ~0.7 ms here, ~0.1 ms at 100-1,000 per transaction (issue 8), so `getMany`
 * and `write` each use exactly one transaction for the whole batch.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'
import type { RecordStorage, StorageWrite, StorageWriteResult } from '../../shared/record-store.ts'

export interface IdbStorageInit {
  /** @default 'roomkv' */
  database?: string
  /**
   * Values read per transaction by `list`: a 100k-key room is read in pages
   * instead of one `getAll` holding every record in memory at once, and
   * other transactions get a turn between pages.
   * @default 1000
   */
  listPage?: number
}

const DEFAULT_LIST_PAGE = 1000

/** Tabs have no quota of their own (the browser's is reported as an abort): every write is applied. */
const APPLIED: StorageWriteResult = { ok: true }

export function idbRecordStorage (init: IdbStorageInit = {}): RecordStorage {
  const store: UseStore = createStore(init.database ?? 'roomkv', 'records')
  const listPage = Math.max(1, init.listPage ?? DEFAULT_LIST_PAGE)
  return {
    async get (roomId, keyId) {
      return store('readonly', s => promisifyRequest<Uint8Array | undefined>(s.get([roomId, keyId])))
    },
    async getMany (roomId, keyIds) {
      if (keyIds.length === 0) return []
      // All gets are queued on one transaction; IndexedDB answers them in order.
      return store('readonly', s => Promise.all(keyIds.map(keyId => promisifyRequest<Uint8Array | undefined>(s.get([roomId, keyId])))))
    },
    async write (ops: StorageWrite[]) {
      if (ops.length === 0) return []
      // Resolve on the transaction's `complete` (every op is then committed
      // together), not on the last request's success, which precedes commit;
      // any failed request aborts the whole batch and rejects.
      await store('readwrite', s => {
        try {
          for (const op of ops) {
            if (op.value == null) s.delete([op.roomId, op.keyId])
            else s.put(op.value, [op.roomId, op.keyId])
          }
        } catch (err) {
          // A synchronous throw (a value that cannot be cloned, a bad key)
          // does not abort the transaction by itself: the ops before it
          // would commit. The batch is all or nothing.
          s.transaction.abort()
          throw err
        }
        return promisifyRequest(s.transaction)
      })
      return ops.map(() => APPLIED)
    },
    async put (roomId, keyId, record) {
      await store('readwrite', s => promisifyRequest(s.put(record, [roomId, keyId]).transaction as IDBTransaction))
    },
    async delete (roomId, keyId) {
      await store('readwrite', s => promisifyRequest(s.delete([roomId, keyId]).transaction as IDBTransaction))
    },
    async * list (roomId) {
      // An empty array sorts after every string, so this range is exactly one room.
      const upper: IDBValidKey = [roomId, []]
      let range = IDBKeyRange.bound([roomId], upper)
      for (;;) {
        // Keys and values of the same range and count in one transaction
        // line up; the last key starts the next page (exclusive).
        const [keys, values] = await store('readonly', s => Promise.all([
          promisifyRequest<IDBValidKey[]>(s.getAllKeys(range, listPage)),
          promisifyRequest<Uint8Array[]>(s.getAll(range, listPage))
        ]))
        yield * values
        if (keys.length < listPage) return
        range = IDBKeyRange.bound(keys[keys.length - 1], upper, true, false)
      }
    },
    async close () {}
  }
}
