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

test('"Keep this" writes exactly the chosen version: an object stays an object, a deletion stays a deletion', async () => {
  const [a, b] = await twoTabs()
  const sessionPut = async (page: Page, key: string, v: unknown): Promise<void> => {
    await page.evaluate(async ([k, val]) => { await (globalThis as any).__roomkv.session.put(k, val) }, [key, v] as const)
  }
  const sessionDelete = async (page: Page, key: string): Promise<void> => {
    await page.evaluate(async (k) => { await (globalThis as any).__roomkv.session.delete(k) }, key)
  }
  const stored = async (page: Page, key: string): Promise<unknown> =>
    page.evaluate(async (k) => { const e = await (globalThis as any).__roomkv.session.get(k); return e == null ? null : { value: e.value, deleted: e.deleted, conflicts: e.conflicts.length } }, key)

  // Two concurrent versions: an object on A (offline), a number on B.
  await sessionPut(a, 'shape', 1)
  await sessionPut(b, 'gone', 'here')
  for (const page of [a, b]) await expect.poll(() => stored(page, 'gone'), { timeout: 30_000 }).toMatchObject({ value: 'here' })
  await goOffline(a)
  await sessionPut(a, 'shape', { sides: 4 })
  await sessionPut(b, 'shape', 3)
  await sessionDelete(a, 'gone')
  await sessionPut(b, 'gone', 'still here')
  await a.reload()
  for (const key of ['shape', 'gone']) await expect.poll(() => conflicts(b, key).count(), { timeout: 60_000 }).toBe(1)

  // Keep every losing version (whichever it is) and check what was written.
  const before = { shape: await stored(b, 'shape') as any, gone: await stored(b, 'gone') as any }
  for (const key of ['shape', 'gone']) {
    await b.locator(`tr[data-conflict-for="${key}"] button`).click()
    await expect.poll(() => conflicts(b, key).count(), { timeout: 30_000 }).toBe(0)
  }
  const shape = await stored(b, 'shape') as any
  const expectedShape = typeof before.shape.value === 'number' ? { sides: 4 } : 3
  expect(shape).toEqual({ value: expectedShape, deleted: false, conflicts: 0 })
  const gone = await stored(b, 'gone')
  // The loser of "gone" was either the deletion (then the key is gone) or "still here".
  if (before.gone?.value === 'still here') expect(gone).toBeNull()
  else expect(gone).toEqual({ value: 'still here', deleted: false, conflicts: 0 })
})
