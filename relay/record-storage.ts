/**
 * Room records on disk, one file per key under `<dir>/<room>/<key>.rec`,
 * written atomically by datastore-fs. The relay itself now keeps records in
 * SQLite (relay/sqlite-storage.ts, which imports this layout once from old
 * data dirs); this store remains for Node SDK peers that want durable
 * storage without a database and for bench/seed.ts, which writes this
 * layout into a data dir before its relay starts. Ciphertext only.
 */
import { readdir } from 'node:fs/promises'
import { FsDatastore } from 'datastore-fs'
import { Key } from 'interface-datastore'
import type { RecordStorage } from '../shared/record-store.ts'

export async function fsRecordStorage (path: string): Promise<RecordStorage> {
  const store = new FsDatastore(path, { extension: '.rec' })
  await store.open()
  const key = (roomId: string, keyId: string): Key => new Key(`/${roomId}/${keyId}`)
  return {
    async get (roomId, keyId) {
      try {
        return await store.get(key(roomId, keyId))
      } catch (err: any) {
        if (err.name === 'NotFoundError') return undefined
        throw err
      }
    },
    async put (roomId, keyId, record) { await store.put(key(roomId, keyId), record) },
    async delete (roomId, keyId) { await store.delete(key(roomId, keyId)) },
    async * list (roomId) {
      for await (const { value } of store.query({ prefix: `/${roomId}/` })) yield value
    },
    async * rooms () {
      for (const entry of await readdir(path, { withFileTypes: true })) if (entry.isDirectory()) yield entry.name
    },
    async close () { await store.close() }
  }
}
