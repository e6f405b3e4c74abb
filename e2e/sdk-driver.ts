/**
 * Driving a tab through its room client (`globalThis.__roomkv`) rather than
 * the page's controls: for tests about the network (healing, federation),
 * where the UI is not what is under test.
 */
import type { Browser, Page } from 'playwright-core'

/** A page in a fresh browser context (its own IndexedDB), opened on `url` and joined. */
export async function openSdkTab (browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage()
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as any).__roomkv != null, null, { timeout: 30_000 })
  return page
}

export async function sdkPut (page: Page, key: string, value: string): Promise<void> {
  await page.evaluate(async ([k, v]) => { await (globalThis as any).__roomkv.session.put(k, v) }, [key, value])
}

/** The room's keys as the tab lists them, sorted. */
export async function sdkKeys (page: Page): Promise<string[]> {
  return await page.evaluate(async () => ((await (globalThis as any).__roomkv.session.list()) as Array<{ key: string }>).map(e => e.key).sort())
}
