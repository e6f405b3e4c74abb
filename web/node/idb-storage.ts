/**
 * Record storage in IndexedDB (idb-keyval's store helper), one object store
 * for every room, keyed by [room id, key id] so a room is one key range.
 * Records are stored as received: signed ciphertext.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'
import type { RecordStorage } from '../../shared/record-store.ts'

export interface IdbStorageInit {
  /** @default 'roomkv' */
  database?: string
}

export function idbRecordStorage (init: IdbStorageInit = {}): RecordStorage {
  const store: UseStore = createStore(init.database ?? 'roomkv', 'records')
  return {
    async get (roomId, keyId) {
      return store('readonly', s => promisifyRequest<Uint8Array | undefined>(s.get([roomId, keyId])))
    },
    async put (roomId, keyId, record) {
      await store('readwrite', s => promisifyRequest(s.put(record, [roomId, keyId]).transaction as IDBTransaction))
    },
    async delete (roomId, keyId) {
      await store('readwrite', s => promisifyRequest(s.delete([roomId, keyId]).transaction as IDBTransaction))
    },
    async * list (roomId) {
      // An empty array sorts after every string, so this range is exactly one room.
      const range = IDBKeyRange.bound([roomId], [roomId, []])
      yield * await store('readonly', s => promisifyRequest<Uint8Array[]>(s.getAll(range)))
    },
    async close () {}
  }
}
