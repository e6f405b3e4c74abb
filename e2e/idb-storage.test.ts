/**
 * The tab's record storage (web/node/idb-storage.ts) against Chromium's real
 * IndexedDB: the module is bundled with esbuild and served on a routed
 * 127.0.0.1 origin, so those tests need neither a relay nor the built app.
 * The last test drives the built app (dist/, `npx vite build` first) through
 * its session: rows patched from watch() deltas, the room read back after a reload.
 */
import { build } from 'esbuild'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { COUNTED_WORKERS_SCRIPT, launchBrowser, startRelayProcess, stopAll } from './harness.ts'
import { createRoom, joined, rowValue } from './ui-driver.ts'

// Never dialled: every request to it is answered by page.route below.
const ORIGIN = 'http://127.0.0.1:9'

let browser: Browser
let html: string
let writerScript: string

beforeAll(async () => {
  const bundle = await build({
    entryPoints: ['web/node/idb-storage.ts'],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: '__idbStorage',
    platform: 'browser',
    target: 'es2022'
  })
  html = `<!doctype html><meta charset="utf-8"><script>${bundle.outputFiles[0].text}</script><script>${COUNTED_WORKERS_SCRIPT}</script>`
  writerScript = (await build({ entryPoints: ['web/node/idb-writer-worker.ts'], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022' })).outputFiles[0].text
  browser = await launchBrowser()
})
afterAll(async () => { await stopAll() })

async function openPage (context?: BrowserContext): Promise<Page> {
  const page = await (context ?? await browser.newContext()).newPage()
  await page.route(`${ORIGIN}/**`, async route => {
    const path = new URL(route.request().url()).pathname
    if (path === '/writer.js') await route.fulfill({ contentType: 'text/javascript', body: writerScript })
    else if (path === '/broken.js') await route.fulfill({ contentType: 'text/javascript', body: 'postMessage({ ready: true }); onmessage = () => { throw new Error("broken") }' })
    else await route.fulfill({ contentType: 'text/html', body: html })
  })
  await page.goto(`${ORIGIN}/`)
  return page
}


test('write applies a batch in one transaction; getMany reads it back in the order asked', async () => {
  const page = await openPage()
  const result = await page.evaluate(async () => {
    const storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'batch' })
    const ops = Array.from({ length: 2000 }, (_, i) => ({ roomId: 'room', keyId: `k${String(i).padStart(5, '0')}`, value: new Uint8Array([i & 255, i >> 8]) }))
    const results = await storage.write(ops)
    // Deletes and puts mixed in one batch, a key written twice: the last op wins.
    const second = await storage.write([
      { roomId: 'room', keyId: 'k00000' },
      { roomId: 'room', keyId: 'k00001', value: new Uint8Array([9]) },
      { roomId: 'room', keyId: 'k00001', value: new Uint8Array([7, 7]) },
      { roomId: 'other', keyId: 'k00002', value: new Uint8Array([5]) }
    ])
    const read = await storage.getMany('room', ['k01999', 'missing', 'k00000', 'k00001', 'k00002', 'k01000'])
    return {
      ok: results.length === 2000 && results.every((r: any) => r.ok === true),
      second: second.map((r: any) => r.ok),
      read: read.map((v: Uint8Array | undefined) => v == null ? null : [...v]),
      none: await storage.getMany('room', []),
      empty: await storage.write([]),
      other: [...await storage.get('other', 'k00002')]
    }
  })
  expect(result).toEqual({
    ok: true,
    second: [true, true, true, true],
    read: [[1999 & 255, 1999 >> 8], null, null, [7, 7], [2, 0], [1000 & 255, 1000 >> 8]],
    none: [],
    empty: [],
    other: [5]
  })
})

test('a batch that fails is applied not at all, and write rejects', async () => {
  const page = await openPage()
  const result = await page.evaluate(async () => {
    const storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'abort' })
    await storage.write([{ roomId: 'room', keyId: 'kept', value: new Uint8Array([1]) }])
    let error = ''
    try {
      await storage.write([
        { roomId: 'room', keyId: 'a', value: new Uint8Array([1]) },
        { roomId: 'room', keyId: 'kept' },
        // A function cannot be stored (DataCloneError), midway through the batch.
        { roomId: 'room', keyId: 'b', value: () => {} },
        { roomId: 'room', keyId: 'c', value: new Uint8Array([3]) }
      ])
    } catch (err: any) {
      error = err.name
    }
    const after = await storage.getMany('room', ['a', 'kept', 'b', 'c'])
    return { error, after: after.map((v: Uint8Array | undefined) => v == null ? null : [...v]) }
  })
  expect(result.error).toBe('DataCloneError')
  expect(result.after).toEqual([null, [1], null, null])
})

