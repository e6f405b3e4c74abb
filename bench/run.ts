/**
 * `npm run bench`: latency and throughput of roomkv on real Chromium tabs
 * and a real relay process, then joining a 10,000-key room, replication,
 * relay throughput and capacity with Node peers; everything on 127.0.0.1. See bench/README.md for what
 * each metric means. Writes bench/results.json and prints tables.
 *
 * Every process started here (relays, chromium, client workers, Node peers)
 * is stopped at the end, on error too (try/finally + stopAll/killWorkers/
 * closePeers), and a watchdog ends the run if it ever takes longer than
 * BENCH_DEADLINE. Optional repeats start only while they fit in BUDGET.
 */
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Browser } from 'playwright-core'
import { launchBrowser, startRelayProcess, stopAll, type RelayProcess } from '../e2e/harness.ts'
import { dhtKeyFor } from '../shared/dht-key.ts'
import { parseRoomLink } from '../shared/link.ts'
import { sealRecordAsync, verifyRecord } from '../shared/record.ts'
import { openRecord } from '../shared/record-js.ts'
import { deriveRoomKeys, keyIdFor } from '../shared/room-keys.ts'
import { newRoomLink, openTab, waitForProbe, withTimeout, type Tab } from './browser.ts'
import { killWorkers, mib, RAISED_LIMITS, relayCapacity, type CapacityResult } from './capacity.ts'
import { cliConnect, connectBreakdown, type CliConnect, type ConnectBreakdown } from './connect.ts'
import { cliFirstByte, cliFirstByteTable, type CliFirstByte } from './cli-connect.ts'
import { prepareCatchup, resyncAfterMissed, type CatchupResult, type CatchupRoom } from './catchup.ts'
import { listScroll, type FrameStats, type ListScrollResult } from './list-scroll.ts'
import { connectRoomsClient, pushThroughput, replication, type ReplicationResult, type ThroughputResult } from './nodes.ts'
import { measurePrimitives, primitivesTable } from './primitives.ts'
import { closePeers, relayMetrics } from './seed.ts'
import { round, summarize, table } from './stats.ts'

/**
 * Knobs for checking the bench itself (not for published figures):
 * BENCH_QUICK=1 shrinks every count (~2-3 minutes in all); BENCH_ONLY=a,b
 * runs only those sections (see SECTIONS); BENCH_WEB_DIR serves the web app
 * from that folder instead of dist/ (a build made elsewhere).
 */
