/**
 * Drives the room page the way a person does: by roles and labels. Shared
 * by the end-to-end tests that use the UI; reads go through the visible
 * page, except where a test needs the stored truth (`stored`).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { Locator, Page } from 'playwright-core'

export type Kind = 'Text' | 'Number' | 'True / false' | 'JSON'

/** Open the start page and create a room; returns the room link. */
export async function createRoom (page: Page, url: string, name = ''): Promise<string> {
  await page.goto(url)
  if (name !== '') await page.getByLabel('Room name').fill(name)
  await page.getByRole('button', { name: 'Create room' }).click()
  const link = page.getByRole('textbox', { name: 'Room link' })
  await expect.poll(() => link.inputValue(), { timeout: 15_000 }).toMatch(/#v1\./)
  return link.inputValue()
}

/** Wait until the tab has joined (the client the tests reach through `__roomkv`). */
export async function joined (page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(() => (globalThis as any).__roomkv != null), { timeout: 30_000 }).toBe(true)
}

/**
 * Wait until the app shell is cached for offline use: the service worker
 * (registered once the page is idle) is active and has the shell. A page
 * reloaded or opened with the relay gone needs it.
 */
export async function shellCached (page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration()
    return registration?.active?.state ?? 'none'
  }), { timeout: 30_000 }).toBe('activated')
  await expect.poll(() => page.evaluate(async () => (await caches.keys()).length > 0 && (await (await caches.open('roomkv-shell-v1')).keys()).length >= 3), { timeout: 15_000 }).toBe(true)
}

/** The key editor form ("Add a key", or "Edit …" with a row loaded). */
export const editor = (page: Page): Locator => page.getByRole('form', { name: /^(Add a key|Edit ")/ })

/** Fill the editor and save. */
export async function put (page: Page, key: string, text: string, kind: Kind = 'Text', ttlSeconds?: number): Promise<void> {
  const form = editor(page)
  await form.getByLabel('Key', { exact: true }).fill(key)
  await form.getByLabel('Type').selectOption({ label: kind })
  const value = form.getByLabel('Value', { exact: true })
  if (kind === 'True / false') await value.selectOption(text)
  else await value.fill(text)
  await form.getByLabel('Expires after').fill(ttlSeconds == null ? '' : String(ttlSeconds))
  await form.getByRole('button', { name: 'Save' }).click()
}

export const row = (page: Page, key: string): Locator => page.getByRole('listitem', { name: key, exact: true })
export const rowValue = (page: Page, key: string): Locator => row(page, key).getByTestId('value')

/** Text of every live status region (write progress, copy result, connection line). */
export async function statuses (page: Page): Promise<string> {
  return (await page.getByRole('status').allTextContents()).join(' | ')
}

export async function alerts (page: Page): Promise<string> {
  return (await page.getByRole('alert').allTextContents()).join(' | ').trim()
}

/** Direct (WebRTC) room members of this tab, from the SDK status. */
export async function directPeers (page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as any).__roomkv?.session.status().direct ?? 0)
}

export async function waitForDirectPeer (page: Page): Promise<void> {
  await expect.poll(() => directPeers(page), { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(1)
}

/** The stored truth of a key in this tab: value, deletion, conflicts. */
export async function stored (page: Page, key: string): Promise<{ value: unknown, deleted: boolean, conflicts: number } | null> {
  return page.evaluate(async (k) => {
    const e = await (globalThis as any).__roomkv.session.get(k)
    return e == null ? null : { value: e.value, deleted: e.deleted, conflicts: e.conflicts.length }
  }, key)
}

/** Stop the tab's libp2p node: writes then stay in IndexedDB until a reload. */
export async function goOffline (page: Page): Promise<void> {
  await page.evaluate(async () => { await (globalThis as any).__roomkv.node.stop() })
}

/** The page is never wider than its viewport (nothing overflows horizontally). */
export async function horizontalOverflow (page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
}

export const SCREENSHOT_DIR = join('e2e', 'screenshots')

const VIEWS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 }
] as const

/**
 * Screenshots of the page as it is now at 1280x800 and 390x844, light and
 * dark, into e2e/screenshots/<name>-<view>-<scheme>.png (gitignored). Each
 * view is also checked for horizontal overflow. The viewport is restored.
 */
export async function screenshots (page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true })
  const before = page.viewportSize()
  for (const view of VIEWS) {
    await page.setViewportSize({ width: view.width, height: view.height })
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      await page.evaluate(() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve))))
      expect(await horizontalOverflow(page), `${name} ${view.name} ${scheme} overflows`).toBeLessThanOrEqual(0)
      await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-${view.name}-${scheme}.png`) })
    }
  }
  await page.emulateMedia({ colorScheme: null })
  if (before != null) await page.setViewportSize(before)
}