test('list yields exactly one room, in key order, across pages, and survives a reload', async () => {
  const context = await browser.newContext()
  const page = await openPage(context)
  const count = 2001 // not a multiple of the page: a full page, then a short one
  await page.evaluate(async (count) => {
    const storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'list' })
    // Written in reverse order, in batches, with neighbours on both sides of the room's range.
    const ops = Array.from({ length: count }, (_, i) => ({ roomId: 'room', keyId: `k${String(count - 1 - i).padStart(5, '0')}`, value: new Uint8Array([(count - 1 - i) & 255, (count - 1 - i) >> 8]) }))
    for (let i = 0; i < ops.length; i += 500) await storage.write(ops.slice(i, i + 500))
    await storage.write([
      { roomId: 'roo', keyId: 'zzz', value: new Uint8Array([0]) },
      { roomId: 'room2', keyId: 'a', value: new Uint8Array([0]) },
      { roomId: 'roomx', keyId: 'a', value: new Uint8Array([0]) }
    ])
  }, count)
  await page.reload()
  const listed = await page.evaluate(async () => {
    const out: Record<string, number[]> = {}
    for (const page of [1, 400, 667, 2001, 5000]) {
      const storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'list', listPage: page })
      const values: number[] = []
      for await (const value of storage.list('room')) values.push(value[0] + value[1] * 256)
      out[page] = values
    }
    return out
  })
  const expected = Array.from({ length: count }, (_, i) => i)
  for (const page of ['1', '400', '667', '2001', '5000']) expect(listed[page], `page of ${page}`).toEqual(expected)
  await context.close()
})

test('a resident room: a read called after a write sees it before the commit; the room is read from disk once', async () => {
  const page = await openPage()
  const result = await page.evaluate(async () => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const seed = idbRecordStorage({ database: 'resident' })
    await seed.write(Array.from({ length: 1500 }, (_, i) => ({ roomId: 'room', keyId: `k${i}`, value: new Uint8Array([i & 255]) })))
    await seed.close()
    const storage = idbRecordStorage({ database: 'resident' })
    // Not awaited: the read is called while the write commits.
    const writing = storage.write([{ roomId: 'room', keyId: 'k1', value: new Uint8Array([42]) }, { roomId: 'room', keyId: 'k2' }])
    const read = await storage.getMany('room', ['k0', 'k1', 'k2', 'k1499'])
    await writing
    // Disk has it too: a fresh instance (another tab) reads the room again.
    const fresh = idbRecordStorage({ database: 'resident' })
    let count = 0
    for await (const _ of fresh.list('room')) count++
    return { read: read.map((v: Uint8Array | undefined) => v == null ? null : [...v]), fromDisk: [...await fresh.get('room', 'k1')], count }
  })
  expect(result).toEqual({ read: [[0], [42], null, [1499 & 255]], fromDisk: [42], count: 1499 })
})

