/**
 * Record storage in IndexedDB (idb-keyval's store helper), one object store
 * for every room, keyed by [room id, key id] so a room is one key range.
 * Records are stored as received: signed ciphertext.
 *
 * Batches are what make IndexedDB fast to write: a put in its own
 * transaction costs ~0.7 ms here, ~0.1 ms at 100-1,000 per transaction, so
 * `write` uses one transaction for the whole batch. Reads are what make it
 * slow: 0.2-1 ms per record even in pages (a 10,000-key room took 1.7 s to
 * list, and a catch-up spent as long reading heads that were not there). So
 * a room in use is resident: read whole once (or known empty) and then held
 * in memory, every read served from there, every write applied there at
 * once and committed to IndexedDB in the background (in order: the next
 * transaction of the store waits for it). Rooms past `maxResidentBytes`
 * stay on disk and are read per request as before.
 *
 * Other tabs of the same browser share the database: after each commit a
 * tab names the keys it wrote on a BroadcastChannel, and the others drop
 * them from memory and read them again from disk when next asked.
 */
import { logger } from '@libp2p/logger'
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'
import type { RecordStorage, StorageWrite, StorageWriteResult } from '../../shared/record-store.ts'
import type { WriteRequest, WriteResponse } from './idb-writer-protocol.ts'
import { packBytes } from './packed-bytes.ts'

const log = logger('roomkv:idb-storage')

export interface IdbStorageInit {
  /** @default 'roomkv' */
  database?: string
  /**
   * Values read per transaction when a room is read whole: other
   * transactions get a turn between pages.
   * @default 1000
   */
  listPage?: number
  /**
   * Bytes of stored records held in memory, over all resident rooms (a
   * 100,000-key room of small values is ~30 MB). A room that does not fit
   * is read from disk per request.
   * @default 256 MiB
   */
  maxResidentBytes?: number
  /**
   * Starts a Worker that commits batches of resident rooms
   * (idb-writer-worker.ts): cloning each value into IndexedDB then costs
   * the main thread nothing but one copy into a transferred buffer. Rooms
   * read from disk, and every batch when the Worker fails, commit here.
   * @default none: every batch commits on this thread
   */
  createWriter?: () => Worker
}

const DEFAULT_LIST_PAGE = 1000
const DEFAULT_MAX_RESIDENT_BYTES = 256 * 1024 * 1024
/** Map entry, key text and array overhead per resident record, roughly. */
const ENTRY_OVERHEAD = 160

/** Tabs have no quota of their own (the browser's is reported as an abort): every write is applied. */
const APPLIED: StorageWriteResult = { ok: true }
const EMPTY = new Uint8Array(0)

interface Resident {
  values: Map<string, Uint8Array>
  /** Keys another tab wrote since: read again from disk before use. */
  stale: Set<string>
  bytes: number
}

/** What one tab tells the others after a commit. */
interface WrittenMessage { roomId: string, keyIds: string[] }

