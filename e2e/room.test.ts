import { describe, expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { useRelayAndBrowser } from './harness.ts'

const env = useRelayAndBrowser()

async function directPeers (page: Page): Promise<number> {
  return Number(await page.getByTestId('peers-direct').textContent({ timeout: 30_000 }))
}

async function waitForDirectPeer (page: Page): Promise<void> {
  await expect.poll(() => directPeers(page), { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(1)
}

async function put (page: Page, key: string, value: string): Promise<void> {
  await page.getByTestId('key').fill(key)
  await page.getByTestId('value').fill(value)
  await page.getByTestId('put').click()
}

function row (page: Page, key: string) {
  return page.locator(`tr[data-key="${key}"] td.value`)
}

describe('two tabs in one room', () => {
  test('live updates, get, reload persistence, and direct WebRTC without the relay', async () => {
    const a = await (await env.browser.newContext()).newPage()
    const b = await (await env.browser.newContext()).newPage()
    await a.goto(env.relay.url)
    // The relay inlines its /roomkv.json into the page: no fetch before joining.
    const inline = JSON.parse(await a.evaluate(() => document.getElementById('roomkv-relay')?.textContent ?? '{}'))
    expect(inline.peerId).toBe(env.relay.peerId)
    await a.getByTestId('create-room').click()
    const link = await a.getByTestId('room-link').inputValue()
    expect(link).toMatch(/#v1\.[A-Za-z0-9_-]{43}$/)
    await b.goto(link)

    await waitForDirectPeer(a)
    await waitForDirectPeer(b)

    await put(a, 'greeting', 'hello from A')
    await expect.poll(() => row(b, 'greeting').textContent(), { timeout: 15_000 }).toBe('hello from A')
    await expect.poll(() => a.getByTestId('notice').textContent()).toMatch(/Stored "greeting" on [1-9]\d* peers?/)

    await b.getByTestId('key').fill('greeting')
    await b.getByTestId('get').click()
    await expect.poll(() => b.getByTestId('notice').textContent()).toBe('"greeting" = "hello from A"')

    // Reload: IndexedDB keeps the room.
    await b.reload()
    await expect.poll(() => row(b, 'greeting').textContent(), { timeout: 15_000 }).toBe('hello from A')

    // The A-B connection must be direct WebRTC, not a relayed circuit.
    await waitForDirectPeer(b)
    const connections = await b.evaluate(() => (globalThis as any).__roomkv.node.getConnections()
      .map((c: any) => ({ addr: c.remoteAddr.toString(), limited: c.limits != null, peer: c.remotePeer.toString() })))
    const peerA = await a.evaluate(() => (globalThis as any).__roomkv.node.peerId.toString())
    const toA = connections.filter((c: any) => c.peer === peerA)
    expect(toA.some((c: any) => c.addr.includes('/webrtc') && !c.limited)).toBe(true)

    // Proof: with the relay gone, A's next put still reaches B.
    await env.relay.stop()
    await put(a, 'after-relay', 'still here')
    await expect.poll(() => row(b, 'after-relay').textContent(), { timeout: 15_000 }).toBe('still here')
    await expect.poll(() => b.getByTestId('relay-phase').textContent(), { timeout: 15_000 }).not.toBe('reserved')
  })
})