test('batches committed by the writer Worker: on disk for a fresh reader, deletes included, reads meanwhile from memory', async () => {
  const page = await openPage()
  const result = await page.evaluate(async (origin) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const writers = countedWorkers(`${origin}/writer.js`)
    const storage = idbRecordStorage({ database: 'worker', writerAfterBytes: 0, createWriter: writers.create })
    // Until the Worker has loaded, batches commit on this thread: wait, so these are the Worker's.
    const ready = await storage.writerReady()
    const writes = []
    for (let b = 0; b < 10; b++) writes.push(storage.write(Array.from({ length: 300 }, (_, i) => ({ roomId: 'room', keyId: `k${b * 300 + i}`, value: new Uint8Array([b, i & 255, 7]) }))))
    writes.push(storage.write([{ roomId: 'room', keyId: 'k5' }, { roomId: 'room', keyId: 'k6', value: new Uint8Array([42]) }]))
    const meanwhile = await storage.getMany('room', ['k5', 'k6', 'k2999'])
    const results = await Promise.all(writes)
    await storage.close()
    const fresh = idbRecordStorage({ database: 'worker' })
    let count = 0
    for await (const _ of fresh.list('room')) count++
    const read = await fresh.getMany('room', ['k0', 'k5', 'k6', 'k2999'])
    const show = (v: Uint8Array | undefined): number[] | null => v == null ? null : [...v]
    return { ready, posted: writers.posted, ok: results.every((r: any[]) => r.every(x => x.ok)), meanwhile: meanwhile.map(show), count, read: read.map(show) }
  }, ORIGIN)
  expect(result).toEqual({ ready: true, posted: 11, ok: true, meanwhile: [null, [42], [9, 299 & 255, 7]], count: 2999, read: [[0, 0, 7], null, [42], [9, 299 & 255, 7]] })
})

test('the writer Worker starts with the first batch of writerAfterBytes: batches commit on the main thread until it has loaded, in the Worker after', async () => {
  const page = await openPage()
  const result = await page.evaluate(async (origin) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const writers = countedWorkers(`${origin}/writer.js`)
    const storage = idbRecordStorage({ database: 'lazy', writerAfterBytes: 4096, createWriter: writers.create })
    await storage.write([{ roomId: 'room', keyId: 'a', value: new Uint8Array([1]) }])
    const afterSmall = writers.started
    // Starts the Worker, which cannot have loaded yet: this batch commits here.
    await storage.write(Array.from({ length: 100 }, (_, i) => ({ roomId: 'room', keyId: `k${i}`, value: new Uint8Array(64).fill(i) })))
    const postedBeforeReady = writers.posted
    const ready = await storage.writerReady()
    await storage.write([{ roomId: 'room', keyId: 'a', value: new Uint8Array([2]) }])
    await storage.close()
    const fresh = idbRecordStorage({ database: 'lazy' })
    let count = 0
    for await (const _ of fresh.list('room')) count++
    return { afterSmall, started: writers.started, postedBeforeReady, ready, posted: writers.posted, count, a: [...await fresh.get('room', 'a')], k7: [...await fresh.get('room', 'k7')].slice(0, 2) }
  }, ORIGIN)
  expect(result).toEqual({ afterSmall: 0, started: 1, postedBeforeReady: 0, ready: true, posted: 1, count: 101, a: [2], k7: [7, 7] })
})

test('batches written while the writer Worker loads, some committed here and some in it, land in the order they were written', async () => {
  const page = await openPage()
  const result = await page.evaluate(async (origin) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const writers = countedWorkers(`${origin}/writer.js`)
    const storage = idbRecordStorage({ database: 'switch', writerAfterBytes: 0, createWriter: writers.create })
    // A batch every few ms, none awaited, until some went to the Worker. The
    // first batch's commit starts it, and it cannot be ready within that same
    // task: the first ones commit on this thread, the rest in the Worker.
    const writes = []
    let n = 0
    for (; n < 400 && writers.posted < 5; n++) {
      writes.push(storage.write([{ roomId: 'room', keyId: 'last', value: new Uint8Array([n >> 8, n & 255]) }, { roomId: 'room', keyId: `k${n}`, value: new Uint8Array([1]) }]))
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    await Promise.all(writes)
    const ready = await storage.writerReady()
    await storage.close()
    const fresh = idbRecordStorage({ database: 'switch' })
    const last = [...await fresh.get('room', 'last')]
    let count = 0
    for await (const _ of fresh.list('room')) count++
    return { ready, n, posted: writers.posted, last: (last[0] << 8) + last[1], count }
  }, ORIGIN)
  expect(result.ready).toBe(true)
  expect(result.posted).toBeGreaterThan(0)
  expect(result.posted).toBeLessThan(result.n)
  expect(result.last).toBe(result.n - 1)
  expect(result.count).toBe(result.n + 1)
})