const QUICK = process.env.BENCH_QUICK === '1'
const SECTIONS = ['primitives', 'firstPeer', 'tabs', 'catchup', 'bigRoom', 'list', 'replication', 'throughput', 'capacity'] as const
type Section = typeof SECTIONS[number]
const ONLY = (process.env.BENCH_ONLY ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
for (const name of ONLY) if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown section ${name} (known: ${SECTIONS.join(', ')})`)
const runs = (section: Section): boolean => ONLY.length === 0 || ONLY.includes(section)
const WEB_ARGS = process.env.BENCH_WEB_DIR != null && process.env.BENCH_WEB_DIR !== '' ? ['--web-dir', process.env.BENCH_WEB_DIR] : []

/** Page open -> first direct peer: runs (the issue asks for 50), and runs of the phase breakdown. */
const FIRST_PEER_RUNS = QUICK ? 2 : 50
const CONNECT_PHASE_RUNS = QUICK ? 2 : 20
const PUTS = QUICK ? 30 : 200
const DHT_KEYS = QUICK ? 5 : 20
const VALUE_BYTES = 64
/** Sustained puts tab -> tab: put() calls per chunk (Promise.all), chunks back to back. */
const SUSTAINED_PUTS = QUICK ? 1000 : 5000
const SUSTAINED_CHUNK = 500
const SUSTAINED_TIMEOUT = 60_000
const STEP_TIMEOUT = 30_000
const CATCHUP_KEYS = QUICK ? 1000 : 10_000
/** Catch-up runs (tab + Node each); runs after the first only while they fit in BUDGET. */
const CATCHUP_RUNS = QUICK ? 1 : 3
/** A member of a room of RESYNC_KEYS keys that missed RESYNC_MISSED changes re-syncs (bench/catchup.ts). */
const RESYNC_KEYS = 100_000
const RESYNC_MISSED = 10
const CATCHUP_TIMEOUTS = { tab: 120_000, node: 120_000 }
/** A tab (and a Node peer) joining a room of BIG_ROOM_KEYS keys: one run each, not in BENCH_QUICK. */
const BIG_ROOM_KEYS = 100_000
const BIG_ROOM_TIMEOUTS = { tab: 120_000, node: 120_000 }
const REPLICATION_PUTS = QUICK ? 1000 : 5000
const REPLICATION_CHUNK = 500
const REPLICATION_TIMEOUT = 90_000
const CAPACITY_LEVELS = QUICK ? [50] : [100, 500, 1000]
const CAPACITY_WORKERS = 2
const THROUGHPUT_CLIENTS = 8
/** Records per client: batched phase, then single-record phase (fresh records each). */
const THROUGHPUT_RECORDS = QUICK ? { batched: 500, single: 100 } : { batched: 2000, single: 250 }
const THROUGHPUT_IN_FLIGHT = 4
const THROUGHPUT_MS = 10_000
/** Optional work (more catch-up runs, capacity levels) starts only if it should end by then. */
const BUDGET = 17 * 60_000
const BENCH_DEADLINE = 20 * 60_000
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url))

const log = (line: string): void => { process.stdout.write(`[bench] ${line}\n`) }

interface PutRow { key: string, sentAt: number, doneAt?: number, deliveredAt?: number, peers: number, storedOn: string[], refused: string[], error?: string }
interface DhtRow { ms: number, firstRecordMs?: number, value?: number[], from?: string, fromSelf: boolean, answeredBy: string[], error?: string }
interface GetRow { key: string, ms: number, value?: unknown, heldBefore: boolean, usedDht: boolean, error?: string }
interface BurstRow { startedAt: number, putsDoneAt: number, deliveredAt?: number, puts: number, errors: number, firstError?: string, answered: number, storedOn: Record<string, number>, refused: Record<string, number> }

// ---------------------------------------------------------------- metric 1

interface FirstPeerRun { ms?: number, joinedMs?: number, relayMs?: number, lookupsMs?: number[], domContentLoadedMs?: number, error?: string }

/**
 * One run: A opens a fresh room and waits until its membership announcement
 * reached the relay; then B (another fresh context) opens the same link. The
 * result is B's performance.now() (ms since its navigation start) at the
 * first moment its room status shows a direct WebRTC member.
 */
async function firstDirectPeerRun (browser: Browser, relay: RelayProcess, run: number): Promise<FirstPeerRun> {
  const link = newRoomLink(relay.url)
  const tabs: Tab[] = []
  try {
    const a = await openTab(browser, `run${run}/A`, link)
    tabs.push(a)
    await waitForProbe(a, 'announcedAt', STEP_TIMEOUT)
    const b = await openTab(browser, `run${run}/B`, link)
    tabs.push(b)
    const ms = await waitForProbe(b, 'firstDirectAt', STEP_TIMEOUT)
    const detail = await b.page.evaluate(() => {
      const bench = (globalThis as any).__bench
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined
      return { joinedMs: bench.joinedAt, relayMs: bench.relayAt, lookupsMs: bench.lookupsAt.slice(), domContentLoadedMs: nav?.domContentLoadedEventEnd }
    })
    return { ms, ...detail }
  } catch (err: any) {
    return { error: err.message }
  } finally {
    await Promise.all(tabs.map(async t => { await t.close() }))
  }
}

// ---------------------------------------------------------------- helpers

/** A and B joined to one fresh room with a direct connection between them. */
async function openPair (browser: Browser, relay: RelayProcess, tabs: Tab[]): Promise<{ a: Tab, b: Tab, link: string }> {
  const link = newRoomLink(relay.url)
  const a = await openTab(browser, 'A', link)
  tabs.push(a)
  await waitForProbe(a, 'announcedAt', STEP_TIMEOUT)
  const b = await openTab(browser, 'B', link)
  tabs.push(b)
  await waitForProbe(b, 'firstDirectAt', STEP_TIMEOUT)
  await waitForProbe(a, 'firstDirectAt', STEP_TIMEOUT)
  return { a, b, link }
}

/** Mean (epochNow - Date.now()) per tab; the difference estimates the cross-tab clock skew. */
async function clockOffset (tab: Tab): Promise<number> {
  return tab.page.evaluate((n) => (globalThis as any).__bench.clockOffset(n), 2000)
}

// ---------------------------------------------------------------- reads: setup

/**
 * Tab C joins a second room (room 2) and writes DHT_KEYS keys there, then
 * closes. A and B are opened only afterwards and never join room 2, so no
 * tab that is measured ever held (or could have been sent) those records:
 * the relay is the only peer holding them.
 */
async function seedOtherRoom (browser: Browser, relay: RelayProcess): Promise<{ link: string, rows: PutRow[] }> {
  const link = newRoomLink(relay.url)
  const c = await openTab(browser, 'C', link)
  try {
    await waitForProbe(c, 'announcedAt', STEP_TIMEOUT)
    const rows = await withTimeout(c.page.evaluate(([n, size]) => (globalThis as any).__bench.putSequential('dht-', n, size, 60_000), [DHT_KEYS, VALUE_BYTES] as const), 90_000, 'seeding puts in C') as PutRow[]
    return { link, rows }
  } finally {
    await c.close()
  }
}

/**
 * Records of room 1 (A and B's room) that B does not hold: sealed in Node
 * and sent by a minimal libp2p client to the relay over a replication
 * session, with B named in the batch's `delivered` list. The relay stores
 * them and forwards them to the other members (A) but not to B, which it
 * takes to hold them already. So the relay and A hold them, B does not
 * (until an anti-entropy sync; each read checks that B had not received
 * the key before it asked).
 */
async function seedNotHeldByB (relay: RelayProcess, link: string, bPeerId: string, names: string[]): Promise<{ stored: number }> {
  const keys = deriveRoomKeys(parseRoomLink(link).secret)
  const wall = Date.now()
  const records = await Promise.all(names.map(async (key, i) => (await sealRecordAsync(keys, { key, value: `${i}:`.padEnd(VALUE_BYTES, 'x'), clock: { wall, counter: i }, writer: 'bench-net' })).bytes))
  const client = await connectRoomsClient(relay.url)
  try {
    const answers = await withTimeout(client.services.rooms.replication.send(peerIdFromString(relay.peerId), keys.roomId, records, { delivered: [peerIdFromString(bPeerId)] }), 15_000, 'sending records to the relay')
    return { stored: answers.filter(a => a.status === 'stored').length }
  } finally {
    await client.stop()
  }
}

// ---------------------------------------------------------------- part 1: tabs

interface TabResults {
  put?: { latencies: number[], rows: PutRow[], missing: string[], skewMs: number, sendMs: number[], sendPeers: string[], dhtPutMs: number[] }
  /** Raw kad-dht GETs from B for room 2's records (only the relay holds them). */
  kad?: { rows: DhtRow[], names: string[], bad: string[] }
  /** session.get(key, { network: true }) from B for room 1 keys B does not hold. */
  netGet?: { rows: GetRow[], bad: string[], seeded: number, stored: number, reachedA: number }
  /** The same call for keys B holds. */
  heldGets?: GetRow[]
  sustained?: { burst?: BurstRow, received: number, lastArrivalAt?: number, relayAccepted: number, relayForwarded: number, error?: string }
  seedOk: number
  counters: Record<string, number>
  errors: string[]
}

/**
 * Tab C seeds room 2; then A and B in room 1: sequential puts (latency),
 * reads (session path and raw kad-dht), and last the sustained burst (it
 * leaves background DHT publishes behind). Each step fails on its own.
 */
async function tabMetrics (browser: Browser, relay: RelayProcess): Promise<TabResults> {
  const out: TabResults = { seedOk: 0, counters: {}, errors: [] }
  const relayPeer = relay.peerId
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn()
    } catch (err: any) {
      out.errors.push(`${name}: ${err.message}`)
      log(`${name} failed: ${err.stack ?? err.message}`)
    }
  }
  let seeded: { link: string, rows: PutRow[] } | undefined
  await step('seeding room 2', async () => {
    log(`seeding ${DHT_KEYS} keys in a second room from tab C`)
    seeded = await seedOtherRoom(browser, relay)
    out.seedOk = seeded.rows.filter(r => r.error == null && r.storedOn.includes(relayPeer)).length
    log(`C stored ${seeded.rows.length} keys, ${out.seedOk} acknowledged by the relay`)
  })

  const tabs: Tab[] = []
  try {
    log('opening A and B in a fresh room')
    const { a, b, link } = await openPair(browser, relay, tabs)
    await b.page.evaluate(() => { const bench = (globalThis as any).__bench; bench.watchArrivals('put-'); bench.watchArrivals('net-'); bench.watchArrivals('bulk-') })
    await a.page.evaluate(() => { (globalThis as any).__bench.watchArrivals('net-') })

    await step('put in A -> visible in B', async () => {
      const skewMs = (await clockOffset(b)) - (await clockOffset(a))
      log(`A<->B direct; estimated clock skew B-A ${skewMs.toFixed(3)} ms; ${PUTS} sequential puts in A, each after the previous one's delivered`)
      await a.page.evaluate(() => { const bench = (globalThis as any).__bench; bench.sendMs.length = 0; bench.sendPeers.length = 0; bench.dhtPutMs.length = 0 })
      const rows = await withTimeout(a.page.evaluate(([n, size]) => (globalThis as any).__bench.putSequential('put-', n, size, 180_000), [PUTS, VALUE_BYTES] as const), 200_000, 'puts in A') as PutRow[]
      const steps = await a.page.evaluate(() => { const bench = (globalThis as any).__bench; return { sendMs: bench.sendMs.slice(), sendPeers: bench.sendPeers.slice(), dhtPutMs: bench.dhtPutMs.slice() } }) as { sendMs: number[], sendPeers: string[], dhtPutMs: number[] }
      try {
        await b.page.waitForFunction((n) => (globalThis as any).__bench.arrivalCount('put-') >= n, rows.length, { timeout: 30_000, polling: 50 })
      } catch {
        log('not every put arrived in B within 30 s after the last put')
      }
      const arrivals = await b.page.evaluate(() => (globalThis as any).__bench.arrivals) as Record<string, number>
      const latencies: number[] = []
      const missing: string[] = []
      for (const row of rows) {
        const at = arrivals[row.key]
        if (at == null) missing.push(row.key)
        else latencies.push(at - row.sentAt)
      }
      out.put = { latencies, rows, missing, skewMs, ...steps }
    })

    await step('raw kad-dht GET', async () => {
      if (seeded == null) throw new Error('room 2 was not seeded')
      const keys2 = deriveRoomKeys(parseRoomLink(seeded.link).secret)
      const names = seeded.rows.map(r => r.key)
      const dhtKeys = names.map(name => Array.from(dhtKeyFor(keys2.roomId, keyIdFor(keys2, name))))
      log(`${dhtKeys.length} raw kad-dht GETs from B for records of a room B never joined`)
      const rows = await withTimeout(b.page.evaluate(([k, t]) => (globalThis as any).__bench.dhtGet(k, t), [dhtKeys, 15_000] as const), 20 * 16_000, 'DHT gets in B') as DhtRow[]
      const bad: string[] = []
      rows.forEach((row, i) => {
        const name = names[i]
        if (row.error != null) { bad.push(`${name}: ${row.error}`); return }
        if (row.value == null) { bad.push(`${name}: no value`); return }
        if (row.fromSelf) { bad.push(`${name}: value came from B's own store`); return }
        try {
          const record = verifyRecord(new Uint8Array(row.value), { roomId: keys2.roomId, keyId: keyIdFor(keys2, name) })
          const entry = openRecord(keys2, record)
          if (entry.key !== name || typeof entry.value !== 'string' || !entry.value.startsWith(`${Number(name.slice(4))}:`)) bad.push(`${name}: wrong value`)
        } catch (err: any) {
          bad.push(`${name}: record does not verify (${err.message})`)
        }
      })
      out.kad = { rows, names, bad }
    })

    await step('session.get, key not held', async () => {
      const names = Array.from({ length: DHT_KEYS }, (_, i) => `net-${String(i).padStart(4, '0')}`)
      const bPeer = await b.page.evaluate(() => (globalThis as any).__roomkv.node.peerId.toString()) as string
      const { stored } = await seedNotHeldByB(relay, link, bPeer, names)
      // The relay forwards to A: once A has them all, the relay's fan-out is done too.
      let reachedA = 0
      try {
        await a.page.waitForFunction((n) => (globalThis as any).__bench.arrivalCount('net-') >= n, names.length, { timeout: 10_000, polling: 20 })
      } catch {}
      reachedA = await a.page.evaluate(() => (globalThis as any).__bench.arrivalCount('net-')) as number
      log(`relay stored ${stored}/${names.length} records B does not hold (A received ${reachedA}); ${names.length} session.get(key, { network: true }) from B`)
      const rows = await withTimeout(b.page.evaluate((k) => (globalThis as any).__bench.sessionGet(k), names), 20 * 16_000, 'session gets in B') as GetRow[]
      const bad: string[] = []
      rows.forEach((row, i) => {
        if (row.error != null) bad.push(`${row.key}: ${row.error}`)
        else if (row.heldBefore) bad.push(`${row.key}: B already held it (a sync brought it)`)
        else if (row.value !== `${i}:`.padEnd(VALUE_BYTES, 'x')) bad.push(`${row.key}: ${row.value == null ? 'no value' : 'wrong value'}`)
      })
      out.netGet = { rows, bad, seeded: names.length, stored, reachedA }
    })

    await step('session.get, key held', async () => {
      // Secondary: the same read for keys B holds (it asks the relay and A all the same).
      const held = (out.put?.rows ?? []).slice(0, DHT_KEYS).map(r => r.key)
      out.heldGets = await withTimeout(b.page.evaluate((k) => (globalThis as any).__bench.sessionGet(k), held), 20 * 16_000, 'session gets in B') as GetRow[]
    })

    await step('sustained puts tab -> tab', async () => {
      log(`sustained: A puts ${SUSTAINED_PUTS} keys, ${SUSTAINED_CHUNK} put() calls at a time; B watches`)
      const before = await relayMetrics(relay.url)
      const burst = withTimeout(a.page.evaluate(([n, chunk, size, t]) => (globalThis as any).__bench.putBurst('bulk-', n, chunk, size, t), [SUSTAINED_PUTS, SUSTAINED_CHUNK, VALUE_BYTES, SUSTAINED_TIMEOUT] as const), SUSTAINED_TIMEOUT * 2 + 10_000, 'burst in A') as Promise<BurstRow>
      let error: string | undefined
      try {
        await b.page.waitForFunction((n) => (globalThis as any).__bench.arrivalCount('bulk-') >= n, SUSTAINED_PUTS, { timeout: SUSTAINED_TIMEOUT, polling: 10 })
      } catch {
        error = `B did not see all ${SUSTAINED_PUTS} within ${SUSTAINED_TIMEOUT / 1000} s`
      }
      const seen = await b.page.evaluate(() => { const bench = (globalThis as any).__bench; return { received: bench.arrivalCount('bulk-'), lastArrivalAt: bench.lastArrivalAt['bulk-'] } }) as { received: number, lastArrivalAt?: number }
      const row = await burst.catch((err: any) => { error = `${error != null ? `${error}; ` : ''}${err.message}`; return undefined })
      const after = await relayMetrics(relay.url)
      const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0)
      out.sustained = { burst: row, ...seen, relayAccepted: delta('roomkv_records_accepted_total'), relayForwarded: delta('roomkv_fanout_forwarded_total'), error }
    })
  } catch (err: any) {
    out.errors.push(`opening A and B: ${err.message}`)
    log(`opening A and B failed: ${err.stack ?? err.message}`)
  } finally {
    await Promise.all(tabs.map(async t => { await t.close() }))
  }
  out.counters = await relayCounters(relay)
  return out
}

