/**
 * Offline first: once the app has been open, the service worker keeps its
 * shell, so with the relay gone a new tab still opens the room from this
 * device (IndexedDB) and says it is offline.
 */
import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { createRoom, joined, put, rowValue, screenshots, shellCached, statuses } from './ui-driver.ts'

const env = useRelayAndBrowser()

test('relay stopped: a new tab still opens the room from the device', async () => {
  const context = await env.browser.newContext()
  const page = await context.newPage()
  const link = await createRoom(page, env.relay.url)
  await joined(page)
  await put(page, 'kept', 'on this device')
  await expect.poll(() => rowValue(page, 'kept').textContent(), { timeout: 15_000 }).toBe('on this device')
  await shellCached(page)

  await env.relay.stop()
  const offline = await context.newPage()
  await offline.goto(link)
  await expect.poll(() => rowValue(offline, 'kept').textContent(), { timeout: 30_000 }).toBe('on this device')
  await expect.poll(() => statuses(offline), { timeout: 60_000 }).toMatch(/Offline/)
  await put(offline, 'written offline', 'waits here')
  await expect.poll(() => statuses(offline), { timeout: 30_000 }).toMatch(/kept on this device/)
  await expect.poll(() => statuses(offline)).toMatch(/Offline, 1 change waiting/)
  await screenshots(offline, 'offline')
  await context.close()
}, 240_000)
