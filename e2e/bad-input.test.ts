import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'

const env = useRelayAndBrowser()

test('a truncated room link shows a clear error', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await page.goto(`${env.relay.url}/#v1.dG9vLXNob3J0`)
  await expect.poll(() => page.getByTestId('error').textContent(), { timeout: 15_000 }).toMatch(/room link is not valid.*truncated/i)
})

test('an oversized value is refused with its limit and nothing stored changes', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await page.goto(env.relay.url)
  await page.getByTestId('create-room').click()
  await page.getByTestId('key').fill('k')
  await page.getByTestId('value').fill('kept')
  await page.getByTestId('put').click()
  await expect.poll(() => page.locator('tr[data-key="k"] td.value').textContent(), { timeout: 15_000 }).toBe('kept')
  await page.getByTestId('value').fill('x'.repeat(40_000))
  await page.getByTestId('put').click()
  await expect.poll(() => page.getByTestId('error').textContent(), { timeout: 15_000 }).toMatch(/Invalid value.*limit is 32768/)
  await page.reload()
  await expect.poll(() => page.locator('tr[data-key="k"] td.value').textContent(), { timeout: 15_000 }).toBe('kept')
})