// ---------------------------------------------------------------- machine

function git (args: string[]): string {
  try {
    return execFileSync('git', ['--no-optional-locks', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

async function relayCounters (relay: RelayProcess): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`${relay.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
    const out: Record<string, number> = {}
    for (const line of text.split('\n')) {
      const m = /^(roomkv_requests_(?:refused|served)_total\{kind="([^"]+)"\})\s+(\S+)/.exec(line)
      if (m != null) out[m[1]] = Number(m[3])
    }
    return out
  } catch (err: any) {
    return { error: -1, [`unavailable: ${err.message}`]: -1 }
  }
}

// ---------------------------------------------------------------- Node-side metrics
// ---------------------------------------------------------------- part 2: Node-side

/** Longest Node catch-up so far (or its timeout), to decide whether another run fits. */
const lastNodeMs = (c: CatchupResult): number => Math.max(...c.node.map(r => r.ms ?? CATCHUP_TIMEOUTS.node), 10_000)

interface NodeSideResults {
  catchup?: CatchupResult
  bigRoom?: CatchupResult
  list?: ListScrollResult
  replication?: ReplicationResult
  throughput?: ThroughputResult
  capacity?: CapacityResult
  errors: string[]
}

/**
 * Joining a 10,000-key room (tab and Node), replication W -> relay -> R1,
 * R2, relay throughput, relay capacity; then more catch-up runs while the
 * budget allows. One failing section does not stop the others.
 */
async function nodeSideMetrics (browser: Browser, started: number): Promise<NodeSideResults> {
  const out: NodeSideResults = { errors: [] }
  const section = async (name: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn()
    } catch (err: any) {
      out.errors.push(`${name}: ${err.message}`)
      log(`${name} failed: ${err.stack ?? err.message}`)
    }
  }
  let room: CatchupRoom | undefined
  let lastRunMs = 0
  try {
    if (runs('catchup')) {
      await section('large room catch-up', async () => {
        log(`joining a room of ${CATCHUP_KEYS} keys: seeding a fresh relay`)
        room = await prepareCatchup(browser, CATCHUP_KEYS, log, CATCHUP_TIMEOUTS, WEB_ARGS)
        out.catchup = room.result
        lastRunMs = await room.run()
        log(`re-sync: a member of a room of ${RESYNC_KEYS} keys that missed ${RESYNC_MISSED} changes`)
        room.result.resync = await resyncAfterMissed(RESYNC_KEYS, RESYNC_MISSED, CATCHUP_RUNS, log, WEB_ARGS)
      })
    }

    if (runs('bigRoom') && !QUICK) {
      await section('joining a 100,000-key room', async () => {
        log(`joining a room of ${BIG_ROOM_KEYS} keys: seeding a fresh relay`)
        const big = await prepareCatchup(browser, BIG_ROOM_KEYS, log, BIG_ROOM_TIMEOUTS, WEB_ARGS)
        out.bigRoom = big.result
        try {
          await big.run()
        } finally {
          await big.close()
        }
      })
    }

    if (runs('list')) {
      await section('key list of a big room', async () => {
        log(`key list: scrolling and filtering a room of ${CATCHUP_KEYS} keys in a tab`)
        out.list = await listScroll(browser, CATCHUP_KEYS, log)
      })
    }

    if (runs('replication') || runs('throughput')) {
      await section('replication and relay throughput', async () => {
        log('starting a relay with raised limits for Node peers')
        const relay = await startRelayProcess({ args: RAISED_LIMITS })
        try {
          if (runs('replication')) {
            log(`replication: W puts ${REPLICATION_PUTS} keys (${REPLICATION_CHUNK} put() calls at a time), R1 and R2 watch`)
            out.replication = await replication(relay.url, relay.peerId, REPLICATION_PUTS, REPLICATION_CHUNK, REPLICATION_TIMEOUT, log)
            const r = out.replication
            log(`replication: ${r.putsPerSecond} puts/s replicated to both readers (all ${r.puts} in ${Math.round(r.replicatedMs ?? NaN)} ms; writer ${r.writerPutsPerSecond} puts/s, put() p50 ${r.putCallMs.p50} ms, all delivered after ${Math.round(r.deliveredMs ?? NaN)} ms, ${r.ackedByRelay} acked by the relay; relay CPU ${r.relayCpuPercent}%, bench CPU ${r.benchCpuPercent}%)${r.error != null ? `; ${r.error}` : ''}`)
          }
          if (runs('throughput')) {
            out.throughput = await pushThroughput(relay.url, relay.peerId, THROUGHPUT_CLIENTS, THROUGHPUT_RECORDS, THROUGHPUT_IN_FLIGHT, THROUGHPUT_MS, log)
          }
        } finally {
          await closePeers()
          await relay.stop()
        }
      })
    }

    if (runs('capacity')) {
      await section('relay capacity', async () => {
        log(`relay capacity: ${CAPACITY_LEVELS.join(', ')} clients over ${CAPACITY_WORKERS} worker processes`)
        out.capacity = await relayCapacity(CAPACITY_LEVELS, CAPACITY_WORKERS, log, started + BUDGET - 90_000)
      })
    }

    await section('large room catch-up (more runs)', async () => {
      if (room == null) return
      while (room.result.node.length < CATCHUP_RUNS) {
        // A tab that did not finish in time will not next time either: only the Node peer runs again then.
        const tab = room.result.tab.length > 0 && room.result.tab.every(r => r.ms != null)
        const estimate = tab ? lastRunMs : lastNodeMs(room.result)
        if (Date.now() + estimate + 15_000 > started + BUDGET) {
          log(`catch-up: ${room.result.node.length} run(s); another (~${Math.round(estimate / 1000)} s) would not fit in the time budget`)
          break
        }
        lastRunMs = await room.run({ tab })
      }
    })
  } finally {
    await closePeers()
    await (room as CatchupRoom | undefined)?.close()
  }
  return out
}

// ---------------------------------------------------------------- reporting

// ---------------------------------------------------------------- reporting (Node-side)

function catchupJson (c: CatchupResult | undefined): Record<string, unknown> | null {
  if (c == null) return null
  const tabMs = c.tab.flatMap(r => r.ms != null ? [r.ms] : [])
  const nodeMs = c.node.flatMap(r => r.ms != null ? [r.ms] : [])
  const tab = summarize(tabMs)
  const node = summarize(nodeMs)
  return {
    keys: c.keys,
    tab: { p50: tab.p50, min: tab.min, max: tab.max, completed: tabMs.length, runs: c.tab.length, samples: c.tab.map(r => r.ms ?? null), detail: c.tab },
    node: { p50: node.p50, min: node.min, max: node.max, completed: nodeMs.length, runs: c.node.length, samples: c.node.map(r => r.ms ?? null), detail: c.node },
    method: c.method,
    sealMs: c.sealMs,
    seedMs: c.seedMs,
    relaySyncs: c.relaySyncs,
    resync: c.resync ?? null,
    error: c.error
  }
}


const fmt = (v: number | undefined | null, digits = 1): string => v != null && Number.isFinite(v) ? v.toFixed(digits) : '-'
const int = (v: number | undefined | null): string => v != null && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-'

function nodeSideTables (n: NodeSideResults): string {
  const parts: string[] = []
  for (const c of [n.catchup, n.bigRoom]) {
    if (c == null) continue
    const row = (name: string, runs: Array<{ ms?: number }>, timeout: number, progress: (i: number) => string): string[] => {
      const ms = runs.flatMap(r => r.ms != null ? [r.ms] : [])
      const s = summarize(ms)
      const failed = runs.map((r, i) => r.ms == null ? progress(i) : '').filter(Boolean)
      return [name, `${ms.length}/${runs.length}`, fmt(s.min), fmt(s.p50), fmt(s.max), failed.length > 0 ? `not done in ${timeout / 1000} s: ${failed.join('; ')}` : '']
    }
    parts.push(table([
      [`join a room of ${c.keys.toLocaleString('en')} keys -> full list (ms)`, 'n', 'min', 'p50', 'max', 'note'],
      row('tab: navigation start -> list() complete', c.tab, CATCHUP_TIMEOUTS.tab, i => `${c.tab[i].changes ?? '?'} stored, app list() x${c.tab[i].appListCalls ?? '?'}`),
      row('node: openRoom() -> list() complete', c.node, CATCHUP_TIMEOUTS.node, i => `${c.node[i].entries} listed${c.node[i].error != null ? ` (${c.node[i].error})` : ''}`),
      row('tab: relay connected -> list() complete', c.tab.map(r => ({ ms: r.ms != null && r.relayMs != null ? r.ms - r.relayMs : undefined })), CATCHUP_TIMEOUTS.tab, () => 'see above'),
      ['tab: main-thread tasks > 50 ms while records arrive (longest ms)', String(c.tab.length), '', c.tab.map(r => r.longTasks ?? '-').join(' / '), '', c.tab.map(r => fmt(r.longestTaskMs, 0)).join(' / ')]
    ]))
    const rs = c.resync
    if (rs != null) {
      const ok = rs.runs.flatMap(r => r.ms != null && r.bytes != null ? [{ ms: r.ms, kib: r.bytes / 1024 }] : [])
      const [ms, kib] = [summarize(ok.map(r => r.ms)), summarize(ok.map(r => r.kib))]
      const note = rs.error ?? rs.runs.flatMap(r => r.error != null ? [r.error] : []).join('; ')
      parts.push(table([[`member missing ${rs.missed} changes in ${rs.keys.toLocaleString('en')} keys re-syncs`, 'n', 'min', 'p50', 'max', 'note'],
        ['ms (rooms.sync call -> resolved)', `${ok.length}/${rs.runs.length}`, fmt(ms.min), fmt(ms.p50), fmt(ms.max), note],
        ['KiB exchanged (both ways)', `${ok.length}/${rs.runs.length}`, fmt(kib.min), fmt(kib.p50), fmt(kib.max), `first sync of equal rooms ${fmt(rs.firstSync?.ms, 0)} ms (indexes built)`]]))
    }
  }
  const l = n.list
  if (l != null) {
    const frames = (name: string, f?: FrameStats): string[] => f == null
      ? [name, '-', '-', '-', '-', l.error ?? 'not run']
      : [name, String(f.frames), fmt(f.p50), fmt(f.p95), fmt(f.max), `${f.longTasks} tasks > 50 ms in ${fmt(f.ms, 0)} ms`]
    parts.push(table([
      [`key list of a ${l.keys.toLocaleString('en')}-key room in a tab, frame time (ms)`, 'frames', 'p50', 'p95', 'max', 'note'],
      frames(`scroll (wheel, ${l.scrolledPx ?? '?'} px)`, l.scroll),
      frames('filter (typing a prefix)', l.filter),
      ['navigation start -> every key counted in the list (ms)', '1', fmt(l.listedMs, 0), '', '', '']
    ]))
  }
  const cap = n.capacity
  if (cap != null) {
    const rows: string[][] = [['relay capacity: clients', 'held', 'relay RSS MiB', 'KiB/connection', 'connect s', 'note']]
    rows.push(['0 (fresh relay)', '0', mib(cap.rssBeforeBytes), '', '', ''])
    for (const l of cap.levels) {
      rows.push([String(l.clients), String(l.held), mib(l.rssBytes), fmt(l.rssPerConnectionBytes / 1024, 0), fmt(l.connectMs / 1000), `${l.heldByClients} seen by clients${l.failedClients > 0 ? `, ${l.failedClients} could not connect` : ''}`])
    }
    rows.push(['after closing all', String(cap.connectionsAfter), '', '', '', `${cap.healthyAfter ? 'healthy' : 'NOT healthy'}${cap.error != null ? `; ${cap.error}` : ''}`])
    parts.push(table(rows))
  }
  return parts.join('\n\n')
}

/** Throughput rows: sustained tab -> tab, Node replication, relay acceptance. */
function throughputTable (sustained: Record<string, any> | null, n: NodeSideResults): string {
  const rows: string[][] = [['throughput', 'per second', 'detail']]
  if (sustained != null) {
    rows.push([`puts tab A -> tab B, all ${int(sustained.puts)} visible in B`, int(sustained.putsPerSecond), sustained.error ?? `${sustained.chunk} put() at a time; B saw all after ${fmt(sustained.visibleMs, 0)} ms`])
    rows.push(['  (A put() calls)', int(sustained.writerPutsPerSecond), `all resolved after ${fmt(sustained.writeMs, 0)} ms; all delivered after ${fmt(sustained.deliveredMs, 0)} ms; acked by relay ${sustained.ackedByRelay}, by B ${sustained.ackedByB}${Object.keys(sustained.refused ?? {}).length > 0 ? `; refused ${JSON.stringify(sustained.refused)}` : ''}`])
  }
  const r = n.replication
  if (r != null) {
    rows.push([`puts replicated to 2 peers (Node W -> relay -> R1, R2), ${int(r.puts)}`, int(r.putsPerSecond), r.error ?? `${r.chunk} put() at a time; both readers complete after ${fmt(r.replicatedMs, 0)} ms`])
    rows.push(['  (W put() calls)', int(r.writerPutsPerSecond), `put() p50 ${fmt(r.putCallMs.p50, 2)} ms; all delivered after ${fmt(r.deliveredMs, 0)} ms, ${r.ackedByRelay} acked by relay; relay CPU ${r.relayCpuPercent}%, bench CPU ${r.benchCpuPercent}%`])
  }
  const t = n.throughput
  if (t != null) {
    const b = t.batched
    const s = t.single
    rows.push([`records accepted by the relay, batched (${t.clients} clients)`, int(b.recordsPerSecond), t.error ?? `${b.accepted} in ${fmt(b.elapsedMs / 1000)} s, ${int(b.batchesPerSecond)} batches/s; relay CPU ${b.relayCpuPercent}% = ${fmt(b.relayCpuMsPerRecord, 3)} ms/record${b.exhausted ? '; records ran out' : ''}`])
    rows.push([`records accepted by the relay, 1 per send (${t.clients} clients)`, int(s.recordsPerSecond), `${s.accepted} in ${fmt(s.elapsedMs / 1000)} s, ${s.inFlightPerClient}x${t.clients} in flight, send p50 ${fmt(s.sendMs.p50)} ms; relay CPU ${s.relayCpuPercent}% = ${fmt(s.relayCpuMsPerRecord, 3)} ms/record${s.exhausted ? '; records ran out' : ''}`])
  }
  return rows.length > 1 ? table(rows) : ''
}

// ---------------------------------------------------------------- main

async function main (): Promise<void> {
  const started = Date.now()
  log(`starting chromium${QUICK ? ' (BENCH_QUICK: reduced counts, not for publishing)' : ''}${ONLY.length > 0 ? `; sections: ${ONLY.join(', ')}` : ''}`)
  const browser = await launchBrowser()
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    totalMemGiB: round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    chromium: browser.version()
  }
  const commit = git(['rev-parse', '--short', 'HEAD'])
  const dirty = git(['status', '--porcelain']) !== ''
  log(`chromium ${machine.chromium}, node ${machine.node}`)
  const primitives = runs('primitives') ? await measurePrimitives(browser) : null // first, while the machine is quiet

  // Part 1: tabs, on one relay with default limits.
  const firstRuns: FirstPeerRun[] = []
  let tab: TabResults | undefined
  let relayPeer = ''
  let connect: ConnectBreakdown | undefined
  let cliConnectResult: CliConnect | undefined
  let cliFirstByteResult: CliFirstByte | undefined
  if (runs('firstPeer') || runs('tabs')) {
    log('starting relay')
    const relay = await startRelayProcess({ args: WEB_ARGS })
    relayPeer = relay.peerId
    log(`relay ${relay.url} (${relayPeer})`)
    try {
      if (runs('firstPeer')) {
        for (let run = 1; run <= FIRST_PEER_RUNS; run++) {
          const result = await firstDirectPeerRun(browser, relay, run)
          firstRuns.push(result)
          log(`first direct peer, run ${run}/${FIRST_PEER_RUNS}: ${result.ms != null ? `${round(result.ms)} ms (loaded ${round(result.domContentLoadedMs ?? NaN)}, joined ${round(result.joinedMs ?? NaN)}, relay ${round(result.relayMs ?? NaN)}, member lookups at ${(result.lookupsMs ?? []).map(round).join(', ')} ms)` : `FAILED: ${result.error}`}`)
        }
        // Where the time goes (bench/connect.ts): join phases of tab B, and a CLI command's connect.
        connect = await connectBreakdown(browser, relay, { runs: CONNECT_PHASE_RUNS, log })
        cliConnectResult = await cliConnect(relay, QUICK ? 2 : 5)
        log(`CLI doctor: relay connected p50 ${cliConnectResult.relayConnected.p50} ms after process start, wall p50 ${cliConnectResult.wall.p50} ms`)
        cliFirstByteResult = await cliFirstByte(relay, { runs: QUICK ? 5 : 20, log })
      }
      if (runs('tabs')) tab = await tabMetrics(browser, relay)
    } finally {
      await relay.stop() // the Node-side metrics start their own relays
    }
  }

  // Part 2: Node-side and scale.
  const nodeSide = await nodeSideMetrics(browser, started)

  // ---------------------------------------------------------------- report
  const firstMs = firstRuns.flatMap(r => r.ms != null ? [r.ms] : [])
  const firstSummary = summarize(firstMs)
  const p = tab?.put
  const putSummary = summarize(p?.latencies ?? [])
  const putCall = summarize((p?.rows ?? []).flatMap(r => r.doneAt != null ? [r.doneAt - r.sentAt] : []))
  const putDelivered = summarize((p?.rows ?? []).flatMap(r => r.deliveredAt != null ? [r.deliveredAt - r.sentAt] : []))
  const sendRelay = summarize((p?.sendMs ?? []).filter((_, i) => p?.sendPeers[i] === relayPeer))
  const sendTab = summarize((p?.sendMs ?? []).filter((_, i) => p?.sendPeers[i] !== relayPeer))
  const dhtPut = summarize(p?.dhtPutMs ?? [])
  const kad = tab?.kad
  const kadOk = (kad?.rows ?? []).filter((_, i) => !(kad?.bad ?? []).some(b => b.startsWith(`${kad?.names[i]}:`)))
  const kadSummary = summarize(kadOk.map(r => r.ms))
  const kadFirst = summarize(kadOk.flatMap(r => r.firstRecordMs != null ? [r.firstRecordMs] : []))
  const net = tab?.netGet
  const netOk = (net?.rows ?? []).filter(r => !(net?.bad ?? []).some(b => b.startsWith(`${r.key}:`)))
  const netSummary = summarize(netOk.map(r => r.ms))
  const heldOk = (tab?.heldGets ?? []).filter(r => r.error == null && r.value != null)
  const heldSummary = summarize(heldOk.map(r => r.ms))
  const sus = tab?.sustained
  const burst = sus?.burst
  const sustainedDone = sus != null && burst != null && sus.received >= SUSTAINED_PUTS && sus.lastArrivalAt != null
  const visibleMs = sustainedDone ? (sus.lastArrivalAt as number) - burst.startedAt : Number.NaN
  const sustained = sus == null
    ? null
    : {
        value: round(SUSTAINED_PUTS / (visibleMs / 1000)),
        putsPerSecond: round(SUSTAINED_PUTS / (visibleMs / 1000)),
        puts: SUSTAINED_PUTS,
        chunk: SUSTAINED_CHUNK,
        /** A's first put() call -> B's watch saw the last of the N keys. */
        visibleMs: round(visibleMs),
        received: sus.received,
        writeMs: burst != null ? round(burst.putsDoneAt - burst.startedAt) : null,
        writerPutsPerSecond: burst != null ? round(burst.puts / ((burst.putsDoneAt - burst.startedAt) / 1000)) : null,
        deliveredMs: burst?.deliveredAt != null ? round(burst.deliveredAt - burst.startedAt) : null,
        delivered: burst?.answered ?? 0,
        ackedByRelay: burst?.storedOn[relayPeer] ?? 0,
        ackedByB: Object.entries(burst?.storedOn ?? {}).filter(([peer]) => peer !== relayPeer).reduce((n, [, c]) => n + c, 0),
        refused: burst?.refused ?? {},
        putErrors: burst?.errors ?? null,
        firstPutError: burst?.firstError,
        relayRecordsAccepted: sus.relayAccepted,
        relayRecordsForwarded: sus.relayForwarded,
        error: sus.error ?? (sustainedDone ? undefined : `B saw ${sus.received} of ${SUSTAINED_PUTS}`),
        method: `tab A (directly connected to B over WebRTC) calls session.put() (no quorum, ${VALUE_BYTES}-byte values) for ${SUSTAINED_PUTS} keys, ${SUSTAINED_CHUNK} calls at a time (Promise.all), chunk after chunk; B's watch() records the epoch time of the first remote change per key; rate = N / (A's first put() call -> B saw the last key); then A waits up to ${SUSTAINED_TIMEOUT / 1000} s for every put's delivered (acks)`
      }
  const t = nodeSide.throughput
  const r = nodeSide.replication
  const chromiumPrim = primitives?.chromium ?? {}
  const nodePrim = primitives?.node ?? {}

  const putToVisibleMs = p == null
    ? null
    : {
        p50: putSummary.p50,
        p99: putSummary.p99,
        count: p.latencies.length,
        min: putSummary.min,
        max: putSummary.max,
        sent: p.rows.length,
        missing: p.missing.length,
        putErrors: p.rows.filter(row => row.error != null).length,
        /** Estimated clock skew between the two tabs (B minus A), ms; latencies are not corrected. */
        clockSkewMs: round(p.skewMs),
        /** A's put() call: the local write (put() resolves when A's store holds the record). */
        putCallMs: { p50: putCall.p50, p99: putCall.p99 },
        /** A's put() call start -> its `delivered` resolved (relay and B answered). */
        deliveredMs: { p50: putDelivered.p50, p99: putDelivered.p99 },
        /** Each replication.send from A until the peer's answers came back (queue + batch + ack round trip). */
        sendToRelayMs: { p50: sendRelay.p50, p99: sendRelay.p99, count: sendRelay.count },
        sendToTabMs: { p50: sendTab.p50, p99: sendTab.p99, count: sendTab.count },
        /** Background DHT PUTs of A's publisher during the run (not part of put()). */
        dhtPutMs: { p50: dhtPut.p50, p99: dhtPut.p99, count: dhtPut.count },
        putsAckedByRelay: p.rows.filter(row => row.storedOn.includes(relayPeer)).length,
        putsAckedByB: p.rows.filter(row => row.storedOn.some(peer => peer !== relayPeer)).length,
        refused: p.rows.flatMap(row => row.refused),
        method: `fresh room, tabs A and B directly connected (WebRTC); B's watch() records the epoch time of the first remote change per key; A calls session.put(key, ${VALUE_BYTES}-byte value) ${PUTS} times, one at a time: each put() and then its delivered are awaited before the next put (no put queues behind another); latency = B's arrival - A's time just before put()`
      }

  const results = {
    machine,
    date: new Date().toISOString(),
    commit,
    dirty,
    quick: QUICK,
    sections: ONLY.length > 0 ? ONLY : [...SECTIONS],
    issue8: issue8Rows(),
    results: {
      firstDirectPeerMs: firstRuns.length === 0
        ? null
        : {
            p50: firstSummary.p50,
            min: firstSummary.min,
            max: firstSummary.max,
            runs: firstMs.length,
            failedRuns: firstRuns.length - firstMs.length,
            samples: firstRuns.map(run => run.ms != null ? round(run.ms) : null),
            /** B's own milestones per run (ms since navigation start): DOMContentLoaded, app joined, relay connected, member lookups started. */
            domContentLoadedMs: firstRuns.map(run => run.domContentLoadedMs != null ? round(run.domContentLoadedMs) : null),
            joinedMs: firstRuns.map(run => run.joinedMs != null ? round(run.joinedMs) : null),
            relayMs: firstRuns.map(run => run.relayMs != null ? round(run.relayMs) : null),
            lookupsMs: firstRuns.map(run => (run.lookupsMs ?? []).map(round)),
            errors: firstRuns.flatMap(run => run.error != null ? [run.error] : [])
          },
      /** Join phases of tab B (bench/connect.ts): ms since navigation (`at`) and since the previous phase (`step`). */
      connectPhases: connect ?? null,
      /** A CLI one-shot command (roomkv doctor): ms since process start to relay connected / reserved / synced. */
      cliConnect: cliConnectResult ?? null,
      /** `roomkv get LINK key` (bin/roomkv.mjs, bundled CLI): first byte on the wire, first libp2p dial, exit (bench/cli-connect.ts). */
      cliFirstByte: cliFirstByteResult ?? null,
      putToVisibleMs,
      sustainedPutsPerSecond: sustained,
      dhtGetMs: net == null
        ? null
        : {
            p50: netSummary.p50,
            p99: netSummary.p99,
            min: netSummary.min,
            max: netSummary.max,
            count: netOk.length,
            usedKadDht: netOk.filter(row => row.usedDht).length,
            seeded: net.seeded,
            relayStored: net.stored,
            reachedA: net.reachedA,
            failures: net.bad,
            method: 'RoomSession.get(key, { network: true }) from tab B, one key at a time, for room keys B does not hold: sealed in Node and sent by a minimal libp2p client to the relay over a replication session naming B in the batch\'s delivered list, so the relay stores them and forwards them to A but not to B; each key checked not to have reached B before its read (no anti-entropy sync in between) and its value checked; the read asks the relay and A over the open sessions (one round trip), merges (verifies) the answer and opens it; usedKadDht counts reads that also ran a Kademlia GET'
          },
      kadDhtGetMs: kad == null
        ? null
        : {
            p50: kadSummary.p50,
            count: kadOk.length,
            min: kadSummary.min,
            p99: kadSummary.p99,
            max: kadSummary.max,
            firstRecordP50: kadFirst.p50,
            answeredByRelay: kadOk.filter(row => row.answeredBy.includes(relayPeer)).length,
            failures: kad.bad,
            method: 'raw kad-dht GET (node.services.dht.get) from tab B for the DHT keys of records written by tab C into a second room that B never joined; C closed before A and B opened, so only the relay held the records; time until dht.get yields the VALUE (whole query incl. correction step); every returned record verified and opened with room 2 keys. The app uses this path only when no relay or member session has the key (non-members, federation)'
          },
      sessionGetHeldMs: tab?.heldGets == null
        ? null
        : {
            p50: heldSummary.p50,
            p99: heldSummary.p99,
            count: heldOk.length,
            usedKadDht: heldOk.filter(row => row.usedDht).length,
            method: 'RoomSession.get(key, { network: true }) from tab B for keys B already holds (A\'s sequential puts): the same session query to the relay and A; the answers are known records (no verification)'
          }
    },
    relayCounters: tab?.counters ?? {},
    tabErrors: tab?.errors ?? [],
    nodeSideErrors: nodeSide.errors,
    /** Errors libp2p raised outside any awaited call (event listeners, timers), by kind; the bench logs and counts them instead of crashing. */
    processErrors,
    seconds: round((Date.now() - started) / 1000)
  }
  Object.assign(results.results, {
    largeRoomCatchupMs: catchupJson(nodeSide.catchup),
    bigRoomCatchupMs: catchupJson(nodeSide.bigRoom),
    keyListFrames: nodeSide.list ?? null,
    replicationPutsPerSecond: r == null ? null : { value: r.putsPerSecond, ...r },
    relayPushThroughput: t ?? null,
    relayCapacity: nodeSide.capacity ?? null,
    primitives
  })
  await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`)

  /** The rows issue 8 tracks, next to its goals and y-webrtc's figures (as quoted in the issue). */
  function issue8Rows (): Array<{ metric: string, value: string, detail: string, goal: string, yWebrtc: string }> {
    const rate = (x?: { recordsPerSecond: number }): string => x == null ? '-' : x.recordsPerSecond.toLocaleString('en-US')
    return [
      { metric: 'put in tab A -> visible in tab B, p50 / p99 (ms)', value: `${fmt(putSummary.p50, 2)} / ${fmt(putSummary.p99, 2)}`, detail: p == null ? 'not run' : `${putSummary.count}/${p.rows.length} seen, ${p.rows.filter(row => row.storedOn.includes(relayPeer)).length} acked by relay`, goal: '<= 1.0x y-webrtc', yWebrtc: 'one-way 1.33 / 6.7' },
      { metric: 'sustained puts tab -> tab, all visible in B (/s)', value: int(sustained?.putsPerSecond), detail: sustained == null ? 'not run' : sustained.error ?? `${SUSTAINED_PUTS} puts, B had all after ${fmt(sustained.visibleMs, 0)} ms`, goal: '>= 3,000', yWebrtc: '1,318 sets/s' },
      { metric: 'records one relay accepts, 2 cores (/s)', value: int(t?.batched.recordsPerSecond), detail: t == null ? 'not run' : `batched; 1 record per send: ${int(t.single.recordsPerSecond)}/s`, goal: '>= 8,000', yWebrtc: '-' },
      { metric: 'DHT GET of a key not held, p50 (ms)', value: fmt(netSummary.p50, 2), detail: net == null ? 'not run' : `session.get over sessions; raw kad-dht GET p50 ${fmt(kadSummary.p50, 2)} ms`, goal: '<= 5', yWebrtc: '-' },
      { metric: 'one put() call in a tab, p50 (ms)', value: fmt(putCall.p50, 2), detail: p == null ? 'not run' : `local write; put() -> delivered p50 ${fmt(putDelivered.p50, 2)} ms`, goal: '<= 2 without quorum', yWebrtc: '-' },
      { metric: 'Node W -> relay -> 2 readers, all replicated (puts/s)', value: int(r?.putsPerSecond), detail: r == null ? 'not run' : r.error ?? `${r.puts} puts`, goal: '-', yWebrtc: '-' },
      { metric: 'sign, WebCrypto in Chromium, 64 in flight (records/s)', value: rate(chromiumPrim.signWebCryptoInFlight), detail: `1 at a time: ${rate(chromiumPrim.signWebCrypto)}`, goal: '-', yWebrtc: '-' },
      { metric: 'verify, WebCrypto in Chromium, 64 in flight (records/s)', value: rate(chromiumPrim.verifyWebCryptoInFlight), detail: `Node: ${rate(nodePrim.verifyWebCryptoInFlight)}`, goal: '-', yWebrtc: '-' },
      { metric: 'IndexedDB batch write, 1000 per transaction (records/s)', value: rate(chromiumPrim.idbBatchWrite), detail: `1 per transaction: ${rate(chromiumPrim.idbPutEach)}`, goal: '-', yWebrtc: '-' },
      { metric: 'relay database write, 1000 per transaction (records/s)', value: rate(nodePrim.relayDbWrite), detail: `1 per transaction: ${rate(nodePrim.relayDbWriteEach)}`, goal: '-', yWebrtc: '-' }
    ]
  }

  process.stdout.write(`\nroomkv bench — ${results.date}, commit ${commit}${dirty ? ' (dirty tree)' : ''}${QUICK ? ' — BENCH_QUICK (reduced counts)' : ''}\n`)
  process.stdout.write(`${machine.cpu}, ${machine.cores} cores, ${machine.totalMemGiB} GiB, ${machine.os}, node ${machine.node}, chromium ${machine.chromium}\n\n`)
  const line = (name: string, s: ReturnType<typeof summarize>, n: string): string[] => [name, n, fmt(s.min, 2), fmt(s.p50, 2), fmt(s.p90, 2), fmt(s.p99, 2), fmt(s.max, 2)]
  process.stdout.write(table([
    ['metric (ms)', 'n', 'min', 'p50', 'p90', 'p99', 'max'],
    line('page open -> first direct peer', firstSummary, `${firstSummary.count}/${firstRuns.length}`),
    ...Object.entries(connect?.phases ?? {}).map(([phase, v]) => line(`  (phase ${phase}, step)`, v.step, `${v.step.count}`)),
    line('put in A -> visible in B', putSummary, `${putSummary.count}/${p?.rows.length ?? 0}`),
    line('  (A put() call: local write)', putCall, `${putCall.count}`),
    line('  (A put() -> delivered)', putDelivered, `${putDelivered.count}`),
    line('    (send -> answer, relay)', sendRelay, `${sendRelay.count}`),
    line('    (send -> answer, B over WebRTC)', sendTab, `${sendTab.count}`),
    line('  (background DHT put)', dhtPut, `${dhtPut.count}`),
    line('session.get network, key not held (B)', netSummary, `${netSummary.count}/${net?.rows.length ?? 0}`),
    line('raw kad-dht GET, key not held (B)', kadSummary, `${kadSummary.count}/${kad?.rows.length ?? 0}`),
    line('  (first peer record in kad GET)', kadFirst, `${kadFirst.count}`),
    line('session.get network, key held (B)', heldSummary, `${heldSummary.count}/${tab?.heldGets?.length ?? 0}`)
  ]))
  process.stdout.write('\n\n')
  if (cliFirstByteResult != null) process.stdout.write(`${cliFirstByteTable(cliFirstByteResult)}\n\n`)
  const tp = throughputTable(sustained, nodeSide)
  if (tp !== '') process.stdout.write(`${tp}\n\n`)
  const ns = nodeSideTables(nodeSide)
  if (ns !== '') process.stdout.write(`${ns}\n\n`)
  if (primitives != null) process.stdout.write(`${primitivesTable(primitives)}\n\n`)
  process.stdout.write(`issue 8 (y-webrtc figures as quoted in the issue)\n${table([['row', 'roomkv', 'goal', 'y-webrtc', 'detail'], ...results.issue8.map(row => [row.metric, row.value, row.goal, row.yWebrtc, row.detail])])}\n\n`)
  if (p != null) process.stdout.write(`clock skew B-A (estimate): ${p.skewMs.toFixed(3)} ms; sequential puts acked by relay: ${putToVisibleMs?.putsAckedByRelay}/${p.rows.length}, by B: ${putToVisibleMs?.putsAckedByB}; missing in B: ${p.missing.length}\n`)
  if (kad != null && kad.bad.length > 0) process.stdout.write(`kad-dht GET failures: ${kad.bad.join('; ')}\n`)
  if (net != null && net.bad.length > 0) process.stdout.write(`session.get (not held) failures: ${net.bad.join('; ')}\n`)
  for (const err of results.results.firstDirectPeerMs?.errors ?? []) process.stdout.write(`first-peer run failed: ${err}\n`)
  if (tab != null) process.stdout.write(`relay counters (part 1): ${JSON.stringify(tab.counters)}\n`)
  for (const err of tab?.errors ?? []) process.stdout.write(`tab step failed: ${err}\n`)
  for (const err of nodeSide.errors) process.stdout.write(`Node-side section failed: ${err}\n`)
  if (Object.keys(processErrors).length > 0) process.stdout.write(`errors raised outside awaited calls (logged, not fatal): ${JSON.stringify(processErrors)}\n`)
  process.stdout.write(`wrote ${RESULTS} (${results.seconds} s)\n`)
}

const processErrors: Record<string, number> = {}
/**
 * libp2p sometimes raises errors outside any call the bench awaits (from
 * event listeners or timers). Count and log them (the first few in full)
 * instead of letting one kill the run and leave processes behind.
 */
const noteProcessError = (kind: string, err: any): void => {
  const key = `${kind}: ${err?.name ?? 'Error'}: ${String(err?.message ?? err).slice(0, 120)}`
  processErrors[key] = (processErrors[key] ?? 0) + 1
  if (Object.values(processErrors).reduce((a, b) => a + b, 0) <= 5) log(`${kind} (not fatal): ${err?.stack ?? err}`)
}
process.on('uncaughtException', (err) => { noteProcessError('uncaught exception', err) })
process.on('unhandledRejection', (err) => { noteProcessError('unhandled rejection', err) })

const stopEverything = async (): Promise<void> => {
  killWorkers()
  await Promise.race([closePeers(), new Promise(resolve => setTimeout(resolve, 10_000))])
  await stopAll()
}

const watchdog = setTimeout(() => {
  process.stderr.write(`[bench] did not finish in ${BENCH_DEADLINE / 1000} s; stopping\n`)
  void stopEverything().finally(() => process.exit(1))
}, BENCH_DEADLINE)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void stopEverything().finally(() => process.exit(130)) })
}

let failed = false
try {
  await main()
} catch (err: any) {
  failed = true
  process.stderr.write(`[bench] failed: ${err.stack ?? err.message}\n`)
} finally {
  await stopEverything()
  clearTimeout(watchdog)
}
process.exit(failed ? 1 : 0)
