/**
 * The primitives a record pays for, alone, as records per second: Ed25519
 * sign and verify (WebCrypto and @noble/curves) in Node and in Chromium,
 * IndexedDB writes through the tab's own storage (web/node/idb-storage.ts),
 * and the relay's database writes (relay/sqlite-storage.ts) in Node.
 * These bound what the data path can reach (issue 8); see bench/README.md.
 *
 * Part of `npm run bench` (bench/run.ts), or alone:
 *   node --import tsx bench/primitives.ts
 * which launches chromium, prints the table, stores the figures under
 * `results.primitives` in bench/results.json (keeping the rest) and stops
 * chromium.
 *
 * The page side needs no relay and no build: noble and the storage module
 * are bundled here with esbuild and served on a routed 127.0.0.1 origin (a
 * secure context, so crypto.subtle exists; nothing is dialled).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ed25519 } from '@noble/curves/ed25519.js'
import { build } from 'esbuild'
import type { Browser } from 'playwright-core'
import { toString } from 'uint8arrays'
import { launchBrowser, stopAll } from '../e2e/harness.ts'
import { sqliteRecordStorage } from '../relay/sqlite-storage.ts'
import type { StorageWrite } from '../shared/record-store.ts'
import { percentile, round, table } from './stats.ts'

/** Signatures / verifications per round (WebCrypto); noble is ~20x slower, so fewer. */
const CRYPTO_RECORDS = 2000
const NOBLE_RECORDS = 200
/** Verifications in flight at once: how a merge of a received batch runs them. */
const IN_FLIGHT = 64
/** Bytes signed per record: about a record body (key id, clock, writer, seen, ciphertext of a small value). */
const MESSAGE_BYTES = 256
/** Records per IndexedDB transaction (one merged batch), and the stored size of one (an encoded HeadSet). */
const IDB_BATCH = 1000
const IDB_RECORD_BYTES = 400
/** Baseline: this many puts, each in its own transaction (what a merge per record cost). */
const IDB_SINGLE = 200
/** Relay database (relay/sqlite-storage.ts): records per write() batch, and single writes for comparison. */
const DB_BATCH = 1000
const DB_SINGLE = 200
/** Measured rounds after one warm-up round; the median round is reported. */
const ROUNDS = 5

const ORIGIN = 'http://127.0.0.1:9'

/** One measured primitive: the median round's rate, and every round's. */
export interface Rate {
  recordsPerSecond: number
  usPerRecord: number
  records: number
  inFlight: number
  rounds: number[]
}

export interface PrimitivesResult {
  versions: { node: string, chromium: string }
  node: Record<string, Rate>
  chromium: Record<string, Rate>
  method: string
  error?: string
}

interface Options {
  cryptoRecords: number
  nobleRecords: number
  inFlight: number
  messageBytes: number
  rounds: number
}

interface Noble {
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, options: { zip215: boolean }): boolean
  getPublicKey(seed: Uint8Array): Uint8Array
}

/**
 * Runs in Node and, as source text, in the page: self-contained (only its
 * arguments, crypto, performance). Returns per primitive the ms of each round.
 */
