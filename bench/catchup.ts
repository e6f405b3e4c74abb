/**
 * Joining a large room: a relay holds a room of `keys` records; a fresh
 * Chromium tab and a fresh Node SDK peer each open the room link, and the
 * time until session.list() returns every key is measured. And re-syncing
 * one: a member of a room of 100,000 keys that missed 10 changes syncs
 * with the relay (bytes and ms). See bench/README.md.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { startRelayProcess, type RelayProcess } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { openTab, waitForProbe, withTimeout, type Tab } from './browser.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { createRecordStore, memoryRecordStorage } from '../shared/record-store.ts'
import { sealRecordAsync } from '../shared/record.ts'
import type { Libp2p } from 'libp2p'
import { connectRoomsClient, nodeCatchup, type CatchupRun } from './nodes.ts'
import { relayMetrics, sealManyAsync, seedRelayDataDir, seedStorage } from './seed.ts'
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
  /** Main-thread tasks over 50 ms from the relay connection until every record was stored, and the longest. */
  longTasks?: number
  longestTaskMs?: number
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
  /** A member that missed a few changes in a large room re-syncs (resyncAfterMissed). */
  resync?: ResyncResult
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
      // Until every record is stored: the bench's own list() check after that is not the app's.
      const during = (bench.longTasks as Array<[number, number]>).filter(([start]) => start >= bench.relayAt && start <= (bench.changesFullAt ?? bench.listFullAt)).map(([, duration]) => duration)
      return { joinedMs: bench.joinedAt, relayMs: bench.relayAt, changesMs: bench.changesFullAt, changes: bench.changes, listCalls: bench.listCalls, entries: bench.listEntries, appListCalls: bench.appListCalls, appListMs: bench.appListMs, domContentLoadedMs: nav?.domContentLoadedEventEnd, longTasks: during.length, longestTaskMs: Math.max(0, ...during) }
    })
    return { ms: round(ms), ...detail, joinedMs: round(detail.joinedMs), relayMs: round(detail.relayMs), changesMs: round(detail.changesMs), appListMs: round(detail.appListMs), domContentLoadedMs: round(detail.domContentLoadedMs ?? Number.NaN), longestTaskMs: round(detail.longestTaskMs) }
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
  /** The room's link (for profiling scripts). */
  link(): string
  /** One tab run (unless `tab` is false), then one Node run (unless `node` is false); returns how long they took (ms). */
  run(options?: { tab?: boolean, node?: boolean }): Promise<number>
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
  const run = async (options: { tab?: boolean, node?: boolean } = {}): Promise<number> => {
    if (relay == null) throw new Error('catch-up relay is closed')
    const started = performance.now()
    const n = Math.max(result.tab.length, result.node.length) + 1
    if (options.tab !== false) {
      const tab = await tabRun(browser, link, keys, n, timeouts.tab)
      result.tab.push(tab)
      log(`catch-up run ${n}, tab: ${tab.ms != null ? `${Math.round(tab.ms)} ms, ${Math.round(tab.ms - (tab.relayMs ?? NaN))} ms after the relay connection, ${tab.longTasks} main-thread tasks > 50 ms (longest ${Math.round(tab.longestTaskMs ?? NaN)} ms) (loaded ${Math.round(tab.domContentLoadedMs ?? NaN)}, joined ${Math.round(tab.joinedMs ?? NaN)}, relay ${Math.round(tab.relayMs ?? NaN)}, all stored ${Math.round(tab.changesMs ?? NaN)}; the app called list() ${tab.appListCalls} times, ${Math.round(tab.appListMs ?? NaN)} ms summed)` : `FAILED after ${timeouts.tab / 1000} s: ${tab.changes ?? '?'} records stored, list() had ${tab.entries ?? '?'} entries; the app called list() ${tab.appListCalls ?? '?'} times (${Math.round(tab.appListMs ?? NaN)} ms summed)`}`)
    }
    if (options.node === false) return performance.now() - started
    const node = await nodeCatchup(link, relay.url, relay.peerId, keys, timeouts.node)
    result.node.push(node)
    log(`catch-up run ${n}, node: ${node.ms != null ? `${Math.round(node.ms)} ms (relay connected ${Math.round(node.connectedMs ?? NaN)}, all stored ${Math.round(node.watchMs ?? NaN)}, ${node.listCalls} list() calls, ${node.relayDrops} relay drops)` : `FAILED: ${node.error}`}`)
    return performance.now() - started
  }
  return { result, run, close, link: () => link }
}

// ------------------------------------------------------------ re-sync after missed changes

export interface ResyncRun {
  /** rooms.sync() call -> resolved (ms). */
  ms?: number
  /** Sync message bytes both ways (queries, headers and record frames; length prefixes included). */
  bytes?: number
  bytesSent?: number
  bytesReceived?: number
  rounds?: number
  received?: number
  stored?: number
  error?: string
}

