/**
 * Room records in one SQLite database (Node's built-in `node:sqlite`, no
 * native build step): one row per key holding its encoded HeadSet,
 * ciphertext only. Replaces one file per key (datastore-fs): a batch of
 * writes is one transaction, quotas are counter lookups kept in the same
 * transactions, and a room is listed in key order from an index. Measured
 * on 2 cores (bench/storage.ts): see README's "Libraries chosen".
 *
 * Every statement runs synchronously on the event loop: a batch is applied
 * without any other JavaScript running in between, so quota checks and
 * writes cannot interleave and need no lock.
 */
import { opendir, readFile, rename, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { RecordStorage, StorageWrite, StorageWriteResult } from '../shared/record-store.ts'
import type { RelayLog } from './log.ts'
import { MiB } from '../shared/constants.ts'
import {
  DEFAULT_MAX_DISK_BYTES, DEFAULT_MAX_ROOM_BYTES, DEFAULT_MAX_ROOM_RECORDS, DEFAULT_MAX_ROOMS,
  DiskFullError, quotaRefusal, type QuotaLimits, type Usage
} from './room-quota.ts'


/** Rows read per query by `list` and `rooms`: memory stays bounded, whatever the room's size. */
export const DEFAULT_PAGE_SIZE = 256
/** Files imported per transaction when migrating a datastore-fs folder. */
const MIGRATION_BATCH = 512

export interface SqliteRecordStorageInit {
  /** The database file; `-wal` and `-shm` files sit next to it. */
  path: string
  /** @default 100_000 keys per room */
  maxRoomRecords?: number
  /** @default 256 MiB per room */
  maxRoomBytes?: number
  /** Record bytes of every room together. @default 10 GiB */
  maxDiskBytes?: number
  /** Rooms with at least one key. @default 100_000 */
  maxRooms?: number
  /**
   * `normal`: a committed transaction survives a crash or kill -9 of the
   * process (WAL frames are in the OS page cache), not a power loss;
   * `full`: fsync at every commit, survives power loss too, slower.
   * @default 'normal'
   */
  synchronous?: 'normal' | 'full'
  /** @default 256 */
  pageSize?: number
  /**
   * An old datastore-fs records folder (`<room>/<key>.rec`). When it exists
   * and the database holds nothing else, it is imported once at open and
   * renamed to `<folder>.migrated`.
   */
  migrateFrom?: string
  /** A row that cannot be read; it is reported, then treated as absent. */
  onCorrupt?: (roomId: string, keyId: string | undefined, reason: string) => void
  log?: RelayLog
}

export interface SqliteRecordStorage extends RecordStorage {
  getMany(roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>>
  write(ops: StorageWrite[]): Promise<StorageWriteResult[]>
  rooms(): AsyncIterable<string>
  /** What this relay holds now (kept in memory, exact). */
  usage(): { records: number, bytes: number, rooms: number }
}

const silentLog: RelayLog = { error () {}, warn () {}, info () {}, debug () {} }

/**
 * `node:sqlite` is stable in behaviour on Node 22.13+ (no flag needed) but
 * still prints "ExperimentalWarning: SQLite is an experimental feature" when
 * first loaded. That one warning is dropped; every other warning passes.
 */
function loadSqlite (): typeof import('node:sqlite') {
  const emitWarning = process.emitWarning
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: any[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type
    const text = typeof warning === 'string' ? warning : warning.message
    if (type === 'ExperimentalWarning' && text.startsWith('SQLite ')) return
    return (emitWarning as (...args: any[]) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
  try {
    return createRequire(import.meta.url)('node:sqlite')
  } finally {
    process.emitWarning = emitWarning
  }
}

/** SQLITE_CORRUPT, SQLITE_NOTADB: the file itself is damaged, not the call. */
const isCorruption = (err: any): boolean => [11, 26].includes((err?.errcode ?? 0) & 0xff)
/** SQLITE_FULL: the disk under the database is full. */
const isDiskFull = (err: any): boolean => ((err?.errcode ?? 0) & 0xff) === 13

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS records (
    room_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    value BLOB NOT NULL
  );
  -- A rowid table plus this index rather than WITHOUT ROWID: rows are
  -- 0.3-40 KiB, above the ~200 bytes where WITHOUT ROWID pays off.
  CREATE UNIQUE INDEX IF NOT EXISTS records_by_key ON records (room_id, key_id);
  -- One row per room with at least one key: quotas read a row, never scan.
  CREATE TABLE IF NOT EXISTS rooms (
    room_id TEXT PRIMARY KEY,
    records INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`

export async function sqliteRecordStorage (init: SqliteRecordStorageInit): Promise<SqliteRecordStorage> {
  const limits: QuotaLimits = {
    maxRoomRecords: init.maxRoomRecords ?? DEFAULT_MAX_ROOM_RECORDS,
    maxRoomBytes: init.maxRoomBytes ?? DEFAULT_MAX_ROOM_BYTES,
    maxDiskBytes: init.maxDiskBytes ?? DEFAULT_MAX_DISK_BYTES,
    maxRooms: init.maxRooms ?? DEFAULT_MAX_ROOMS
  }
  const pageSize = init.pageSize ?? DEFAULT_PAGE_SIZE
  const log = init.log ?? silentLog
  const onCorrupt = init.onCorrupt ?? (() => {})
  const { DatabaseSync } = loadSqlite()
  const db: DatabaseSync = new DatabaseSync(init.path, { timeout: 5000 })
  // WAL: readers never block the writer and a commit is one sequential
  // append. With synchronous=NORMAL a commit is in the WAL file (OS page
  // cache) before the call returns, so an acknowledged write survives a
  // crash or kill -9 of the relay; only a power loss or kernel crash can
  // take the last commits (FULL adds an fsync per commit for that).
  db.exec('PRAGMA journal_mode = WAL')
  db.exec(`PRAGMA synchronous = ${init.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
  // The WAL file is truncated back to this size after checkpoints, so a
  // burst does not leave a large file behind.
  db.exec(`PRAGMA journal_size_limit = ${64 * MiB}`)
  db.exec(SCHEMA)

  const sql = {
    get: db.prepare('SELECT size, value FROM records WHERE room_id = ? AND key_id = ?'),
    size: db.prepare('SELECT size FROM records WHERE room_id = ? AND key_id = ?'),
    upsert: db.prepare('INSERT INTO records (room_id, key_id, size, value) VALUES (?, ?, ?, ?) ON CONFLICT (room_id, key_id) DO UPDATE SET size = excluded.size, value = excluded.value'),
    delete: db.prepare('DELETE FROM records WHERE room_id = ? AND key_id = ?'),
    page: db.prepare('SELECT key_id, size, value FROM records WHERE room_id = ? AND key_id > ? ORDER BY key_id LIMIT ?'),
    room: db.prepare('SELECT records, bytes FROM rooms WHERE room_id = ?'),
    setRoom: db.prepare('INSERT INTO rooms (room_id, records, bytes) VALUES (?, ?, ?) ON CONFLICT (room_id) DO UPDATE SET records = excluded.records, bytes = excluded.bytes'),
    dropRoom: db.prepare('DELETE FROM rooms WHERE room_id = ?'),
    roomsPage: db.prepare('SELECT room_id FROM rooms WHERE room_id > ? ORDER BY room_id LIMIT ?'),
    totals: db.prepare('SELECT count(*) AS rooms, coalesce(sum(records), 0) AS records, coalesce(sum(bytes), 0) AS bytes FROM rooms'),
    meta: db.prepare('SELECT value FROM meta WHERE name = ?'),
    setMeta: db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value')
  } satisfies Record<string, StatementSync>

  /** Run `fn` in one write transaction; rolled back if it throws. */
  const transaction = <T>(fn: () => T): T => {
    db.exec('BEGIN IMMEDIATE')
    try {
      const out = fn()
      db.exec('COMMIT')
      return out
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
  }

  if (init.migrateFrom != null) await migrateFiles(init.migrateFrom)

  // Totals of every room: one aggregate over the small rooms table at open,
  // then kept up to date by each committed write.
  const totals = sql.totals.get() as { rooms: number, records: number, bytes: number }
  let open = true

  /** A row as stored, or undefined (reported) when it cannot be read back. */
  const readRow = (roomId: string, keyId: string, row: Record<string, unknown> | undefined): Uint8Array | undefined => {
    if (row == null) return undefined
    const value = row.value
    if (!(value instanceof Uint8Array) || value.length !== row.size) {
      corrupt(roomId, keyId, value instanceof Uint8Array ? `stored size ${String(row.size)} but ${value.length} bytes` : `value is ${value === null ? 'null' : typeof value}, not bytes`)
      return undefined
    }
    return value
  }
  const corrupt = (roomId: string, keyId: string | undefined, reason: string): void => {
    log.warn('unreadable record in storage', { room: roomId, key: keyId, reason })
    onCorrupt(roomId, keyId, reason)
  }
  const getOne = (roomId: string, keyId: string): Uint8Array | undefined => {
    let row
    try {
      row = sql.get.get(roomId, keyId)
    } catch (err: any) {
      if (!isCorruption(err)) throw err
      // Treated as absent: the next merge of this key writes a fresh row over it.
      corrupt(roomId, keyId, err.message)
      return undefined
    }
    return readRow(roomId, keyId, row)
  }
  const checkOpen = (): void => {
    if (!open) throw new Error('Record storage is closed')
  }

  const write = (ops: StorageWrite[]): StorageWriteResult[] => {
    checkOpen()
    if (ops.length === 0) return []
    const rooms = new Map<string, Usage>()
    const usageOf = (roomId: string): Usage => {
      let usage = rooms.get(roomId)
      if (usage == null) {
        const row = sql.room.get(roomId) as Usage | undefined
        usage = { records: row?.records ?? 0, bytes: row?.bytes ?? 0 }
        rooms.set(roomId, usage)
      }
      return usage
    }
    const total = { bytes: totals.bytes, records: totals.records, rooms: totals.rooms }
    try {
      const results = transaction(() => {
        const out = ops.map(apply)
        // Counters of the rooms touched, in the same transaction as the rows.
        for (const [roomId, usage] of rooms) {
          if (usage.records === 0) sql.dropRoom.run(roomId)
          else sql.setRoom.run(roomId, usage.records, usage.bytes)
        }
        return out
      })
      Object.assign(totals, total)
      return results
    } catch (err: any) {
      if (isDiskFull(err)) throw new DiskFullError(`The disk under ${init.path} is full: ${err.message}`)
      throw err
    }

    function apply (op: StorageWrite): StorageWriteResult {
      const previous = (sql.size.get(op.roomId, op.keyId) as { size: number } | undefined)?.size
      const room = usageOf(op.roomId)
      if (op.value == null) {
        if (previous == null) return { ok: true }
        sql.delete.run(op.roomId, op.keyId)
        room.records--
        room.bytes -= previous
        total.records--
        total.bytes -= previous
        if (room.records === 0) total.rooms--
        return { ok: true }
      }
      const change = { addedRecords: previous == null ? 1 : 0, addedBytes: op.value.length - (previous ?? 0) }
      const refusal = quotaRefusal(room, total, change, limits)
      if (refusal != null) return { ok: false, error: refusal }
      sql.upsert.run(op.roomId, op.keyId, op.value.length, op.value)
      if (room.records === 0) total.rooms++
      room.records += change.addedRecords
      room.bytes += change.addedBytes
      total.records += change.addedRecords
      total.bytes += change.addedBytes
      return { ok: true }
    }
  }

  /**
   * Import a datastore-fs folder once: every `<room>/<key>.rec` file as a
   * row, MIGRATION_BATCH per transaction, then room counters rebuilt from the
   * rows and the folder renamed. A crash part-way resumes here at the next
   * start (rows already imported are written again, unchanged); a folder
   * that appears after that is left alone.
   */
  async function migrateFiles (dir: string): Promise<void> {
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) return
    const state = (sql.meta.get('files-migration') as { value: string } | undefined)?.value
    if (state === 'renamed' || (state == null && db.prepare('SELECT 1 FROM records LIMIT 1').get() != null)) {
      log.warn('old records folder left alone: the database already holds records', { folder: dir })
      return
    }
    if (state !== 'done') {
      sql.setMeta.run('files-migration', 'started')
      log.info('importing records from files', { folder: dir })
      const started = Date.now()
      let imported = 0
      let batch: Array<{ roomId: string, keyId: string, value: Uint8Array }> = []
      const flush = (): void => {
        const rows = batch
        batch = []
        transaction(() => { for (const r of rows) sql.upsert.run(r.roomId, r.keyId, r.value.length, r.value) })
        imported += rows.length
      }
      const name = /^[a-z2-7]{1,200}$/
      for await (const room of await opendir(dir)) {
        if (!room.isDirectory()) continue
        if (!name.test(room.name)) {
          log.warn('not a room folder, not imported', { folder: join(dir, room.name) })
          continue
        }
        for await (const file of await opendir(join(dir, room.name))) {
          const keyId = /^(.+)\.rec$/.exec(file.name)?.[1]
          if (!file.isFile() || keyId == null || !name.test(keyId)) continue
          batch.push({ roomId: room.name, keyId, value: await readFile(join(dir, room.name, file.name)) })
          if (batch.length >= MIGRATION_BATCH) flush()
        }
      }
      transaction(() => {
        for (const r of batch) sql.upsert.run(r.roomId, r.keyId, r.value.length, r.value)
        imported += batch.length
        db.exec('DELETE FROM rooms')
        db.exec('INSERT INTO rooms (room_id, records, bytes) SELECT room_id, count(*), sum(size) FROM records GROUP BY room_id')
        sql.setMeta.run('files-migration', 'done')
      })
      log.info('records imported from files', { records: imported, ms: Date.now() - started })
    }
    let target = `${dir}.migrated`
    if (await stat(target).catch(() => undefined) != null) target = `${dir}.migrated-${Date.now()}`
    await rename(dir, target)
    sql.setMeta.run('files-migration', 'renamed')
    log.info('old records folder renamed', { from: dir, to: target })
  }

  return {
    async get (roomId, keyId) {
      checkOpen()
      return getOne(roomId, keyId)
    },
    async getMany (roomId, keyIds) {
      checkOpen()
      // One prepared lookup per key; all of them run before any other
      // JavaScript, so they see one consistent state.
      return keyIds.map(keyId => getOne(roomId, keyId))
    },
    async write (ops) { return write(ops) },
    async put (roomId, keyId, value) {
      const [result] = write([{ roomId, keyId, value }])
      if (!result.ok) throw result.error
    },
    async delete (roomId, keyId) {
      write([{ roomId, keyId }])
    },
    async * list (roomId) {
      // Page by key rather than hold one statement open across yields: a
      // long-lived read would pin the WAL (no checkpoint) for as long as a
      // slow consumer takes, and writes in between must stay allowed.
      let after = ''
      while (true) {
        checkOpen()
        const rows = sql.page.all(roomId, after, pageSize)
        for (const row of rows) {
          const value = readRow(roomId, row.key_id as string, row)
          if (value != null) yield value
        }
        if (rows.length < pageSize) return
        after = rows[rows.length - 1].key_id as string
      }
    },
    async * rooms () {
      let after = ''
      while (true) {
        checkOpen()
        const rows = sql.roomsPage.all(after, pageSize)
        for (const row of rows) yield row.room_id as string
        if (rows.length < pageSize) return
        after = rows[rows.length - 1].room_id as string
      }
    },
    count (roomId) {
      checkOpen()
      return (sql.room.get(roomId) as Usage | undefined)?.records ?? 0
    },
    usage () {
      return { ...totals }
    },
    async close () {
      if (!open) return
      open = false
      try {
        db.exec('PRAGMA optimize')
      } finally {
        db.close()
      }
    }
  }
}
