/**
 * Healing after a relay restart: the relay is killed (SIGKILL, no goodbye)
 * and started again with the same data dir and ports while two tabs are in
 * a room. The tabs keep exchanging over WebRTC during the outage, take their
 * reservations again once it is back, and a third tab joining afterwards
 * gets everything, including what was written while the relay was down.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort, launchBrowser, startRelayProcess, stopAll, type RelayProcess } from './harness.ts'
import { openSdkTab, sdkKeys as keys, sdkPut as put } from './sdk-driver.ts'

let browser: Browser
let dataDir: string
let ports: string[]

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'roomkv-heal-'))
  ports = ['--port', String(await freePort()), '--p2p-port', String(await freePort())]
  browser = await launchBrowser()
})
afterAll(async () => {
  await stopAll()
  await rm(dataDir, { recursive: true, force: true })
})

const openTab = async (url: string): Promise<Page> => openSdkTab(browser, url)

const relayPhase = async (page: Page): Promise<string> => page.evaluate(() => (globalThis as any).__roomkv.relay.status().phase)
const directPeers = async (page: Page): Promise<number> => page.evaluate(() => (globalThis as any).__roomkv.session.status().direct)
/** When the tab's reservation on the relay was taken (ms since epoch), from its diagnostics. */
const reservedAt = async (page: Page): Promise<number> =>
  page.evaluate(() => (globalThis as any).__roomkv.relay.relayStates()[0]?.reservedAt ?? 0)

describe('relay restart', () => {
  test('tabs keep exchanging over WebRTC, re-reserve, and a later tab gets everything', async ({ annotate }) => {
    let relay: RelayProcess = await startRelayProcess({ dataDir, args: ports })
    const link = `${relay.url}/#v1.${randomBytes(32).toString('base64url')}`
    const a = await openTab(link)
    const b = await openTab(link)
    await expect.poll(() => directPeers(a), { timeout: 30_000 }).toBeGreaterThanOrEqual(1)
    await expect.poll(() => directPeers(b), { timeout: 30_000 }).toBeGreaterThanOrEqual(1)
    await put(a, 'before', 'written with the relay up')
    await expect.poll(() => keys(b), { timeout: 15_000 }).toContain('before')

    // Crash: no clean close reaches the tabs.
    await relay.kill('SIGKILL')
    await expect.poll(() => relayPhase(a), { timeout: 20_000 }).not.toMatch(/connected|reserved/)
    await put(a, 'during-a', 'written by A while the relay was down')
    await put(b, 'during-b', 'written by B while the relay was down')
    await expect.poll(() => keys(b), { timeout: 15_000 }).toContain('during-a')
    await expect.poll(() => keys(a), { timeout: 15_000 }).toContain('during-b')

    const restartedAt = Date.now()
    relay = await startRelayProcess({ dataDir, args: ports })
    const back = Date.now()
    // Both tabs take their reservation again on the restarted relay.
    await expect.poll(() => relayPhase(a), { timeout: 20_000 }).toBe('reserved')
    await expect.poll(() => relayPhase(b), { timeout: 20_000 }).toBe('reserved')
    expect(await reservedAt(a)).toBeGreaterThan(restartedAt)
    expect(await reservedAt(b)).toBeGreaterThan(restartedAt)
    // Time from the relay's return to both reservations, for the record (not asserted).
    await annotate(`both reservations ${Math.max(await reservedAt(a), await reservedAt(b)) - back} ms after the relay was back`, 'heal')

    // A third tab, joining after the restart, gets everything.
    const c = await openTab(link)
    await expect.poll(async () => (await keys(c)).sort(), { timeout: 30_000 }).toEqual(['before', 'during-a', 'during-b'])
    // The outage writes reached the relay too: a tab that only has the relay gets them.
    for (const page of [a, b, c]) await page.context().close()
    const d = await openTab(link)
    await expect.poll(async () => (await keys(d)).sort(), { timeout: 30_000 }).toEqual(['before', 'during-a', 'during-b'])
    expect(relay.output()).not.toMatch(/uncaught|unhandled/i)
  })
})