export interface ResyncResult {
  keys: number
  missed: number
  method: string
  /** The member's first sync with the relay (equal rooms; both sync indexes built). */
  firstSync?: ResyncRun
  runs: ResyncRun[]
  error?: string
}

/**
 * A member that missed `missed` changes in a room of `keys` keys re-syncs
 * with the relay. The relay's database and the member's storage are seeded
 * with the same room (sealed once, not verified again). The member is a
 * minimal libp2p client with the room protocols over its own record store
 * (in memory), connected to the relay over WebSockets. It syncs once (equal
 * rooms: this builds both sync indexes), then per run a second client
 * pushes `missed` new versions of random keys to the relay (the member has
 * no replication session, so nothing forwards them) and the member's
 * rooms.sync() is timed, with the sync's bytes both ways.
 */
export async function resyncAfterMissed (keys: number, missed: number, runs: number, log: (line: string) => void, relayArgs: string[] = []): Promise<ResyncResult> {
  const result: ResyncResult = {
    keys,
    missed,
    method: `a fresh relay (default limits) and a member (minimal libp2p client with the room protocols over an in-memory record store, WebSockets to the relay) both hold the same room of ${keys} keys (sealed once, written into the relay's database and the member's storage before the clocks start); the member syncs once (equal rooms, both sync indexes built), then in each run another client pushes ${missed} new versions of random keys to the relay and the member's rooms.sync(relay) is timed (call -> resolved, the ${missed} records merged); bytes = sync messages both ways (length prefixes included)`,
    runs: []
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'roomkv-bench-resync-'))
  let relay: RelayProcess | undefined
  const nodes: Libp2p[] = []
  try {
    const roomKeys = deriveRoomKeys(newRoomSecret())
    let t0 = performance.now()
    const records = await sealManyAsync(roomKeys, keys, 'item/')
    log(`re-sync: sealed ${keys} records in ${Math.round(performance.now() - t0)} ms`)
    t0 = performance.now()
    await seedRelayDataDir(dataDir, records)
    const storage = memoryRecordStorage()
    await seedStorage(storage, records)
    log(`re-sync: seeded the relay's database and the member's storage in ${Math.round(performance.now() - t0)} ms`)
    relay = await startRelayProcess({ dataDir, args: relayArgs })
    const relayPeer = peerIdFromString(relay.peerId)
    const member = await connectRoomsClient(relay.url, createRecordStore(storage))
    nodes.push(member)
    const writer = await connectRoomsClient(relay.url)
    nodes.push(writer)
    const timed = async (): Promise<ResyncRun> => {
      const started = performance.now()
      try {
        const r = await member.services.rooms.sync(relayPeer, roomKeys.roomId, { signal: AbortSignal.timeout(120_000) })
        const ms = round(performance.now() - started)
        return { ms, bytes: (r.bytesSent ?? 0) + (r.bytesReceived ?? 0), bytesSent: r.bytesSent, bytesReceived: r.bytesReceived, rounds: r.rounds, received: r.received, stored: r.stored }
      } catch (err: any) {
        return { error: err.message }
      }
    }
    result.firstSync = await timed()
    log(`re-sync: first sync of the equal rooms ${Math.round(result.firstSync.ms ?? NaN)} ms (indexes built), ${result.firstSync.bytes} bytes`)
    for (let run = 1; run <= runs; run++) {
      const wall = Date.now()
      const changes = await Promise.all(Array.from({ length: missed }, async (_, i) => {
        const n = Math.floor(Math.random() * keys)
        return (await sealRecordAsync(roomKeys, { key: `item/${String(n).padStart(5, '0')}`, value: { n, run }, clock: { wall, counter: i }, writer: `bench-change-${run}` })).bytes
      }))
      const pushed = await writer.services.rooms.push(relayPeer, roomKeys.roomId, changes, { signal: AbortSignal.timeout(30_000) })
      if (pushed.stored !== missed) throw new Error(`the relay stored ${pushed.stored} of ${missed} changes`)
      const r = await timed()
      if (r.error == null && r.stored !== missed) r.error = `merged ${r.stored} of ${missed} changes`
      result.runs.push(r)
      log(`re-sync run ${run}: ${r.ms != null ? `${Math.round(r.ms)} ms, ${r.bytes} bytes (${r.bytesSent} sent, ${r.bytesReceived} received), ${r.rounds} queries, ${r.stored} stored` : 'FAILED'}${r.error != null ? `: ${r.error}` : ''}`)
    }
  } catch (err: any) {
    result.error = err.message
    log(`re-sync failed: ${err.message}`)
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await relay?.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
  return result
}

