import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { alerts, createRoom, joined, put, rowValue } from './ui-driver.ts'

const env = useRelayAndBrowser()

test('a truncated room link shows a clear error', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await page.goto(`${env.relay.url}/#v1.dG9vLXNob3J0`)
  await expect.poll(() => alerts(page), { timeout: 15_000 }).toMatch(/room link is not valid.*truncated/i)
})

test('an oversized value is refused with its limit and nothing stored changes', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await createRoom(page, env.relay.url)
  await joined(page)
  await put(page, 'k', 'kept')
  await expect.poll(() => rowValue(page, 'k').textContent(), { timeout: 15_000 }).toBe('kept')
  await put(page, 'k', 'x'.repeat(40_000))
  await expect.poll(() => alerts(page), { timeout: 15_000 }).toMatch(/Invalid value.*limit is 32768/)
  await page.reload()
  await expect.poll(() => rowValue(page, 'k').textContent(), { timeout: 15_000 }).toBe('kept')
})
