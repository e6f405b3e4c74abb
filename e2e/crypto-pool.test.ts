/**
 * The tab's crypto Workers (web/node/crypto-pool.ts) in Chromium: the pool
 * and the worker are bundled with esbuild and served on a routed 127.0.0.1
 * origin. Answers must be exactly the main thread's: valid signatures pass,
 * forged or malformed ones fail, records open to the same payloads or the
 * same error codes, whichever Worker does it, and a Worker that breaks
 * hands its work back to the main thread.
 */
import { build } from 'esbuild'
import { ed25519 } from '@noble/curves/ed25519.js'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { COUNTED_WORKERS_SCRIPT, launchBrowser, stopAll } from './harness.ts'
import { openPayloadAsync, readStoredRecord } from '../shared/record.ts'
import { sealRecord } from '../shared/record-js.ts'
import { deriveRoomKeys } from '../shared/room-keys.ts'

const ORIGIN = 'http://127.0.0.1:9'
let browser: Browser
let pool: string
let worker: string

const bundle = async (entry: string, globalName?: string): Promise<string> => (await build({
  // The page gets the pool and what a test needs to make records (readStoredRecord, openRecord) from one bundle.
  ...(entry === 'scratch-crypto-entry'
    ? { stdin: { contents: "export { createCryptoPool } from './web/node/crypto-pool.ts'; export { readStoredRecord } from './shared/record.ts'", resolveDir: process.cwd(), loader: 'ts' } }
    : { entryPoints: [entry] }),
  bundle: true, write: false, format: 'iife', globalName, platform: 'browser', target: 'es2022'
})).outputFiles[0].text

beforeAll(async () => {
  pool = await bundle('scratch-crypto-entry', '__cryptoPool')
  worker = await bundle('web/node/crypto-worker.ts')
  browser = await launchBrowser()
})
afterAll(async () => { await stopAll() })


async function openPage (): Promise<Page> {
  const page = await (await browser.newContext()).newPage()
  await page.route(`${ORIGIN}/**`, async route => {
    const path = new URL(route.request().url()).pathname
    if (path === '/worker.js') await route.fulfill({ contentType: 'text/javascript', body: worker })
    else if (path === '/broken.js') await route.fulfill({ contentType: 'text/javascript', body: 'postMessage({ ready: true }); onmessage = () => { throw new Error("broken") }' })
    else await route.fulfill({ contentType: 'text/html', body: `<!doctype html><meta charset="utf-8"><script>${pool}</script><script>${COUNTED_WORKERS_SCRIPT}</script>` })
  })
  await page.goto(`${ORIGIN}/`)
  return page
}

/** 400 signatures of two keys; every 7th forged (one bit flipped), every 50th of the wrong size. */
function cases (): { items: Array<{ signature: number[], message: number[], publicKey: number[] }>, expected: boolean[] } {
  const seeds = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]
  const items: Array<{ signature: number[], message: number[], publicKey: number[] }> = []
  const expected: boolean[] = []
  for (let i = 0; i < 400; i++) {
    const seed = seeds[i % 2]
    const message = new TextEncoder().encode(`record ${i} ${'x'.repeat(i % 300)}`)
    let signature: Uint8Array = ed25519.sign(message, seed)
    let ok = true
    if (i % 7 === 3) { signature = signature.slice(); signature[i % 64] ^= 1; ok = false }
    if (i % 50 === 11) { signature = signature.subarray(0, 63); ok = false }
    items.push({ signature: [...signature], message: [...message], publicKey: [...ed25519.getPublicKey(seed)] })
    expected.push(ok)
  }
  return { items, expected }
}

