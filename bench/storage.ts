/**
 * Relay record storage, per record: the old one-file-per-key store
 * (datastore-fs) against the SQLite database, at batches of 1 / 64 / 1000
 * writes of new keys, plus the read-then-write of a merge batch
 * (getMany + write, what the record store does). Values are 600 random
 * bytes (a one-version HeadSet is ~400-700 bytes); keys are base32 like the
 * relay's. Run: `node --import tsx bench/storage.ts` (prints a table and JSON).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toString } from 'uint8arrays'
import { fsRecordStorage } from '../relay/record-storage.ts'
import { sqliteRecordStorage } from '../relay/sqlite-storage.ts'
import type { RecordStorage, StorageWrite } from '../shared/record-store.ts'

const VALUE_BYTES = 600
/** Records written per run, by batch size (three runs each, the median is shown). */
const RECORDS: Record<number, number> = { 1: 2000, 64: 6400, 1000: 10_000 }

const id = (): string => toString(randomBytes(32), 'base32')

async function writeBatch (storage: RecordStorage, ops: StorageWrite[]): Promise<void> {
  if (storage.write != null) {
    const results = await storage.write(ops)
    if (results.some(r => !r.ok)) throw new Error('refused')
    return
  }
  // The old store has no batch: its best case is every put of the batch in flight at once.
  await Promise.all(ops.map(async op => { await storage.put(op.roomId, op.keyId, op.value as Uint8Array) }))
}

async function measure (open: (dir: string) => Promise<RecordStorage>, batch: number): Promise<{ insertUs: number, mergeUs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'roomkv-bench-storage-'))
  const storage = await open(dir)
  try {
    const roomId = id()
    const count = RECORDS[batch]
    const batches: StorageWrite[][] = []
    for (let i = 0; i < count; i += batch) {
      batches.push(Array.from({ length: Math.min(batch, count - i) }, () => ({ roomId, keyId: id(), value: randomBytes(VALUE_BYTES) })))
    }
    let started = performance.now()
    for (const ops of batches) await writeBatch(storage, ops)
    const insertUs = (performance.now() - started) * 1000 / count
    // A merge batch: read the current heads of every key, write the new ones.
    const updates = batches.map(ops => ops.map(op => ({ ...op, value: randomBytes(VALUE_BYTES) })))
    started = performance.now()
    for (const ops of updates) {
      const keys = ops.map(op => op.keyId)
      if (storage.getMany != null) await storage.getMany(roomId, keys)
      else await Promise.all(keys.map(async k => await storage.get(roomId, k)))
      await writeBatch(storage, ops)
    }
    const mergeUs = (performance.now() - started) * 1000 / count
    return { insertUs, mergeUs }
  } finally {
    await storage.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const stores: Array<[string, (dir: string) => Promise<RecordStorage>]> = [
  ['datastore-fs (old)', async dir => await fsRecordStorage(join(dir, 'records'))],
  ['node:sqlite WAL, synchronous=NORMAL', async dir => await sqliteRecordStorage({ path: join(dir, 'records.sqlite') })],
  ['node:sqlite WAL, synchronous=FULL', async dir => await sqliteRecordStorage({ path: join(dir, 'records.sqlite'), synchronous: 'full' })]
]

const results: Array<{ store: string, batch: number, insertUsPerRecord: number, mergeUsPerRecord: number }> = []
for (const [store, open] of stores) {
  for (const batch of [1, 64, 1000]) {
    // Median of three runs: the machine is shared, single runs are noisy.
    const runs = []
    for (let i = 0; i < 3; i++) runs.push(await measure(open, batch))
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[1]
    const insertUs = median(runs.map(r => r.insertUs))
    const mergeUs = median(runs.map(r => r.mergeUs))
    results.push({ store, batch, insertUsPerRecord: Math.round(insertUs * 10) / 10, mergeUsPerRecord: Math.round(mergeUs * 10) / 10 })
  }
}
console.log('us per record (new keys: insert; existing keys: getMany + write)')
console.log(`${'store'.padEnd(38)} ${'batch'.padStart(6)} ${'insert'.padStart(9)} ${'merge'.padStart(9)}`)
for (const r of results) console.log(`${r.store.padEnd(38)} ${String(r.batch).padStart(6)} ${r.insertUsPerRecord.toFixed(1).padStart(9)} ${r.mergeUsPerRecord.toFixed(1).padStart(9)}`)
console.log(JSON.stringify(results))
