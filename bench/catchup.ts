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
import { openTab, waitForProbe, withTimeout, type Tab } from './browser.ts'
import { nodeCatchup, type CatchupRun } from './nodes.ts'
import { sealManyAsync, seedRelayDataDir, relayMetrics } from './seed.ts'
import { round } from './stats.ts'

export interface TabCatchupRun {
  /** performance.now() in the tab (ms since its navigation start) when list() first returned every key. */
  ms?: number
  domContentLoadedMs?: number
  joinedMs?: number
  relayMs?: number
  /** When the tab's watch() count reached the key count (all records stored). */
  changesMs?: number
  /** watch() events seen (records stored); on a timeout, how far the tab got. */
  changes?: number
  listCalls?: number
  entries?: number
  /** session.list() calls the app itself made meanwhile (its UI re-lists on changes) and their summed duration. */
  appListCalls?: number
  appListMs?: number
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
      return { joinedMs: bench.joinedAt, relayMs: bench.relayAt, changesMs: bench.changesFullAt, changes: bench.changes, listCalls: bench.listCalls, entries: bench.listEntries, appListCalls: bench.appListCalls, appListMs: bench.appListMs, domContentLoadedMs: nav?.domContentLoadedEventEnd }
    })
    return { ms: round(ms), ...detail, joinedMs: round(detail.joinedMs), relayMs: round(detail.relayMs), changesMs: round(detail.changesMs), appListMs: round(detail.appListMs), domContentLoadedMs: round(detail.domContentLoadedMs ?? Number.NaN) }
  } catch (err: any) {
    let progress: Partial<TabCatchupRun> = {}
    try {
      progress = await withTimeout(tab!.page.evaluate(() => {
        const bench = (globalThis as any).__bench
        return { joinedMs: bench?.joinedAt, relayMs: bench?.relayAt, entries: bench?.listEntries, changes: bench?.changes, appListCalls: bench?.appListCalls, appListMs: bench?.appListMs }
      }), 10_000, 'progress')
    } catch {}
    return { error: err.message.split('\n')[0].slice(0, 300), ...progress, joinedMs: round(progress.joinedMs ?? Number.NaN), relayMs: round(progress.relayMs ?? Number.NaN), appListMs: round(progress.appListMs ?? Number.NaN) }
  } finally {
    await tab?.close()
  }
}

export interface CatchupRoom {
  result: CatchupResult
  /** One tab run (unless `tab` is false), then one Node run; returns how long they took (ms). */
  run(options?: { tab?: boolean }): Promise<number>
  /** Stop the relay and delete its data dir. */
  close(): Promise<void>
}

/**
 * Seal the room once, write it into a fresh relay's data dir and start that
 * relay (default limits). Each run() then opens a fresh tab and a fresh
 * Node peer on it, one after the other.
 */
export async function prepareCatchup (browser: Browser, keys: number, log: (line: string) => void, timeouts = { tab: 120_000, node: 120_000 }, relayArgs: string[] = []): Promise<CatchupRoom> {
  const result: CatchupResult = {
    keys,
    method: `a fresh relay (default limits) holds one room of ${keys} keys (sealed in Node and written into the relay's data dir before it starts, in the relay's own storage format); tab: a fresh browser context opens the room link, time = the tab's performance.now() (ms since navigation start) when __roomkv.session.list() first returns ${keys} entries (polled in the page: when the watch() count reaches ${keys}, else every 10 s); Node: time from the openRoom() call until session.list() returns ${keys} entries (same polling); a run that does not finish in ${timeouts.tab / 1000} s (tab) / ${timeouts.node / 1000} s (Node) reports how far it got`,
    sealMs: Number.NaN,
    seedMs: Number.NaN,
    tab: [],
    node: [],
    relaySyncs: 0
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'roomkv-bench-catchup-'))
  let relay: RelayProcess | undefined
  let link = ''
  let syncsBefore = 0
  const close = async (): Promise<void> => {
    try {
      if (relay != null) result.relaySyncs = ((await relayMetrics(relay.url)).get('roomkv_requests_served_total{kind="sync"}') ?? 0) - syncsBefore
    } catch {}
    await relay?.stop()
    relay = undefined
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    const secret = newRoomSecret()
    const roomKeys = deriveRoomKeys(secret)
    let t0 = performance.now()
    const records = await sealManyAsync(roomKeys, keys, 'item/')
    result.sealMs = round(performance.now() - t0)
    t0 = performance.now()
    await seedRelayDataDir(dataDir, records)
    result.seedMs = round(performance.now() - t0)
    log(`catch-up: sealed ${keys} records in ${Math.round(result.sealMs)} ms, wrote them into a relay database in ${Math.round(result.seedMs)} ms`)
    relay = await startRelayProcess({ dataDir, args: relayArgs })
    link = formatRoomLink(relay.url, secret)
    syncsBefore = (await relayMetrics(relay.url)).get('roomkv_requests_served_total{kind="sync"}') ?? 0
  } catch (err: any) {
    result.error = err.message
    await close()
    throw err
  }
  const run = async (options: { tab?: boolean } = {}): Promise<number> => {
    if (relay == null) throw new Error('catch-up relay is closed')
    const started = performance.now()
    const n = result.node.length + 1
    if (options.tab !== false) {
      const tab = await tabRun(browser, link, keys, n, timeouts.tab)
      result.tab.push(tab)
      log(`catch-up run ${n}, tab: ${tab.ms != null ? `${Math.round(tab.ms)} ms (loaded ${Math.round(tab.domContentLoadedMs ?? NaN)}, joined ${Math.round(tab.joinedMs ?? NaN)}, relay ${Math.round(tab.relayMs ?? NaN)}, all stored ${Math.round(tab.changesMs ?? NaN)}; the app called list() ${tab.appListCalls} times, ${Math.round(tab.appListMs ?? NaN)} ms summed)` : `FAILED after ${timeouts.tab / 1000} s: ${tab.changes ?? '?'} records stored, list() had ${tab.entries ?? '?'} entries; the app called list() ${tab.appListCalls ?? '?'} times (${Math.round(tab.appListMs ?? NaN)} ms summed)`}`)
    }
    const node = await nodeCatchup(link, relay.url, relay.peerId, keys, timeouts.node)
    result.node.push(node)
    log(`catch-up run ${n}, node: ${node.ms != null ? `${Math.round(node.ms)} ms (relay connected ${Math.round(node.connectedMs ?? NaN)}, all stored ${Math.round(node.watchMs ?? NaN)}, ${node.listCalls} list() calls, ${node.relayDrops} relay drops)` : `FAILED: ${node.error}`}`)
    return performance.now() - started
  }
  return { result, run, close }
}