test('a writer Worker that fails: its batches are refused, memory reads them again from disk, later batches commit on the main thread', async () => {
  const page = await openPage()
  const result = await page.evaluate(async (origin) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const seed = idbRecordStorage({ database: 'broken' })
    await seed.write([{ roomId: 'room', keyId: 'a', value: new Uint8Array([1]) }])
    await seed.close()
    const storage = idbRecordStorage({ database: 'broken', writerAfterBytes: 0, createWriter: () => new Worker(`${origin}/broken.js`) })
    await storage.writerReady()
    let error = ''
    try {
      await storage.write([{ roomId: 'room', keyId: 'a', value: new Uint8Array([2]) }])
    } catch (err: any) {
      error = err.message
    }
    const after = [...await storage.get('room', 'a')]
    await storage.write([{ roomId: 'room', keyId: 'a', value: new Uint8Array([3]) }])
    const fresh = idbRecordStorage({ database: 'broken' })
    return { error, after, disk: [...await fresh.get('room', 'a')] }
  }, ORIGIN)
  expect(result.error).toMatch(/IndexedDB writer failed/)
  expect(result.after).toEqual([1])
  expect(result.disk).toEqual([3])
})

test('another tab writing the same room: its keys are read again, not served stale from memory', async () => {
  const context = await browser.newContext()
  const [a, b] = [await openPage(context), await openPage(context)]
  const open = async (page: Page): Promise<void> => page.evaluate(async () => {
    const storage = (globalThis as any).__storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'shared' })
    await storage.getMany('room', ['k']) // resident from here on
  })
  await open(a)
  await open(b)
  await a.evaluate(async () => { await (globalThis as any).__storage.write([{ roomId: 'room', keyId: 'k', value: new Uint8Array([1]) }]) })
  await expect.poll(() => b.evaluate(async () => [...(await (globalThis as any).__storage.get('room', 'k')) ?? []])).toEqual([1])
  await b.evaluate(async () => { await (globalThis as any).__storage.write([{ roomId: 'room', keyId: 'k', value: new Uint8Array([2]) }, { roomId: 'room', keyId: 'j', value: new Uint8Array([3]) }]) })
  await expect.poll(() => a.evaluate(async () => {
    const values: number[] = []
    for await (const v of (globalThis as any).__storage.list('room')) values.push(...v)
    return values.sort()
  })).toEqual([2, 3])
  await context.close()
})

test('a room larger than maxResidentBytes stays on disk and still reads, writes and lists', async () => {
  const page = await openPage()
  const result = await page.evaluate(async () => {
    const storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'small', maxResidentBytes: 20_000, listPage: 100 })
    await storage.write(Array.from({ length: 300 }, (_, i) => ({ roomId: 'room', keyId: `k${String(i).padStart(3, '0')}`, value: new Uint8Array(64).fill(i & 255) })))
    // A new instance finds the room too big while loading it.
    const big = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'small', maxResidentBytes: 20_000, listPage: 100 })
    await big.write([{ roomId: 'room', keyId: 'k000' }])
    const read = await big.getMany('room', ['k000', 'k001', 'k299'])
    let count = 0
    for await (const _ of big.list('room')) count++
    // The resident instance is told its log was unfolded: it reads the room again.
    let resident = await storage.get('room', 'k000')
    for (let i = 0; i < 50 && resident != null; i++) {
      await new Promise(resolve => setTimeout(resolve, 20))
      resident = await storage.get('room', 'k000')
    }
    // Its next append is a segment again: the per-disk instance unfolds it before reading.
    await storage.write([{ roomId: 'room', keyId: 'k001', value: new Uint8Array([77]) }])
    const after = await big.getMany('room', ['k000', 'k001', 'k002'])
    return { read: read.map((v: Uint8Array | undefined) => v?.[0] ?? null), count, resident: resident ?? null, after: after.map((v: Uint8Array | undefined) => v?.[0] ?? null) }
  })
  expect(result).toEqual({ read: [null, 1, 299 & 255], count: 299, resident: null, after: [null, 77, 2] })
})

/** Every entry of the database's store, as [key, value length], by idb-keyval's own requests (inside page.evaluate). */
const ENTRIES = `async (database) => {
  const db = await new Promise((resolve, reject) => { const r = indexedDB.open(database); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error) })
  const s = db.transaction('records').objectStore('records')
  const keys = await new Promise(resolve => { const r = s.getAllKeys(); r.onsuccess = () => resolve(r.result) })
  db.close()
  return keys.map(k => JSON.stringify(k))
}`