test('Workers answer every check exactly as the main thread does, in one tick or many', async () => {
  const page = await openPage()
  const { items, expected } = cases()
  const result = await page.evaluate(async ({ items, origin }) => {
    const { createCryptoPool } = (globalThis as any).__cryptoPool
    const workers = countedWorkers(`${origin}/worker.js`)
    const pool = createCryptoPool({ workers: 2, maxBatch: 64, createWorker: workers.create })
    // Until a Worker has loaded, the pool works on this thread: wait, so the checks below are the Workers'.
    const ready = await pool.ready()
    const asBytes = (item: any): Uint8Array[] => {
      // Views into a larger buffer, as sync frames hand them over.
      const frame = new Uint8Array(1 << 16)
      frame.set(item.signature, 10)
      frame.set(item.message, 200)
      return [frame.subarray(10, 10 + item.signature.length), frame.subarray(200, 200 + item.message.length), Uint8Array.from(item.publicKey)]
    }
    const oneTick = await Promise.all(items.map(async (item: any) => pool.verify(...asBytes(item))))
    const spread: boolean[] = []
    for (const item of items.slice(0, 40)) spread.push(await pool.verify(...asBytes(item)))
    const posted = workers.posted
    pool.close()
    const afterClose = await pool.verify(...asBytes(items[0]))
    return { oneTick, spread, afterClose, started: workers.started, ready, posted }
  }, { items, origin: ORIGIN })
  expect(result.started).toBe(2)
  expect(result.ready).toBe(true)
  expect(result.posted).toBeGreaterThan(0)
  expect(result.oneTick).toEqual(expected)
  expect(result.spread).toEqual(expected.slice(0, 40))
  expect(result.afterClose).toBe(expected[0])
})

test('a few checks at a time run on the main thread and start no Worker; the first burst starts them for good', async () => {
  const page = await openPage()
  const { items, expected } = cases()
  const result = await page.evaluate(async ({ items, origin }) => {
    const { createCryptoPool } = (globalThis as any).__cryptoPool
    const workers = countedWorkers(`${origin}/worker.js`)
    const pool = createCryptoPool({ workers: 2, localBelow: 8, createWorker: workers.create })
    const check = async (item: any): Promise<boolean> => pool.verify(Uint8Array.from(item.signature), Uint8Array.from(item.message), Uint8Array.from(item.publicKey))
    const few: boolean[] = []
    for (let i = 0; i < 40; i += 4) few.push(...await Promise.all(items.slice(i, i + 4).map(check)))
    const startedAfterFew = workers.started
    const burst = await Promise.all(items.map(check))
    // Workers started: a few at a time go to them once they are ready (answers the same).
    const after: boolean[] = []
    for (let i = 0; i < 40; i += 4) after.push(...await Promise.all(items.slice(i, i + 4).map(check)))
    pool.close()
    // Closed before its first burst was flushed: the burst runs here, no Worker starts.
    const lateWorkers = countedWorkers(`${origin}/worker.js`)
    const late = createCryptoPool({ workers: 2, localBelow: 8, createWorker: lateWorkers.create })
    const pending = items.slice(0, 40).map(async (item: any) => late.verify(Uint8Array.from(item.signature), Uint8Array.from(item.message), Uint8Array.from(item.publicKey)))
    late.close()
    const lateOut = await Promise.all(pending)
    return { few, startedAfterFew, burst, after, started: workers.started, lateOut, lateStarted: lateWorkers.started }
  }, { items, origin: ORIGIN })
  expect(result.startedAfterFew).toBe(0)
  expect(result.few).toEqual(expected.slice(0, 40))
  expect(result.started).toBe(2)
  expect(result.burst).toEqual(expected)
  expect(result.after).toEqual(expected.slice(0, 40))
  expect(result.lateStarted).toBe(0)
  expect(result.lateOut).toEqual(expected.slice(0, 40))
})

test('until a Worker has loaded its script, checks run on the main thread instead of waiting for it', async () => {
  const page = await openPage()
  const { items, expected } = cases()
  const result = await page.evaluate(async ({ items, origin }) => {
    const { createCryptoPool } = (globalThis as any).__cryptoPool
    const workers = countedWorkers(`${origin}/worker.js`)
    const pool = createCryptoPool({ workers: 2, createWorker: workers.create })
    const check = async (item: any): Promise<boolean> => pool.verify(Uint8Array.from(item.signature), Uint8Array.from(item.message), Uint8Array.from(item.publicKey))
    // The first burst starts the Workers; none can have said `ready` within its own task.
    const first = await Promise.all(items.map(check))
    const postedByFirst = workers.posted
    const ready = await pool.ready()
    const second = await Promise.all(items.map(check))
    pool.close()
    return { first, postedByFirst, ready, second, posted: workers.posted }
  }, { items, origin: ORIGIN })
  expect(result.first).toEqual(expected)
  expect(result.postedByFirst).toBe(0)
  expect(result.ready).toBe(true)
  expect(result.second).toEqual(expected)
  expect(result.posted).toBeGreaterThan(0)
})

