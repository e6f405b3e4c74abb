import { describe, expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { createRoom, put, rowValue as row, statuses, waitForDirectPeer } from './ui-driver.ts'

const env = useRelayAndBrowser()

describe('two tabs in one room', () => {
  test('live updates, detail view, reload persistence, and direct WebRTC without the relay', async () => {
    const a = await (await env.browser.newContext()).newPage()
    const b = await (await env.browser.newContext()).newPage()
    await a.goto(env.relay.url)
    // The relay inlines its /roomkv.json into the page: no fetch before joining.
    const inline = JSON.parse(await a.evaluate(() => document.getElementById('roomkv-relay')?.textContent ?? '{}'))
    expect(inline.peerId).toBe(env.relay.peerId)
    const link = await createRoom(a, env.relay.url)
    expect(link).toMatch(/#v1\.[A-Za-z0-9_-]{43}$/)
    await b.goto(link)

    await waitForDirectPeer(a)
    await waitForDirectPeer(b)

    await put(a, 'greeting', 'hello from A')
    await expect.poll(() => row(b, 'greeting').textContent(), { timeout: 15_000 }).toBe('hello from A')
    await expect.poll(() => statuses(a)).toMatch(/Saved "greeting": stored on [1-9]\d* peers?/)
    await expect.poll(() => statuses(a)).toMatch(/Online, [2-9] people here/)

    // The detail view shows the full value and who wrote it.
    await b.getByRole('button', { name: 'Open greeting' }).click()
    const detail = b.getByRole('dialog', { name: 'Key greeting' })
    expect(await detail.getByLabel('Value', { exact: true }).textContent()).toBe('hello from A')
    expect(await detail.textContent()).not.toMatch(/Written by\s*you/)
    await detail.getByRole('button', { name: 'Close' }).click()

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
    await expect.poll(() => b.evaluate(() => (globalThis as any).__roomkv.relay.status().phase), { timeout: 15_000 }).not.toBe('reserved')
  })
})