test('many batches: one entry each, reopened with exactly the last values', async () => {
  const page = await openPage()
  const result = await page.evaluate(async (entries) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const storage = idbRecordStorage({ database: 'log' })
    // 50 batches over 200 keys: each key rewritten, some deleted.
    for (let b = 0; b < 50; b++) {
      await storage.write(Array.from({ length: 40 }, (_, i) => {
        const k = (b * 40 + i * 7) % 200
        return (b + i) % 11 === 0 ? { roomId: 'room', keyId: `k${k}` } : { roomId: 'room', keyId: `k${k}`, value: new Uint8Array([b, i]) }
      }))
    }
    const memory = await storage.getMany('room', Array.from({ length: 200 }, (_, k) => `k${k}`))
    await storage.close()
    const keys: string[] = await (0, eval)(entries)('log')
    const fresh = idbRecordStorage({ database: 'log' })
    const disk = await fresh.getMany('room', Array.from({ length: 200 }, (_, k) => `k${k}`))
    const show = (v: Uint8Array | undefined): number[] | null => v == null ? null : [...v]
    return { memory: memory.map(show), disk: disk.map(show), entries: keys.length }
  }, ENTRIES)
  expect(result.disk).toEqual(result.memory)
  expect(result.memory.filter((v: unknown) => v == null).length).toBeGreaterThan(0)
  expect(result.entries).toBe(50)
})

test('compaction: the log becomes one segment past twice the live bytes, every live value kept, per-key entries folded in', async () => {
  const page = await openPage()
  const result = await page.evaluate(async ({ entries, origin }) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    // Entries of the previous version, one per key, written directly.
    const db: IDBDatabase = await new Promise((resolve, reject) => {
      const r = indexedDB.open('compact')
      r.onupgradeneeded = () => r.result.createObjectStore('records')
      r.onsuccess = () => resolve(r.result)
      r.onerror = () => reject(r.error)
    })
    await new Promise((resolve, reject) => {
      const tx = db.transaction('records', 'readwrite')
      for (let k = 0; k < 100; k++) tx.objectStore('records').put(new Uint8Array(100).fill(k), ['room', `k${String(k).padStart(3, '0')}`])
      tx.objectStore('records').put(new Uint8Array([1]), ['other', 'k000'])
      tx.oncomplete = resolve
      tx.onerror = () => reject(tx.error)
    })
    db.close()
    const before: string[] = await (0, eval)(entries)('compact')
    const show = (v: Uint8Array | undefined): number[] | null => v == null ? null : [v[0], v.length]
    const keys = Array.from({ length: 120 }, (_, k) => `k${String(k).padStart(3, '0')}`)
    const storage = idbRecordStorage({ database: 'compact', compactMinBytes: 20_000, writerAfterBytes: 0, createWriter: () => new Worker(`${origin}/writer.js`) })
    const legacy = (await storage.getMany('room', keys)).map(show)
    // Newer segments override per-key entries: k000-k019 rewritten, k020-k029 deleted, k100-k119 new.
    await storage.write([...keys.slice(0, 20).map(keyId => ({ roomId: 'room', keyId, value: new Uint8Array(100).fill(200) })), ...keys.slice(20, 30).map(keyId => ({ roomId: 'room', keyId }))])
    await storage.write(keys.slice(100).map(keyId => ({ roomId: 'room', keyId, value: new Uint8Array(100).fill(201) })))
    const mid: string[] = await (0, eval)(entries)('compact')
    const overridden = (await idbRecordStorage({ database: 'compact' }).getMany('room', keys)).map(show)
    // Rewrite k030-k039 until the log is past twice the live bytes.
    for (let b = 0; b < 40; b++) await storage.write(keys.slice(30, 40).map(keyId => ({ roomId: 'room', keyId, value: new Uint8Array(100).fill(b) })))
    const live = (await storage.getMany('room', keys)).map(show)
    await storage.close()
    const after: string[] = await (0, eval)(entries)('compact')
    const fresh = idbRecordStorage({ database: 'compact' })
    const reopened = (await fresh.getMany('room', keys)).map(show)
    let listed = 0
    for await (const _ of fresh.list('room')) listed++
    return { before: before.length, legacy, mid: mid.length, overridden, live, after, reopened, listed, other: [...await fresh.get('other', 'k000')] }
  }, { entries: ENTRIES, origin: ORIGIN })
  const expected = Array.from({ length: 120 }, (_, k) => k < 20 ? [200, 100] : k < 30 ? null : k < 40 ? [39, 100] : k < 100 ? [k, 100] : [201, 100])
  expect(result.before).toBe(101)
  expect(result.legacy).toEqual(Array.from({ length: 120 }, (_, k) => k < 100 ? [k, 100] : null))
  expect(result.mid).toBe(103)
  expect(result.overridden).toEqual(expected.map((v, k) => k >= 30 && k < 40 ? [k, 100] : v))
  expect(result.live).toEqual(expected)
  expect(result.reopened).toEqual(expected)
  expect(result.listed).toBe(110)
  // Compacted: the per-key entries folded in and gone, a few segments left (the base and what came after it).
  expect(result.after.filter(k => k.startsWith('["room","'))).toEqual([])
  // Without compaction: 100 per-key entries + 42 segments; with it, the base and the batches since (~1.2 KB each, under 2x ~12 KB live).
  expect(result.after.length).toBeLessThan(20)
  expect(result.after).toContain('["other","k000"]')
  expect(result.other).toEqual([1])
})

