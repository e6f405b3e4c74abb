/**
 * The key list of a big room under a user's hands (issue 11: "10,000-key
 * room filters and scrolls, frame p95 < 50 ms"): a relay holds a room of
 * `keys` records; a fresh tab opens the link and, once the list shows every
 * key, the bench scrolls the virtual list from top to bottom with the mouse
 * wheel, then types a prefix into the filter, while the page records the
 * time between animation frames (requestAnimationFrame) and long tasks.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { startRelayProcess, type RelayProcess } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { sealManyAsync, seedRelayDataDir } from './seed.ts'
import { percentile, round } from './stats.ts'

export interface ListScrollResult {
  keys: number
  method: string
  /** Navigation start -> the list's count says every key is there (ms). */
  listedMs?: number
  scroll?: FrameStats
  /** How far the scroll gesture moved the list (px), to show it really scrolled. */
  scrolledPx?: number
  filter?: FrameStats
  error?: string
}

export interface FrameStats {
  frames: number
  p50: number
  p95: number
  max: number
  /** Main-thread tasks over 50 ms seen by a PerformanceObserver meanwhile. */
  longTasks: number
  /** ms the whole gesture took. */
  ms: number
}

const FRAME_RECORDER = `(() => {
  const rec = { deltas: [], longTasks: 0, on: false, last: 0 }
  globalThis.__frames = rec
  try { new PerformanceObserver((list) => { if (rec.on) rec.longTasks += list.getEntries().length }).observe({ type: 'longtask', buffered: false }) } catch {}
  const tick = (t) => { if (rec.on && rec.last > 0) rec.deltas.push(t - rec.last); rec.last = t; requestAnimationFrame(tick) }
  requestAnimationFrame(tick)
})()`

export async function listScroll (browser: Browser, keys: number, log: (line: string) => void): Promise<ListScrollResult> {
  const result: ListScrollResult = {
    keys,
    method: `a relay holds one room of ${keys} keys; a fresh 1280x800 tab opens the link; once the Keys count shows ${keys}: 40 mouse-wheel steps of 2,000 px with 50 ms between them over the virtual list, then typing "item/0001" into the prefix filter one character per 100 ms; frame time = delta between requestAnimationFrame callbacks during each gesture; long tasks from PerformanceObserver('longtask')`
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'roomkv-bench-list-'))
  let relay: RelayProcess | undefined
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  try {
    const secret = newRoomSecret()
    await seedRelayDataDir(dataDir, await sealManyAsync(deriveRoomKeys(secret), keys, 'item/'))
    relay = await startRelayProcess({ dataDir })
    const page = await context.newPage()
    await page.addInitScript(FRAME_RECORDER)
    await page.goto(formatRoomLink(relay.url, secret))
    const count = keys.toLocaleString('en')
    await page.locator('#keys-title .count').filter({ hasText: new RegExp(`^${count} keys$`) }).waitFor({ timeout: 120_000 })
    result.listedMs = round(await page.evaluate(() => performance.now()))
    const list = page.getByRole('list', { name: 'Keys' })
    const box = await list.boundingBox()
    if (box == null) throw new Error('key list not visible')
    await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 200))
    const gesture = async (run: () => Promise<void>): Promise<FrameStats> => {
      await page.evaluate(() => { const r = (globalThis as any).__frames; r.deltas = []; r.longTasks = 0; r.last = 0; r.on = true })
      const t0 = performance.now()
      await run()
      await page.waitForTimeout(300) // the frames the last step caused
      const { deltas, longTasks } = await page.evaluate(() => { const r = (globalThis as any).__frames; r.on = false; return { deltas: r.deltas as number[], longTasks: r.longTasks as number } })
      const sorted = deltas.slice().sort((a, b) => a - b)
      return { frames: deltas.length, p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted.at(-1) ?? Number.NaN), longTasks, ms: round(performance.now() - t0) }
    }
    result.scroll = await gesture(async () => {
      for (let i = 0; i < 40; i++) { await page.mouse.wheel(0, 2000); await page.waitForTimeout(50) }
    })
    result.scrolledPx = round(await list.evaluate((el) => el.scrollTop))
    log(`list scroll: ${JSON.stringify(result.scroll)}, scrolled ${result.scrolledPx} px`)
    const filter = page.getByRole('searchbox', { name: 'Filter keys by prefix' })
    result.filter = await gesture(async () => { await filter.pressSequentially('item/0001', { delay: 100 }) })
    log(`list filter: ${JSON.stringify(result.filter)}`)
  } catch (err: any) {
    result.error = err.message
    log(`list scroll failed: ${err.message}`)
  } finally {
    await context.close()
    await relay?.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
  return result
}