async function measureCrypto (noble: Noble, o: Options): Promise<Record<string, { ms: number[], records: number, inFlight: number }>> {
  const subtle = globalThis.crypto.subtle
  const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
  const publicKey = new Uint8Array(noble.getPublicKey(seed))
  // WebCrypto takes a raw seed only inside PKCS#8 (RFC 8410); the app imports the room key once, so do we.
  const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...seed])
  const signKey = await subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign'])
  const verifyKey = await subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify'])
  // Distinct messages, as distinct records are.
  const messages = Array.from({ length: o.cryptoRecords }, () => globalThis.crypto.getRandomValues(new Uint8Array(o.messageBytes)))
  const signatures = messages.map(m => new Uint8Array(noble.sign(m, seed)))

  const inParallel = async (n: number, width: number, op: (i: number) => Promise<unknown>): Promise<void> => {
    let next = 0
    await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await op(next++)
    }))
  }
  const cases: Record<string, { records: number, inFlight: number, run: () => Promise<void> }> = {
    signWebCrypto: { records: o.cryptoRecords, inFlight: 1, run: async () => { for (let i = 0; i < o.cryptoRecords; i++) await subtle.sign('Ed25519', signKey, messages[i]) } },
    signWebCryptoInFlight: { records: o.cryptoRecords, inFlight: o.inFlight, run: async () => { await inParallel(o.cryptoRecords, o.inFlight, async i => subtle.sign('Ed25519', signKey, messages[i])) } },
    signNoble: { records: o.nobleRecords, inFlight: 1, run: async () => { for (let i = 0; i < o.nobleRecords; i++) noble.sign(messages[i], seed) } },
    verifyWebCrypto: { records: o.cryptoRecords, inFlight: 1, run: async () => { for (let i = 0; i < o.cryptoRecords; i++) if (!await subtle.verify('Ed25519', verifyKey, signatures[i], messages[i])) throw new Error('bad signature') } },
    verifyWebCryptoInFlight: {
      records: o.cryptoRecords,
      inFlight: o.inFlight,
      run: async () => { await inParallel(o.cryptoRecords, o.inFlight, async i => { if (!await subtle.verify('Ed25519', verifyKey, signatures[i], messages[i])) throw new Error('bad signature') }) }
    },
    verifyNoble: { records: o.nobleRecords, inFlight: 1, run: async () => { for (let i = 0; i < o.nobleRecords; i++) if (!noble.verify(signatures[i], messages[i], publicKey, { zip215: false })) throw new Error('bad signature') } }
  }
  const out: Record<string, { ms: number[], records: number, inFlight: number }> = {}
  for (const [name, c] of Object.entries(cases)) {
    await c.run() // warm-up: JIT, key setup, thread pool
    const ms: number[] = []
    for (let r = 0; r < o.rounds; r++) {
      const start = performance.now()
      await c.run()
      ms.push(performance.now() - start)
    }
    out[name] = { ms, records: c.records, inFlight: c.inFlight }
  }
  return out
}

interface IdbOptions { batch: number, single: number, recordBytes: number, rounds: number }

/** Runs in the page: the tab's storage module, as the merge path uses it. */
async function measureIdb (o: IdbOptions): Promise<Record<string, { ms: number[], records: number, inFlight: number }>> {
  const storage = (globalThis as any).__idbStorage({ database: `bench-${Math.random()}` })
  const value = globalThis.crypto.getRandomValues(new Uint8Array(o.recordBytes))
  const keys = (round: number, n: number): string[] => Array.from({ length: n }, (_, i) => `r${round}-${String(i).padStart(6, '0')}`)
  const out: Record<string, { ms: number[], records: number, inFlight: number }> = {
    idbBatchWrite: { ms: [], records: o.batch, inFlight: 1 },
    idbGetMany: { ms: [], records: o.batch, inFlight: 1 },
    idbPutEach: { ms: [], records: o.single, inFlight: 1 }
  }
  for (let r = -1; r < o.rounds; r++) { // round -1 warms up
    const batch = keys(r, o.batch).map(keyId => ({ roomId: 'bench', keyId, value }))
    let start = performance.now()
    await storage.write(batch)
    const write = performance.now() - start
    start = performance.now()
    const read = await storage.getMany('bench', batch.map(op => op.keyId))
    const getMany = performance.now() - start
    if (read.some((v: Uint8Array | undefined) => v?.length !== o.recordBytes)) throw new Error('getMany lost records')
    start = performance.now()
    for (const keyId of keys(r, o.single)) await storage.put('single', keyId, value)
    const each = performance.now() - start
    if (r < 0) continue
    out.idbBatchWrite.ms.push(write)
    out.idbGetMany.ms.push(getMany)
    out.idbPutEach.ms.push(each)
  }
  return out
}