test('two tabs appending to one room see each other after the message and after a reopen', async () => {
  const context = await browser.newContext()
  const [a, b] = [await openPage(context), await openPage(context)]
  const open = async (page: Page): Promise<void> => page.evaluate(async (origin) => {
    const storage = (globalThis as any).__storage = (globalThis as any).__idbStorage.idbRecordStorage({ database: 'tabs', compactMinBytes: 2000, writerAfterBytes: 0, createWriter: () => new Worker(`${origin}/writer.js`) })
    await storage.getMany('room', ['k'])
  }, ORIGIN)
  await open(a)
  await open(b)
  // Both append at once, many batches each, some keys shared: seqs must not collide.
  const append = async (page: Page, tab: number): Promise<void> => page.evaluate(async (tab) => {
    const storage = (globalThis as any).__storage
    await Promise.all(Array.from({ length: 30 }, async (_, n) => storage.write([
      { roomId: 'room', keyId: `t${tab}-${n}`, value: new Uint8Array(50).fill(n) },
      { roomId: 'room', keyId: `shared${n % 3}`, value: new Uint8Array([tab, n]) }
    ])))
  }, tab)
  await Promise.all([append(a, 1), append(b, 2)])
  const view = async (page: Page, fresh: boolean): Promise<string[]> => page.evaluate(async (fresh) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const storage = fresh ? idbRecordStorage({ database: 'tabs' }) : (globalThis as any).__storage
    const keys = [...Array.from({ length: 30 }, (_, n) => `t1-${n}`), ...Array.from({ length: 30 }, (_, n) => `t2-${n}`)]
    const values = await storage.getMany('room', keys)
    const out = keys.map((k, i) => `${k}=${values[i]?.[0] ?? 'none'}`)
    for await (const v of storage.list('room')) out.push(String(v.length))
    return out
  }, fresh)
  // Listed in key order: shared0-2 sort first.
  const expected = [...Array.from({ length: 30 }, (_, n) => `t1-${n}=${n}`), ...Array.from({ length: 30 }, (_, n) => `t2-${n}=${n}`), '2', '2', '2', ...Array.from({ length: 60 }, () => '50')]
  await expect.poll(() => view(a, false)).toEqual(expected)
  await expect.poll(() => view(b, false)).toEqual(expected)
  expect(await view(a, true)).toEqual(expected)
  // The shared keys: both tabs and a fresh reader agree on the last commit.
  const shared = async (page: Page, fresh: boolean): Promise<number[][]> => page.evaluate(async (fresh) => {
    const { idbRecordStorage } = (globalThis as any).__idbStorage
    const storage = fresh ? idbRecordStorage({ database: 'tabs' }) : (globalThis as any).__storage
    return (await storage.getMany('room', ['shared0', 'shared1', 'shared2'])).map((v: Uint8Array) => [...v])
  }, fresh)
  const disk = await shared(a, true)
  await expect.poll(() => shared(a, false)).toEqual(disk)
  await expect.poll(() => shared(b, false)).toEqual(disk)
  // A tab's next write after the other's: seen by the other after the message.
  await b.evaluate(async () => { await (globalThis as any).__storage.write([{ roomId: 'room', keyId: 't1-0', value: new Uint8Array([99]) }]) })
  await expect.poll(() => a.evaluate(async () => [...await (globalThis as any).__storage.get('room', 't1-0')])).toEqual([99])
  await context.close()
})