export function idbRecordStorage (init: IdbStorageInit = {}): RecordStorage {
  const database = init.database ?? 'roomkv'
  const store: UseStore = createStore(database, 'records')
  const listPage = Math.max(1, init.listPage ?? DEFAULT_LIST_PAGE)
  const maxResidentBytes = init.maxResidentBytes ?? DEFAULT_MAX_RESIDENT_BYTES
  // Per room: the load in progress or done; undefined = too big, on disk.
  const rooms = new Map<string, Promise<Resident | undefined>>()
  const loaded = new Map<string, Resident>()
  let residentBytes = 0
  const sizeOf = (key: string, value: Uint8Array): number => value.byteLength + key.length + ENTRY_OVERHEAD

  const channel = typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(`roomkv-idb:${database}`)
  if (channel != null) {
    channel.onmessage = (event: MessageEvent<WrittenMessage>) => {
      const { roomId, keyIds } = event.data ?? {}
      const room = typeof roomId === 'string' ? loaded.get(roomId) : undefined
      if (room == null || !Array.isArray(keyIds)) return
      for (const keyId of keyIds) if (typeof keyId === 'string') room.stale.add(keyId)
    }
  }

  async function * readRoom (roomId: string): AsyncGenerator<Array<[string, Uint8Array]>> {
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
      yield keys.map((key, i) => [(key as [string, string])[1], values[i]])
      if (keys.length < listPage) return
      range = IDBKeyRange.bound(keys[keys.length - 1], upper, true, false)
    }
  }

  async function load (roomId: string): Promise<Resident | undefined> {
    const room: Resident = { values: new Map(), stale: new Set(), bytes: 0 }
    for await (const page of readRoom(roomId)) {
      for (const [keyId, value] of page) {
        room.values.set(keyId, value)
        room.bytes += sizeOf(keyId, value)
      }
      if (residentBytes + room.bytes > maxResidentBytes) {
        log('room %s does not fit in memory (%d bytes resident): read from disk', roomId, residentBytes)
        return undefined
      }
    }
    residentBytes += room.bytes
    loaded.set(roomId, room)
    return room
  }

  /**
   * The room in memory, loading it on first use. Every caller of a room
   * awaits the same promise, so operations keep their call order (a read
   * called after a write sees it).
   */
  function resident (roomId: string): Promise<Resident | undefined> {
    let room = rooms.get(roomId)
    if (room == null) {
      room = load(roomId).catch((err) => {
        log('reading room %s failed, read from disk per request: %e', roomId, err)
        rooms.delete(roomId)
        return undefined
      })
      rooms.set(roomId, room)
    }
    return room
  }

  const set = (room: Resident, keyId: string, value: Uint8Array | undefined): void => {
    const old = room.values.get(keyId)
    if (old != null) room.bytes -= sizeOf(keyId, old)
    if (value == null) room.values.delete(keyId)
    else {
      room.values.set(keyId, value)
      room.bytes += sizeOf(keyId, value)
    }
    room.stale.delete(keyId)
  }

  async function readDisk (roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>> {
    if (keyIds.length === 0) return []
    // All gets are queued on one transaction; IndexedDB answers them in order.
    return store('readonly', s => Promise.all(keyIds.map(keyId => promisifyRequest<Uint8Array | undefined>(s.get([roomId, keyId])))))
  }

  /** Keys another tab wrote: read again, in one transaction. */
  async function refresh (roomId: string, room: Resident): Promise<void> {
    if (room.stale.size === 0) return
    const keyIds = [...room.stale]
    const values = await readDisk(roomId, keyIds)
    // A write of this tab in the meantime is newer than what was read.
    keyIds.forEach((keyId, i) => { if (room.stale.has(keyId)) set(room, keyId, values[i]) })
  }

  // The writer Worker, while it works; batches it has not answered.
  let writer: Worker | undefined
  const waiting = new Map<number, { resolve(): void, reject(err: Error): void }>()
  let nextWrite = 0
  const inflight = new Set<Promise<void>>()
  const retireWriter = (reason: string): void => {
    if (writer == null) return
    log('IndexedDB writer failed (%s): committing on the main thread', reason)
    writer.terminate()
    writer = undefined
    // Whether those batches committed is unknown: their callers get an
    // error, and what memory holds of their keys is read again (write()).
    for (const w of waiting.values()) w.reject(new Error(`IndexedDB writer failed: ${reason}`))
    waiting.clear()
  }
  try {
    if (init.createWriter != null && typeof Worker !== 'undefined') {
      writer = init.createWriter()
      writer.onmessage = (event: MessageEvent<WriteResponse>) => {
        const { id, error } = event.data
        const w = waiting.get(id)
        if (w == null) return
        waiting.delete(id)
        if (error == null) w.resolve()
        else w.reject(Object.assign(new Error(error.message), { name: error.name }))
      }
      writer.onerror = (event) => { retireWriter(event.message ?? 'error') }
      writer.onmessageerror = () => { retireWriter('unreadable message') }
    }
  } catch (err) {
    log('no IndexedDB writer: %e', err)
    writer = undefined
  }

  /** The batch to the writer, or undefined when it cannot go there (no writer, a value that is not bytes). */
  function commitInWriter (ops: StorageWrite[]): Promise<void> | undefined {
    if (writer == null) return undefined
    const deletes = new Uint8Array(ops.length)
    const values: Uint8Array[] = []
    for (const [i, op] of ops.entries()) {
      if (op.value == null) deletes[i] = 1
      else if (!(op.value instanceof Uint8Array)) return undefined // not bytes: the main thread's clone reports it
      values.push(op.value ?? EMPTY)
    }
    const { buffer, offsets } = packBytes(values)
    const id = nextWrite++
    const request: WriteRequest = { id, database, roomIds: ops.map(op => op.roomId), keyIds: ops.map(op => op.keyId), deletes, offsets, buffer }
    const done = new Promise<void>((resolve, reject) => { waiting.set(id, { resolve, reject }) })
    inflight.add(done)
    void done.catch(() => {}).finally(() => inflight.delete(done))
    writer.postMessage(request, [buffer, deletes.buffer, offsets.buffer])
    return done
  }

  async function commit (ops: StorageWrite[]): Promise<void> {
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
      // Resolve on `complete` (every op then committed together), not on
      // the last request's success, which precedes the commit.
      return promisifyRequest(s.transaction)
    })
  }

  // Every operation takes its turn here before it touches memory, so a
  // read called after a write sees it even while a room is still loading.
  // A turn is short: memory only, or a disk read of a room that is not
  // resident; a write's commit runs outside its turn.
  let turns: Promise<unknown> = Promise.resolve()
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = turns.then(fn)
    turns = next.catch(() => {})
    return next
  }

  async function write (ops: StorageWrite[]): Promise<StorageWriteResult[]> {
    if (ops.length === 0) return []
    const byRoom = new Map<string, StorageWrite[]>()
    for (const op of ops) {
      const list = byRoom.get(op.roomId)
      if (list == null) byRoom.set(op.roomId, [op])
      else list.push(op)
    }
    const { committed, residents } = await inTurn(async () => {
      const residents = await Promise.all([...byRoom.keys()].map(resident))
      // In memory at once (reads from now on see the batch); on disk in
      // the order of the store's transactions (started within the turn).
      for (const room of residents) if (room != null) residentBytes -= room.bytes
      ;[...byRoom.values()].forEach((list, i) => {
        const room = residents[i]
        if (room != null) for (const op of list) set(room, op.keyId, op.value)
      })
      for (const room of residents) if (room != null) residentBytes += room.bytes
      // Rooms read from disk commit on this thread: their reads must come
      // after the write, and only this thread's transactions are ordered
      // with them.
      const inWriter = residents.every(room => room != null) ? commitInWriter(ops) : undefined
      // Wrapped: the turn ends without waiting for the commit.
      return { committed: (inWriter ?? commit(ops)).then(() => undefined, (err: unknown) => err ?? new Error('IndexedDB write failed')), residents }
    })
    const failed = await committed
    if (failed != null) {
      // Not on disk: what memory holds of these keys is read again.
      ;[...byRoom.values()].forEach((list, i) => {
        const room = residents[i]
        if (room != null) for (const op of list) room.stale.add(op.keyId)
      })
      throw failed
    }
    try {
      for (const [roomId, list] of byRoom) channel?.postMessage({ roomId, keyIds: list.map(op => op.keyId) } satisfies WrittenMessage)
    } catch {}
    return ops.map(() => APPLIED)
  }

  async function getMany (roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>> {
    return inTurn(async () => {
      const room = await resident(roomId)
      if (room == null) return readDisk(roomId, keyIds)
      if (room.stale.size > 0) await refresh(roomId, room)
      return keyIds.map(keyId => room.values.get(keyId))
    })
  }

  return {
    async get (roomId, keyId) {
      return (await getMany(roomId, [keyId]))[0]
    },
    getMany,
    write,
    async put (roomId, keyId, value) {
      await write([{ roomId, keyId, value }])
    },
    async delete (roomId, keyId) {
      await write([{ roomId, keyId }])
    },
    async * list (roomId) {
      // A snapshot taken in turn: writes while the caller iterates do not disturb it.
      const snapshot = await inTurn(async () => {
        const room = await resident(roomId)
        if (room == null) return undefined
        if (room.stale.size > 0) await refresh(roomId, room)
        return [...room.values.values()]
      })
      if (snapshot != null) {
        yield * snapshot
        return
      }
      for await (const page of readRoom(roomId)) for (const [, value] of page) yield value
    },
    async close () {
      // Batches sent are answered before the Worker goes.
      await Promise.allSettled([...inflight])
      writer?.terminate()
      writer = undefined
      channel?.close()
      rooms.clear()
      loaded.clear()
      residentBytes = 0
    }
  }
}