function rates (raw: Record<string, { ms: number[], records: number, inFlight: number }>): Record<string, Rate> {
  const out: Record<string, Rate> = {}
  for (const [name, { ms, records, inFlight }] of Object.entries(raw)) {
    const perSecond = ms.map(m => records / (m / 1000))
    const median = percentile(perSecond, 50)
    out[name] = { recordsPerSecond: Math.round(median), usPerRecord: round(1e6 / median), records, inFlight, rounds: perSecond.map(Math.round) }
  }
  return out
}

/**
 * The relay's database alone: write() of DB_BATCH new keys (one
 * transaction), and DB_SINGLE write() calls of one key each, values of
 * IDB_RECORD_BYTES (an encoded HeadSet), in a fresh database file with the
 * relay's defaults (WAL, synchronous=NORMAL).
 */
async function measureRelayDb (): Promise<Record<string, { ms: number[], records: number, inFlight: number }>> {
  const dir = await mkdtemp(join(tmpdir(), 'roomkv-bench-db-'))
  const storage = await sqliteRecordStorage({ path: join(dir, 'records.sqlite') })
  try {
    const roomId = toString(randomBytes(32), 'base32')
    const ops = (n: number): StorageWrite[] => Array.from({ length: n }, () => ({ roomId, keyId: toString(randomBytes(32), 'base32'), value: randomBytes(IDB_RECORD_BYTES) }))
    const batch: number[] = []
    const single: number[] = []
    for (let round = 0; round <= ROUNDS; round++) {
      const many = ops(DB_BATCH)
      let t0 = performance.now()
      await storage.write(many)
      const batchMs = performance.now() - t0
      const each = ops(DB_SINGLE)
      t0 = performance.now()
      for (const op of each) await storage.write([op])
      const singleMs = performance.now() - t0
      if (round > 0) { batch.push(batchMs); single.push(singleMs) }
    }
    return { relayDbWrite: { ms: batch, records: DB_BATCH, inFlight: 1 }, relayDbWriteEach: { ms: single, records: DB_SINGLE, inFlight: 1 } }
  } finally {
    await storage.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const METHOD = `Ed25519 over ${MESSAGE_BYTES}-byte distinct messages with one key imported once (as the room key is); WebCrypto one call at a time, and ${IN_FLIGHT} in flight; noble (@noble/curves, zip215: false as the app) synchronous. IndexedDB through web/node/idb-storage.ts in Chromium: write() of ${IDB_BATCH} records of ${IDB_RECORD_BYTES} bytes in one transaction (resolves on commit), getMany() of the same ${IDB_BATCH} keys, and put() of ${IDB_SINGLE} records each in its own transaction. Each: one warm-up round, then ${ROUNDS} rounds; the median round's rate is reported (all rounds in rounds). Relay database in Node (relay/sqlite-storage.ts, node:sqlite, WAL, synchronous=NORMAL, fresh file): write() of ${DB_BATCH} new keys of ${IDB_RECORD_BYTES} bytes in one transaction, and ${DB_SINGLE} write() calls of one key each.`

/** Measure everything: Node in this process, Chromium in a fresh context of `browser`. */
export async function measurePrimitives (browser: Browser): Promise<PrimitivesResult> {
  const options: Options = { cryptoRecords: CRYPTO_RECORDS, nobleRecords: NOBLE_RECORDS, inFlight: IN_FLIGHT, messageBytes: MESSAGE_BYTES, rounds: ROUNDS }
  const result: PrimitivesResult = { versions: { node: process.version, chromium: browser.version() }, node: {}, chromium: {}, method: METHOD }
  result.node = rates({ ...await measureCrypto(ed25519, options), ...await measureRelayDb() })
  const context = await browser.newContext()
  try {
    const bundle = await build({
      stdin: {
        contents: "import { ed25519 } from '@noble/curves/ed25519.js'\nimport { idbRecordStorage } from './web/node/idb-storage.ts'\nglobalThis.__noble = ed25519\nglobalThis.__idbStorage = idbRecordStorage\n",
        resolveDir: fileURLToPath(new URL('..', import.meta.url)),
        loader: 'ts'
      },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022'
    })
    // tsx (esbuild keepNames) wraps named functions in __name(); the page has no such helper.
    const html = `<!doctype html><meta charset="utf-8"><script>globalThis.__name = (f) => f</script><script>${bundle.outputFiles[0].text}</script>`
    const page = await context.newPage()
    await page.route(`${ORIGIN}/**`, async route => { await route.fulfill({ contentType: 'text/html', body: html }) })
    await page.goto(`${ORIGIN}/`)
    const crypto = await page.evaluate(`(${measureCrypto.toString()})(globalThis.__noble, ${JSON.stringify(options)})`) as Awaited<ReturnType<typeof measureCrypto>>
    const idbOptions: IdbOptions = { batch: IDB_BATCH, single: IDB_SINGLE, recordBytes: IDB_RECORD_BYTES, rounds: ROUNDS }
    const idb = await page.evaluate(`(${measureIdb.toString()})(${JSON.stringify(idbOptions)})`) as Awaited<ReturnType<typeof measureIdb>>
    result.chromium = rates({ ...crypto, ...idb })
  } catch (err: any) {
    result.error = `chromium: ${err.message}`
  } finally {
    await context.close().catch(() => {})
  }
  return result
}

const LABELS: Record<string, string> = {
  signWebCrypto: 'sign, WebCrypto, 1 at a time',
  signWebCryptoInFlight: `sign, WebCrypto, ${IN_FLIGHT} in flight`,
  signNoble: 'sign, noble',
  verifyWebCrypto: 'verify, WebCrypto, 1 at a time',
  verifyWebCryptoInFlight: `verify, WebCrypto, ${IN_FLIGHT} in flight`,
  verifyNoble: 'verify, noble',
  idbBatchWrite: `IndexedDB write(), ${IDB_BATCH} per transaction`,
  idbGetMany: `IndexedDB getMany(), ${IDB_BATCH} keys`,
  idbPutEach: 'IndexedDB put(), 1 per transaction',
  relayDbWrite: `relay database write(), ${DB_BATCH} per transaction`,
  relayDbWriteEach: 'relay database write(), 1 per transaction'
}

export function primitivesTable (result: PrimitivesResult): string {
  const cell = (rate?: Rate): [string, string] => rate == null ? ['-', '-'] : [rate.recordsPerSecond.toLocaleString('en-US'), rate.usPerRecord.toFixed(1)]
  const rows = [['primitive (records/s, us/record)', 'node /s', 'node us', 'chromium /s', 'chromium us']]
  for (const [name, label] of Object.entries(LABELS)) rows.push([label, ...cell(result.node[name]), ...cell(result.chromium[name])])
  return table(rows) + (result.error != null ? `\nprimitives: ${result.error}` : '')
}

// Alone: `node --import tsx bench/primitives.ts`.
if (process.argv[1] != null && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  let failed = false
  try {
    const browser = await launchBrowser()
    const result = await measurePrimitives(browser)
    process.stdout.write(`${primitivesTable(result)}\n`)
    const file = fileURLToPath(new URL('./results.json', import.meta.url))
    const previous = JSON.parse(await readFile(file, 'utf8').catch(() => '{}'))
    previous.results = { ...previous.results, primitives: { ...result, date: new Date().toISOString() } }
    await writeFile(file, `${JSON.stringify(previous, null, 2)}\n`)
    process.stdout.write(`wrote ${file} (results.primitives)\n`)
    failed = result.error != null
  } catch (err: any) {
    failed = true
    process.stderr.write(`primitives failed: ${err.stack ?? err.message}\n`)
  } finally {
    await stopAll()
  }
  process.exit(failed ? 1 : 0)
}