test('the room page shows 2,000 keys as they are written, without listing the room again, and after a reload', async () => {
  const relay = await startRelayProcess()
  const page = await (await browser.newContext()).newPage()
  await createRoom(page, relay.url)
  await joined(page)
  await expect.poll(() => page.getByRole('status').filter({ hasText: /^Opening the room/ }).count(), { timeout: 30_000 }).toBe(0)
  // Count lists from here on; stop the network so writes are local only (fast).
  await page.evaluate(async () => {
    const roomkv = (globalThis as any).__roomkv
    const list = roomkv.session.list.bind(roomkv.session)
    ;(globalThis as any).__lists = 0
    roomkv.session.list = async (...args: unknown[]) => { (globalThis as any).__lists++; return list(...args) }
    await roomkv.node.stop()
  })
  const count = 2000
  await page.evaluate(async (count) => {
    const session = (globalThis as any).__roomkv.session
    const keys = Array.from({ length: count }, (_, i) => `k${String(i).padStart(4, '0')}`).reverse()
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map(async key => session.put(key, `v${key}`)))
    // Deletions remove rows; a rewrite replaces one.
    for (let i = 0; i < 100; i += 20) await Promise.all(keys.slice(count - 100 + i, count - 80 + i).map(async key => session.delete(key)))
    await session.put('k0500', 'rewritten')
  }, count)
  const expected = Array.from({ length: count - 100 }, (_, i) => `k${String(i + 100).padStart(4, '0')}`)

  // The list is virtual: read it the way a person does, by filtering and scrolling.
  const heading = page.getByRole('heading', { name: /^Keys/ })
  const list = page.getByRole('list', { name: 'Keys' })
  const filter = page.getByRole('searchbox', { name: 'Filter keys by prefix' })
  const shownKeys = async (): Promise<string[]> => list.getByRole('listitem').evaluateAll(items => items.map(item => item.getAttribute('aria-label') ?? ''))
  const checkRows = async (): Promise<void> => {
    await expect.poll(() => heading.textContent(), { timeout: 60_000, interval: 500 }).toContain(`${(count - 100).toLocaleString('en')} keys`)
    await filter.fill('')
    await list.evaluate(el => { el.scrollTop = 0 })
    await expect.poll(async () => (await shownKeys()).slice(0, 3)).toEqual(expected.slice(0, 3))
    await list.evaluate(el => { el.scrollTop = el.scrollHeight })
    await expect.poll(async () => (await shownKeys()).slice(-3)).toEqual(expected.slice(-3))
    await filter.fill('k00')
    await expect.poll(() => heading.textContent()).toMatch(/^Keys\s*0 keys of/)
    await filter.fill('k050')
    await expect.poll(() => heading.textContent()).toMatch(/^Keys\s*10 keys of/)
    await list.evaluate(el => { el.scrollTop = 0 })
    await expect.poll(async () => (await shownKeys()).slice(0, 2)).toEqual(['k0500', 'k0501'])
    expect((await shownKeys()).every(k => k.startsWith('k050'))).toBe(true)
    await expect.poll(() => rowValue(page, 'k0500').textContent(), { timeout: 10_000 }).toBe('rewritten')
    expect(await rowValue(page, 'k0501').textContent()).toBe('vk0501')
    await filter.fill('k1999')
    await expect.poll(() => rowValue(page, 'k1999').textContent()).toBe('vk1999')
  }
  await checkRows()
  expect(await page.evaluate(() => (globalThis as any).__lists)).toBe(0)

  await page.reload()
  await joined(page)
  await checkRows()
  const listed = await page.evaluate(async () => (await (globalThis as any).__roomkv.session.list()).map((e: any) => `${e.key}=${e.value}`))
  expect(listed).toEqual(expected.map(key => `${key}=${key === 'k0500' ? 'rewritten' : `v${key}`}`))
  await page.context().close()
  await relay.stop()
})
