/**
 * A tab joins a room of 10,000 keys that a Node peer wrote through the
 * relay: the catch-up arrives over sync (records checked in the tab's
 * Workers, stored in a resident room, committed by the writer Worker),
 * every key is listed, the list stays virtual and scrolls to the end, and a
 * reload opens the room from IndexedDB with every key.
 */
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { openRoom } from '../cli/node-peer.ts'
import type { RoomClient } from '../shared/room-client.ts'
import { formatRoomLink } from '../shared/link.ts'
import { newRoomSecret } from '../shared/room-keys.ts'
import { launchBrowser, startRelayProcess, stopAll, type RelayProcess } from './harness.ts'
import { joined, rowValue, shellCached } from './ui-driver.ts'

const COUNT = 10_000
let browser: Browser
let relay: RelayProcess
let writer: RoomClient | undefined

beforeAll(async () => {
  relay = await startRelayProcess()
  browser = await launchBrowser()
})
afterAll(async () => {
  await writer?.close()
  await stopAll()
})

test('a tab joins a 10,000-key room: every key listed, the list scrolls to the end, and a reload still has them', async () => {
  const link = formatRoomLink(relay.url, newRoomSecret())
  writer = await openRoom(link)
  const keys = Array.from({ length: COUNT }, (_, i) => `item/${String(i).padStart(5, '0')}`)
  for (let i = 0; i < keys.length; i += 500) await Promise.all(keys.slice(i, i + 500).map(async (key, j) => writer!.session.put(key, { i: i + j })))
  // Every record acknowledged by the relay before the tab opens the link.
  await expect.poll(() => writer!.session.status().outbox, { timeout: 60_000, interval: 200 }).toBe(0)
  await writer.close()
  writer = undefined

  const page = await (await browser.newContext()).newPage()
  await page.goto(link)
  await joined(page)
  const heading = page.getByRole('heading', { name: /^Keys/ })
  await expect.poll(() => heading.textContent(), { timeout: 120_000, interval: 500 }).toContain('10,000 keys')
  const list = page.getByRole('list', { name: 'Keys' })
  expect(await list.getByRole('listitem').count()).toBeLessThan(100) // virtual: only what is on screen
  await list.evaluate(el => { el.scrollTop = el.scrollHeight })
  await expect.poll(() => rowValue(page, 'item/09999').textContent()).toBe('{"i":9999}')
  await list.evaluate(el => { el.scrollTop = 0 })
  await expect.poll(() => rowValue(page, 'item/00000').textContent()).toBe('{"i":0}')
  const listed = await page.evaluate(async () => (await (globalThis as any).__roomkv.session.list()).length)
  expect(listed).toBe(COUNT)

  // From IndexedDB: the relay is gone, the room still opens with every key
  // (the page itself from the service worker's cache, once it has it: the
  // join can now finish before the worker registers, ~2 s after load).
  await shellCached(page)
  await relay.stop()
  await page.reload()
  await expect.poll(() => heading.textContent(), { timeout: 60_000, interval: 500 }).toContain('10,000 keys')
  await page.context().close()
})
