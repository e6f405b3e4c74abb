/**
 * Tabs for the benchmark: every tab gets its own browser context (own
 * IndexedDB, own writer id, no BroadcastChannel shortcut between tabs) and
 * the probe from bench/probe.js, installed before the app's scripts run.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'

const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url))

export interface Tab {
  name: string
  context: BrowserContext
  page: Page
  /** Uncaught page errors, for diagnostics when a step times out. */
  errors: string[]
  close(): Promise<void>
}

/** `initScript`: JavaScript run before the probe (e.g. settings the probe reads). */
export async function openTab (browser: Browser, name: string, url: string, initScript?: string): Promise<Tab> {
  const context = await browser.newContext()
  if (initScript != null) await context.addInitScript({ content: initScript })
  await context.addInitScript({ path: PROBE })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => { errors.push(err.message) })
  // 'commit': return as soon as navigation starts; the bench waits on its own probes.
  await page.goto(url, { waitUntil: 'commit' })
  return { name, context, page, errors, close: async () => { await context.close().catch(() => {}) } }
}

/** A fresh room on this relay: `<relayUrl>/#v1.<base64url of 32 random bytes>`. */
export function newRoomLink (relayUrl: string): string {
  return `${relayUrl.replace(/\/+$/, '')}/#v1.${randomBytes(32).toString('base64url')}`
}

/** Wait until a probe field is set; fails with the tab's status after `timeout` ms. */
export async function waitForProbe (tab: Tab, field: 'joinedAt' | 'relayAt' | 'firstDirectAt' | 'announcedAt' | 'listFullAt', timeout: number): Promise<number> {
  try {
    const handle = await tab.page.waitForFunction((f) => (globalThis as any).__bench?.[f], field, { timeout, polling: 20 })
    return await handle.jsonValue() as number
  } catch (err: any) {
    throw new Error(`${tab.name}: no ${field} after ${timeout} ms (${err.message.split('\n')[0]}); status: ${await describe(tab)}`)
  }
}

/** The tab's room status (or why it has none), for error messages. */
export async function describe (tab: Tab): Promise<string> {
  try {
    const status = await withTimeout(tab.page.evaluate(() => {
      const client = (globalThis as any).__roomkv
      return client == null ? 'not joined' : JSON.stringify(client.status())
    }), 2000, 'status')
    return `${status}${tab.errors.length > 0 ? `; page errors: ${tab.errors.join(' | ')}` : ''}`
  } catch (err: any) {
    return `unavailable (${err.message})`
  }
}

export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
