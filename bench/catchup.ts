/**
 * Joining a large room: a relay holds a room of `keys` records; a fresh
 * Chromium tab and a fresh Node SDK peer each open the room link, and the
 * time until session.list() returns every key is measured. See
 * bench/README.md.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { startRelayProcess, type RelayProcess } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { describe, openTab, waitForProbe, type Tab } from './browser.ts'
import { nodeCatchup, type CatchupRun } from './nodes.ts'
import { sealMany, seedRelayDataDir, relayMetrics } from './seed.ts'
import { round } from './stats.ts'

export interface TabCatchupRun {
  /** performance.now() in the tab (ms since its navigation start) when list() first returned every key. */
  ms?: number
  domContentLoadedMs?: number
  joinedMs?: number
  relayMs?: number
  /** When the tab's watch() count reached the key count (all records stored). */
  changesMs?: number
  listCalls?: number
  entries?: number
  error?: string
}

export interface CatchupResult {
  keys: number
  method: string
  sealMs: number
  seedMs: number
  tab: TabCatchupRun[]
  node: CatchupRun[]
  /** Sync sessions the relay served during the runs. */
  relaySyncs: number
  error?: string
}

async function tabRun (browser: Browser, link: string, keys: number, run: number, timeout: number): Promise<TabCatchupRun> {
  let tab: Tab | undefined
  try {
    tab = await openTab(browser, `catchup${run}`, link, `globalThis.__benchListTarget = ${keys}`)
    const ms = await waitForProbe(tab, 'listFullAt', timeout)
    const detail = await tab.page.evaluate(() => {
      const bench = (globalThis as any).__bench
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined
      return { joinedMs: bench.joinedAt, relayMs: bench.relayAt, changesMs: bench.changesFullAt, listCalls: bench.listCalls, entries: bench.listEntries, domContentLoadedMs: nav?.domContentLoadedEventEnd }
    })
    return { ms: round(ms), ...detail, joinedMs: round(detail.joinedMs), relayMs: round(detail.relayMs), changesMs: round(detail.changesMs), domContentLoadedMs: round(detail.domContentLoadedMs ?? Number.NaN) }
  } catch (err: any) {
    let entries: number | undefined
    try { entries = await tab?.page.evaluate(() => (globalThis as any).__bench?.listEntries) } catch {}
    return { error: `${err.message.split('\n')[0]}${tab != null ? `; ${await describe(tab)}` : ''}`, entries }
  } finally {
    await tab?.close()
  }
}

/**
 * Seal the room once, write it into a fresh relay's data dir, start that
 * relay (default limits), then alternate tab and Node runs: `runs` of each,
 * fewer if `deadline` (epoch ms) passes.
 */
export async function largeRoomCatchup (browser: Browser, keys: number, runs: number, deadline: number, log: (line: string) => void): Promise<CatchupResult> {
  const result: CatchupResult = {
    keys,
    method: `a fresh relay (default limits) holds one room of ${keys} keys (sealed in Node, written into the relay's data dir before it starts, as the relay stores them); a fresh browser context opens the room link: time = tab's performance.now() (since navigation start) when __roomkv.session.list() first returns ${keys} entries (polled in the page); a Node SDK peer: time from the openRoom() call until session.list() returns ${keys} entries`,
    sealMs: Number.NaN,
    seedMs: Number.NaN,
    tab: [],
    node: [],
    relaySyncs: 0
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'roomkv-bench-catchup-'))
  let relay: RelayProcess | undefined
  try {
    const secret = newRoomSecret()
    const roomKeys = deriveRoomKeys(secret)
    let t0 = performance.now()
    const records = sealMany(roomKeys, keys, 'item/')
    result.sealMs = round(performance.now() - t0)
    t0 = performance.now()
    await seedRelayDataDir(dataDir, records)
    result.seedMs = round(performance.now() - t0)
    log(`catch-up: sealed ${keys} records in ${Math.round(result.sealMs)} ms, wrote them into a relay data dir in ${Math.round(result.seedMs)} ms`)
    relay = await startRelayProcess({ dataDir })
    const link = formatRoomLink(relay.url, secret)
    const syncsBefore = (await relayMetrics(relay.url)).get('roomkv_requests_served_total{kind="sync"}') ?? 0
    for (let run = 1; run <= runs; run++) {
      if (run > 1 && Date.now() > deadline) {
        log(`catch-up: stopping after ${run - 1} run(s) (time budget)`)
        break
      }
      const tab = await tabRun(browser, link, keys, run, 180_000)
      result.tab.push(tab)
      log(`catch-up run ${run}, tab: ${tab.ms != null ? `${Math.round(tab.ms)} ms (loaded ${Math.round(tab.domContentLoadedMs ?? NaN)}, joined ${Math.round(tab.joinedMs ?? NaN)}, relay ${Math.round(tab.relayMs ?? NaN)}, all stored ${Math.round(tab.changesMs ?? NaN)}, ${tab.listCalls} list() calls)` : `FAILED: ${tab.error}`}`)
      const node = await nodeCatchup(link, relay.url, relay.peerId, keys, 180_000)
      result.node.push(node)
      log(`catch-up run ${run}, node: ${node.ms != null ? `${Math.round(node.ms)} ms (relay connected ${Math.round(node.connectedMs ?? NaN)}, all stored ${Math.round(node.watchMs ?? NaN)}, ${node.listCalls} list() calls, ${node.relayDrops} relay drops)` : `FAILED: ${node.error}`}`)
    }
    result.relaySyncs = ((await relayMetrics(relay.url)).get('roomkv_requests_served_total{kind="sync"}') ?? 0) - syncsBefore
  } catch (err: any) {
    result.error = err.message
    log(`catch-up failed: ${err.message}`)
  } finally {
    await relay?.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
  return result
}
