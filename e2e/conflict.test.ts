/**
 * Offline edits and conflicts between two real tabs. "Offline" = the tab's
 * libp2p node is stopped (no relay, no WebRTC); writes then go to IndexedDB
 * only, and the reload brings the tab back online with them.
 */
import { expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { useRelayAndBrowser } from './harness.ts'

const env = useRelayAndBrowser()

const directPeers = async (page: Page): Promise<number> => Number(await page.getByTestId('peers-direct').textContent({ timeout: 30_000 }))
const value = (page: Page, key: string) => page.locator(`tr[data-key="${key}"] td.value`)
const conflicts = (page: Page, key: string) => page.locator(`tr[data-conflict-for="${key}"] td.conflict-value`)

async function put (page: Page, key: string, text: string): Promise<void> {
  await page.getByTestId('key').fill(key)
  await page.getByTestId('value').fill(text)
  await page.getByTestId('put').click()
}

async function goOffline (page: Page): Promise<void> {
  await page.evaluate(async () => { await (globalThis as any).__roomkv.node.stop() })
}

async function twoTabs (): Promise<[Page, Page]> {
  const a = await (await env.browser.newContext()).newPage()
  const b = await (await env.browser.newContext()).newPage()
  await a.goto(env.relay.url)
  await a.getByTestId('create-room').click()
  await b.goto(await a.getByTestId('room-link').inputValue())
  for (const page of [a, b]) await expect.poll(() => directPeers(page), { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(1)
  return [a, b]
}

test('edits made offline are kept and reach the other tab after reconnecting', async () => {
  const [a, b] = await twoTabs()
  await goOffline(b)
  await put(b, 'offline-edit', 'written offline')
  await expect.poll(() => b.getByTestId('notice').textContent()).toMatch(/this device only/)
  await expect.poll(() => value(b, 'offline-edit').textContent()).toBe('written offline')
  expect(await value(a, 'offline-edit').count()).toBe(0)

  await b.reload() // back online with what IndexedDB kept
  await expect.poll(() => value(a, 'offline-edit').textContent(), { timeout: 60_000 }).toBe('written offline')
})

test('concurrent writes to one key show the same winner and the conflict on both tabs, until resolved', async () => {
  const [a, b] = await twoTabs()
  await goOffline(a)
  await put(a, 'colour', 'red from A')
  await put(b, 'colour', 'blue from B')
  await expect.poll(() => value(a, 'colour').textContent()).toBe('red from A')
  await a.reload()

  for (const page of [a, b]) {
    await expect.poll(() => conflicts(page, 'colour').count(), { timeout: 60_000 }).toBe(1)
  }
  const winnerA = await value(a, 'colour').textContent()
  const winnerB = await value(b, 'colour').textContent()
  expect(winnerA).toBe(winnerB)
  expect(['red from A', 'blue from B']).toContain(winnerA)
  const loser = winnerA === 'red from A' ? 'blue from B' : 'red from A'
  expect(await conflicts(a, 'colour').textContent()).toBe(loser)
  expect(await conflicts(b, 'colour').textContent()).toBe(loser)

  await put(b, 'colour', 'green, agreed')
  for (const page of [a, b]) {
    await expect.poll(() => value(page, 'colour').textContent(), { timeout: 30_000 }).toBe('green, agreed')
    await expect.poll(() => conflicts(page, 'colour').count()).toBe(0)
  }
})
