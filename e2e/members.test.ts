/**
 * A tab that leaves drops out of the other tabs' peer count within seconds,
 * whether it was closed (its data channels close, but the RTCPeerConnection
 * on the other side stays "connected" for half a minute) or it crashed (no
 * close of any kind reaches the other tab: its UDP just stops).
 */
import { randomBytes } from 'node:crypto'
import type { Page } from 'playwright-core'
import { describe, expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { openSdkTab } from './sdk-driver.ts'

const env = useRelayAndBrowser()

const peerId = async (page: Page): Promise<string> => page.evaluate(() => (globalThis as any).__roomkv.node.peerId.toString())
/** Who the tab counts as in the room, as its status says (the page's peer count is direct + relayed). */
const members = async (page: Page): Promise<string[]> =>
  page.evaluate(() => ((globalThis as any).__roomkv.session.status().members as Array<{ id: string }>).map(m => m.id))
const peerCount = async (page: Page): Promise<number> =>
  page.evaluate(() => { const s = (globalThis as any).__roomkv.session.status(); return s.direct + s.relayed })
const directIds = async (page: Page): Promise<string[]> =>
  page.evaluate(() => ((globalThis as any).__roomkv.session.status().members as Array<{ id: string, connection: string }>).filter(m => m.connection === 'direct').map(m => m.id))

async function twoTabs (): Promise<{ a: Page, b: Page, bId: string }> {
  const link = `${env.relay.url}/#v1.${randomBytes(32).toString('base64url')}`
  const a = await openSdkTab(env.browser, link)
  const b = await openSdkTab(env.browser, link)
  const bId = await peerId(b)
  await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(bId)
  return { a, b, bId }
}

/** A tab whose RTCPeerConnections are counted (window.__pcs), opened on `url` and joined. */
async function countingTab (url: string): Promise<Page> {
  const context = await env.browser.newContext()
  await context.addInitScript(() => {
    const Native = globalThis.RTCPeerConnection
    ;(globalThis as any).__pcs = 0
    globalThis.RTCPeerConnection = class extends Native {
      constructor (...args: ConstructorParameters<typeof RTCPeerConnection>) {
        super(...args)
        ;(globalThis as any).__pcs++
      }
    }
  })
  const page = await context.newPage()
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as any).__roomkv != null, null, { timeout: 30_000 })
  return page
}

describe('two tabs joining at the same moment', () => {
  test('build one WebRTC connection between them (one RTCPeerConnection each), not two', async ({ annotate }) => {
    const link = `${env.relay.url}/#v1.${randomBytes(32).toString('base64url')}`
    const [a, b] = await Promise.all([countingTab(link), countingTab(link)])
    const [aId, bId] = await Promise.all([peerId(a), peerId(b)])
    await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(bId)
    await expect.poll(() => directIds(b), { timeout: 30_000 }).toContain(aId)
    // Past the second side's head start (3 s, 6 s while the first dials).
    await new Promise(resolve => setTimeout(resolve, 7_000))
    const pcs = await Promise.all([a, b].map(async p => p.evaluate(() => (globalThis as any).__pcs as number)))
    await annotate(`RTCPeerConnections built: ${pcs.join(' + ')}`)
    // One connection is one RTCPeerConnection on each side; a second dial would make it two each.
    expect(pcs).toEqual([1, 1])
    await Promise.all([a.context().close(), b.context().close()])
  })
})

describe('a tab that leaves', () => {
  test('closed: leaves the other tab\'s peer count within seconds', async ({ annotate }) => {
    const { a, b, bId } = await twoTabs()
    const closedAt = Date.now()
    await b.close()
    await expect.poll(() => members(a), { timeout: 8_000, interval: 250 }).not.toContain(bId)
    await annotate(`left the peer count ${Date.now() - closedAt} ms after the tab closed`)
    expect(await peerCount(a)).toBe(0)
    await a.context().close()
  })

  test('crashed: leaves the other tab\'s peer count within seconds', async ({ annotate }) => {
    const { a, b, bId } = await twoTabs()
    const cdp = await b.context().newCDPSession(b)
    // The renderer dies: no pagehide, no goodbye, no close of any connection
    // from the page. (The command gets no answer from a dead renderer.)
    const crashed = new Promise(resolve => b.once('crash', resolve))
    void cdp.send('Page.crash').catch(() => {})
    await crashed
    const crashedAt = Date.now()
    await expect.poll(() => members(a), { timeout: 10_000, interval: 250 }).not.toContain(bId)
    await annotate(`left the peer count ${Date.now() - crashedAt} ms after the tab crashed`)
    expect(await peerCount(a)).toBe(0)
    await a.context().close()
  })
})