test('a Worker that fails hands its checks back to the main thread; none is lost or wrong', async () => {
  const page = await openPage()
  const { items, expected } = cases()
  const result = await page.evaluate(async ({ items, origin }) => {
    const { createCryptoPool } = (globalThis as any).__cryptoPool
    const broken = countedWorkers(`${origin}/broken.js`)
    const good = countedWorkers(`${origin}/worker.js`)
    let n = 0
    const pool = createCryptoPool({ workers: 2, maxBatch: 32, createWorker: () => n++ === 0 ? broken.create() : good.create() })
    // Both say ready (the broken one too), so the burst below is split between them.
    await pool.ready()
    while (broken.ready + good.ready < 2) await new Promise(resolve => setTimeout(resolve, 10))
    const out = await Promise.all(items.map(async (item: any) => pool.verify(Uint8Array.from(item.signature), Uint8Array.from(item.message), Uint8Array.from(item.publicKey))))
    pool.close()
    return { out, brokenGiven: broken.posted, goodGiven: good.posted }
  }, { items, origin: ORIGIN })
  expect(result.out).toEqual(expected)
  expect(result.brokenGiven).toBeGreaterThan(0)
  expect(result.goodGiven).toBeGreaterThan(0)
})

test('records open in Workers to exactly the payloads and error codes of the main thread', async () => {
  const page = await openPage()
  const keys = deriveRoomKeys(new Uint8Array(32).fill(9))
  const other = deriveRoomKeys(new Uint8Array(32).fill(8))
  const good = Array.from({ length: 300 }, (_, i) => sealRecord(keys, { key: `k/${i}`, value: i % 3 === 0 ? { i, s: 'x'.repeat(i) } : i, deleted: i % 10 === 7, clock: { wall: 1_767_225_600_000 + i, counter: 0 }, writer: 'w' }))
  // Sealed with another room's keys: a record of this room id cannot be made without the secret; opening with the wrong keys must fail.
  const foreign = sealRecord(other, { key: 'k/foreign', value: 1, clock: { wall: 1_767_225_600_000, counter: 0 }, writer: 'w' })
  const expected = await Promise.all([...good, foreign].map(async bytes => {
    try {
      const payload = await openPayloadAsync(keys, readStoredRecord(bytes))
      return { name: payload.name, value: payload.value }
    } catch (err: any) {
      return { code: err.code }
    }
  }))
  expect(expected.filter(e => 'code' in e)).toEqual([{ code: 'ERR_WRONG_ROOM' }])
  const result = await page.evaluate(async ({ records, keys, origin }) => {
    const { createCryptoPool, readStoredRecord } = (globalThis as any).__cryptoPool
    const workers = countedWorkers(`${origin}/worker.js`)
    const pool = createCryptoPool({ workers: 2, maxBatch: 50, createWorker: workers.create })
    const ready = await pool.ready()
    const k = { roomId: Uint8Array.from(keys.roomId), encryptionKey: Uint8Array.from(keys.encryptionKey), nameKey: Uint8Array.from(keys.nameKey) }
    const out = await Promise.all(records.map(async (bytes: number[]) => {
      try {
        const payload = await pool.open(k, readStoredRecord(Uint8Array.from(bytes)))
        return { name: payload.name, value: payload.value }
      } catch (err: any) {
        return { code: err.code }
      }
    }))
    pool.close()
    return { out, started: workers.started, ready, posted: workers.posted }
  }, { records: [...good, foreign].map(b => [...b]), keys: { roomId: [...keys.roomId], encryptionKey: [...keys.encryptionKey], nameKey: [...keys.nameKey] }, origin: ORIGIN })
  expect(result.started).toBe(2)
  expect(result.ready).toBe(true)
  expect(result.posted).toBeGreaterThan(0)
  expect(result.out).toEqual(expected)
})
