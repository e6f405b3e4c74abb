/**
 * Two tabs of one browser profile share writes over BroadcastChannel, with
 * no network at all: the receiving tab's libp2p node is stopped first.
 */
import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { createRoom, joined, put, rowValue } from './ui-driver.ts'

const env = useRelayAndBrowser()

test('a write in one tab shows at once in another tab of the same profile, network or not', async () => {
  const context = await env.browser.newContext()
  const first = await context.newPage()
  const link = await createRoom(first, env.relay.url)
  await joined(first)
  const second = await context.newPage()
  await second.goto(link)
  await expect.poll(() => second.evaluate(() => (globalThis as any).__roomkv != null), { timeout: 30_000 }).toBe(true)
  await second.evaluate(async () => { await (globalThis as any).__roomkv.node.stop() })

  await put(first, 'shared', 'over BroadcastChannel')
  await expect.poll(() => rowValue(second, 'shared').textContent(), { timeout: 10_000 }).toBe('over BroadcastChannel')
})
