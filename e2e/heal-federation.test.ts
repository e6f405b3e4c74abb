/**
 * Two relays joined with --bootstrap, a tab on each, one room: each tab
 * gets the other's writes (the relays are members of each other's room),
 * and a tab that joins later through either relay lists everything.
 */
import { randomBytes } from 'node:crypto'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { launchBrowser, startRelayProcess, stopAll, type RelayProcess } from './harness.ts'
import { openSdkTab, sdkKeys as keys, sdkPut as put } from './sdk-driver.ts'

let browser: Browser
let relay1: RelayProcess
let relay2: RelayProcess

beforeAll(async () => {
  relay1 = await startRelayProcess()
  const info = await (await fetch(`${relay1.url}/roomkv.json`)).json()
  relay2 = await startRelayProcess({ args: ['--bootstrap', info.multiaddrs[0]] })
  browser = await launchBrowser()
})
afterAll(async () => { await stopAll() })

const openTab = async (url: string): Promise<Page> => openSdkTab(browser, url)
const relayOf = async (page: Page): Promise<string | undefined> =>
  page.evaluate(() => ((globalThis as any).__roomkv.relay.relayStates() as Array<{ id: string, state: string }>).find(r => r.state === 'reserved')?.id)

describe('federated relays', () => {
  test('a tab on relay 1 and a tab on relay 2 exchange records', async () => {
    const code = `v1.${randomBytes(32).toString('base64url')}`
    const one = await openTab(`${relay1.url}/#${code}`)
    const two = await openTab(`${relay2.url}/#${code}`)
    await expect.poll(() => relayOf(one), { timeout: 20_000 }).toBe(relay1.peerId)
    await expect.poll(() => relayOf(two), { timeout: 20_000 }).toBe(relay2.peerId)

    await put(one, 'from-one', 'written through relay 1')
    await put(two, 'from-two', 'written through relay 2')
    await expect.poll(() => keys(two), { timeout: 20_000 }).toEqual(['from-one', 'from-two'])
    await expect.poll(() => keys(one), { timeout: 20_000 }).toEqual(['from-one', 'from-two'])

    // Later, with both first tabs gone: each relay has the whole room.
    await one.context().close()
    await two.context().close()
    for (const relay of [relay1, relay2]) {
      const late = await openTab(`${relay.url}/#${code}`)
      await expect.poll(() => keys(late), { timeout: 20_000 }).toEqual(['from-one', 'from-two'])
      await late.context().close()
    }
  })
})
