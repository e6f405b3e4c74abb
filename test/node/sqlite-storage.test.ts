/**
 * The relay's record database (relay/sqlite-storage.ts) on a real file in a
 * temporary folder: batches with per-write quota refusals, atomicity, key
 * order across pages, persistence, the global budgets, migration from the
 * old one-file-per-key folder, and unreadable rows being reported.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toString } from 'uint8arrays'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { fsRecordStorage } from '../../relay/record-storage.ts'
import { sqliteRecordStorage, type SqliteRecordStorage, type SqliteRecordStorageInit } from '../../relay/sqlite-storage.ts'
import { collect, prng, shuffle } from '../../shared/test-support.ts'

let dir: string
const opened: SqliteRecordStorage[] = []
const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill)
const key = (i: number): string => `k${String(i).padStart(4, '0')}`
const text = (value: Uint8Array | undefined): string | undefined => value == null ? undefined : Buffer.from(value).toString()

async function open (init: Partial<SqliteRecordStorageInit> = {}): Promise<SqliteRecordStorage> {
  const storage = await sqliteRecordStorage({ path: join(dir, 'records.sqlite'), ...init })
  opened.push(storage)
  return storage
}

beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'roomkv-sqlite-')) })
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map(async s => { await s.close() }))
  await rm(dir, { recursive: true, force: true })
})

describe('sqlite record storage', () => {
  test('get, getMany, put, delete, and everything is there after reopening', async () => {
    const a = await open()
    await a.put('room', 'one', Buffer.from('1'))
    await a.put('room', 'two', Buffer.from('2'))
    await a.put('room', 'two', Buffer.from('22'))
    await a.put('other', 'one', Buffer.from('x'))
    await a.delete('other', 'one')
    await a.delete('other', 'never-there')
    expect(text(await a.get('room', 'two'))).toBe('22')
    expect((await a.getMany('room', ['two', 'missing', 'one'])).map(text)).toEqual(['22', undefined, '1'])
    expect(a.usage()).toEqual({ records: 2, bytes: 3, rooms: 1 })
    await a.close()

    const b = await open()
    expect((await collect(b.list('room'))).map(text)).toEqual(['1', '22'])
    expect(await collect(b.rooms())).toEqual(['room'])
    expect(b.usage()).toEqual({ records: 2, bytes: 3, rooms: 1 })
  })

  test('a batch applies what fits and reports each refused write (ERR_ROOM_FULL), other rooms unaffected', async () => {
    const s = await open({ maxRoomRecords: 3, maxRoomBytes: 100 })
    const results = await s.write([
      { roomId: 'a', keyId: key(1), value: bytes(10) },
      { roomId: 'a', keyId: key(2), value: bytes(10) },
      { roomId: 'b', keyId: key(1), value: bytes(10) },
      { roomId: 'a', keyId: key(3), value: bytes(10) },
      { roomId: 'a', keyId: key(4), value: bytes(10) }, // a 4th key: refused
      { roomId: 'a', keyId: key(1), value: bytes(20) }, // an update of a kept key: fine
      { roomId: 'a', keyId: key(2), value: bytes(80) } // 20 + 80 + 10 bytes > 100: refused
    ])
    expect(results.map(r => r.ok)).toEqual([true, true, true, true, false, true, false])
    for (const refused of [results[4], results[6]]) {
      expect(refused.ok === false && (refused.error as any).code).toBe('ERR_ROOM_FULL')
      expect(refused.ok === false && refused.error.name).toBe('RoomFullError')
    }
    expect(await s.get('a', key(4))).toBeUndefined()
    expect((await s.get('a', key(2)))?.length).toBe(10)
    expect((await s.get('a', key(1)))?.length).toBe(20)
    // put() throws the refusal; a delete frees a slot; a shrink always passes.
    await expect(s.put('a', key(5), bytes(1))).rejects.toMatchObject({ code: 'ERR_ROOM_FULL' })
    await s.put('b', key(5), bytes(1))
    await s.delete('a', key(3))
    await s.put('a', key(5), bytes(1))
    expect(s.usage()).toEqual({ records: 5, bytes: 20 + 10 + 1 + 10 + 1, rooms: 2 })
    await s.close()
    // The counters persisted with the rows.
    const again = await open({ maxRoomRecords: 3, maxRoomBytes: 100 })
    expect(again.usage()).toEqual({ records: 5, bytes: 42, rooms: 2 })
    await expect(again.put('a', key(6), bytes(1))).rejects.toMatchObject({ code: 'ERR_ROOM_FULL' })
  })

  test('a batch is one transaction: a failing write rolls back the whole batch and the counters', async () => {
    const s = await open()
    await s.put('a', 'kept', bytes(5))
    await expect(s.write([
      { roomId: 'a', keyId: 'x', value: bytes(7) },
      { roomId: 'a', keyId: 'kept' },
      { roomId: null as unknown as string, keyId: 'y', value: bytes(1) } // NOT NULL constraint
    ])).rejects.toThrow(/NOT NULL/)
    expect(await s.get('a', 'x')).toBeUndefined()
    expect((await s.get('a', 'kept'))?.length).toBe(5)
    expect(s.usage()).toEqual({ records: 1, bytes: 5, rooms: 1 })
    await s.close()
    expect((await open()).usage()).toEqual({ records: 1, bytes: 5, rooms: 1 })
  })

  test('list streams a room in key order, page by page, and tolerates writes between pages', async () => {
    const s = await open({ pageSize: 4 })
    const keys = Array.from({ length: 50 }, (_, i) => key(i))
    await s.write(shuffle(keys, prng(8)).map(k => ({ roomId: 'r', keyId: k, value: Buffer.from(k) })))
    await s.write([{ roomId: 'q', keyId: key(0), value: bytes(1) }, { roomId: 's', keyId: key(0), value: bytes(1) }])
    const seen: string[] = []
    for await (const value of s.list('r')) {
      seen.push(text(value) as string)
      // The consumer writes into the room while listing (the record store's prune does).
      if (seen.length === 10) await s.put('r', key(30), Buffer.from(key(30)))
    }
    expect(seen).toEqual(keys)
    expect(await collect(s.rooms())).toEqual(['q', 'r', 's'])
  })

  test('the disk budget counts every room together (ERR_DISK_FULL); shrinking and deleting still work', async () => {
    const s = await open({ maxDiskBytes: 1000 })
    await s.put('a', 'k', bytes(600))
    const results = await s.write([
      { roomId: 'b', keyId: 'k', value: bytes(500) },
      { roomId: 'b', keyId: 'small', value: bytes(300) }
    ])
    expect(results[0]).toMatchObject({ ok: false, error: { code: 'ERR_DISK_FULL', name: 'DiskFullError' } })
    expect(results[1].ok).toBe(true)
    await s.put('a', 'k', bytes(100))
    await s.put('b', 'k', bytes(500))
    expect(s.usage().bytes).toBe(900)
  })

  test('the rooms cap refuses a new room (ERR_DISK_FULL) until a room empties', async () => {
    const s = await open({ maxRooms: 2 })
    await s.put('a', 'k', bytes(1))
    await s.put('b', 'k', bytes(1))
    await expect(s.put('c', 'k', bytes(1))).rejects.toMatchObject({ code: 'ERR_DISK_FULL' })
    await s.put('a', 'k2', bytes(1)) // rooms already kept still grow
    await s.delete('b', 'k')
    await s.put('c', 'k', bytes(1))
    expect(await collect(s.rooms())).toEqual(['a', 'c'])
    expect(s.usage().rooms).toBe(2)
  })

  test('an old records folder is imported once, in batches, then renamed', async () => {
    const old = await fsRecordStorage(join(dir, 'records'))
    const roomA = 'bafkreia2a'
    const roomB = 'baaaaaab7'
    const keys = Array.from({ length: 1100 }, (_, i) => toString(new Uint8Array([i >> 8, i & 255, 7]), 'base32'))
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map(async k => { await old.put(roomA, k, Buffer.from(`v-${k}`)) }))
    }
    await old.put(roomB, 'only', Buffer.from('b'))
    await old.close()

    const lines: string[] = []
    const log = { error () {}, warn (m: string) { lines.push(m) }, info (m: string) { lines.push(m) }, debug () {} }
    const s = await open({ migrateFrom: join(dir, 'records'), log })
    expect(s.usage().records).toBe(1101)
    expect(text(await s.get(roomB, 'only'))).toBe('b')
    expect((await collect(s.list(roomA))).map(text)).toEqual([...keys].sort().map(k => `v-${k}`))
    expect(await readdir(dir)).toContain('records.migrated')
    expect(await stat(join(dir, 'records')).catch(() => undefined)).toBeUndefined()
    expect(lines).toContain('records imported from files')
    await s.close()

    // A records folder that shows up later is not imported over the database.
    const stray = await fsRecordStorage(join(dir, 'records'))
    await stray.put(roomB, 'stray', Buffer.from('s'))
    await stray.close()
    const again = await open({ migrateFrom: join(dir, 'records'), log })
    expect(again.usage().records).toBe(1101)
    expect(await again.get(roomB, 'stray')).toBeUndefined()
    expect(lines).toContain('old records folder left alone: the database already holds records')
  })

  test('an unreadable row is reported (log and hook), treated as absent, and healed by the next write', async () => {
    const corrupt: string[] = []
    const warnings: string[] = []
    const log = { error () {}, warn (m: string, f: any) { warnings.push(`${m} ${f.key}`) }, info () {}, debug () {} }
    const s = await open({ onCorrupt: (roomId, keyId) => { corrupt.push(`${roomId}/${keyId}`) }, log })
    await s.put('r', 'good', bytes(3))
    await s.put('r', 'bad', bytes(3))
    // Damage one row behind the storage's back, through a second connection.
    const { DatabaseSync } = createRequire(import.meta.url)('node:sqlite')
    const other = new DatabaseSync(join(dir, 'records.sqlite'))
    other.prepare("UPDATE records SET value = 'not bytes' WHERE key_id = 'bad'").run()
    other.close()

    expect(await s.get('r', 'bad')).toBeUndefined()
    expect((await s.getMany('r', ['good', 'bad'])).map(v => v?.length)).toEqual([3, undefined])
    expect((await collect(s.list('r'))).length).toBe(1)
    expect(corrupt).toEqual(['r/bad', 'r/bad', 'r/bad'])
    expect(warnings).toContain('unreadable record in storage bad')
    await s.put('r', 'bad', bytes(4))
    expect((await s.get('r', 'bad'))?.length).toBe(4)
    expect(s.usage()).toEqual({ records: 2, bytes: 7, rooms: 1 })
  })

  test('loading the storage prints no ExperimentalWarning, other warnings still do', () => {
    const script = [
      "import { sqliteRecordStorage } from './relay/sqlite-storage.ts'",
      `const s = await sqliteRecordStorage({ path: ${JSON.stringify(join(dir, 'w.sqlite'))} })`,
      'await s.close()',
      "process.emitWarning('still here', 'ExperimentalWarning')"
    ].join('\n')
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: process.cwd() })
    expect(run.status).toBe(0)
    expect(run.stderr).not.toMatch(/SQLite is an experimental feature/)
    expect(run.stderr).toMatch(/ExperimentalWarning: still here/)
  })
})
