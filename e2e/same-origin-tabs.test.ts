/**
 * Two tabs of one browser profile share writes over BroadcastChannel, with
 * no network at all: the receiving tab's libp2p node is stopped first.
 */
import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'

const env = useRelayAndBrowser()

test('a write in one tab shows at once in another tab of the same profile, network or not', async () => {
  const context = await env.browser.newContext()
  const first = await context.newPage()
  await first.goto(env.relay.url)
  await first.getByTestId('create-room').click()
  const link = await first.getByTestId('room-link').inputValue()
  const second = await context.newPage()
  await second.goto(link)
  await expect.poll(() => second.evaluate(() => (globalThis as any).__roomkv != null), { timeout: 30_000 }).toBe(true)
  await second.evaluate(async () => { await (globalThis as any).__roomkv.node.stop() })

  await first.getByTestId('key').fill('shared')
  await first.getByTestId('value').fill('over BroadcastChannel')
  await first.getByTestId('put').click()
  await expect.poll(() => second.locator('tr[data-key="shared"] td.value').textContent(), { timeout: 10_000 }).toBe('over BroadcastChannel')
})
