/**
 * Node-side benchmarks: catch-up of a large room by a Node SDK peer,
 * sustained replication writer -> relay -> two readers, and the rate at
 * which one relay accepts pushed records. See bench/README.md.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { roomProtocol, type RoomProtocol } from '../shared/protocol/room-protocol.ts'
import { createRecordStore, memoryRecordStorage } from '../shared/record-store.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { formatRoomLink } from '../shared/link.ts'
import type { RoomClient } from '../shared/room-client.ts'
import { closePeer, openPeer, pollUntil, relayHealth, relayMetrics, sealMany, sleep } from './seed.ts'
import { round, summarize, type Summary } from './stats.ts'

type Log = (line: string) => void

/** CPU % of one core the relay used between two /metrics readings `wallMs` apart. */
function cpuPercent (before: Map<string, number>, after: Map<string, number>, wallMs: number): number {
  const cpu = (after.get('process_cpu_seconds_total') ?? Number.NaN) - (before.get('process_cpu_seconds_total') ?? Number.NaN)
  return Math.round(cpu * 1000 / wallMs * 100)
}

/** CPU % of one core this process used since `since`. */
function benchCpuPercent (since: NodeJS.CpuUsage, wallMs: number): number {
  const used = process.cpuUsage(since)
  return Math.round((used.user + used.system) / 1000 / wallMs * 100)
}

/** Counts relay-connection drops of a Node peer (they cost a reconnect and a sync). */
function countDrops (client: RoomClient, relayPeerId: string): () => number {
  let drops = 0
  client.node.addEventListener('peer:disconnect', (evt) => { if (evt.detail.toString() === relayPeerId) drops++ })
  return () => drops
}

// ------------------------------------------------------------ catch-up (Node)

export interface CatchupRun { ms?: number, watchMs?: number, connectedMs?: number, listCalls: number, entries: number, relayDrops: number, error?: string }

/**
 * From the call to openRoom() until session.list() returns `expected`
 * entries. list() opens every entry (~0.1 ms each), so it is called only
 * when the watch counter says enough records arrived, or every 10 s as a
 * fallback.
 */
export async function nodeCatchup (link: string, relayUrl: string, relayPeerId: string, expected: number, timeout: number): Promise<CatchupRun> {
  const started = performance.now()
  let client: RoomClient | undefined
  const run: CatchupRun = { listCalls: 0, entries: 0, relayDrops: 0 }
  try {
    client = await openPeer(link, relayUrl, timeout)
    const c = client
    run.connectedMs = round(performance.now() - started)
    const drops = countDrops(c, relayPeerId)
    let remote = 0
    c.session.watch(() => {
      remote++
      if (remote >= expected && run.watchMs == null) run.watchMs = round(performance.now() - started)
    })
    let lastList = 0
    const done = await pollUntil(async () => {
      if (remote < expected && performance.now() - lastList < 10_000) return false
      lastList = performance.now()
      run.listCalls++
      run.entries = (await c.session.list()).length
      return run.entries >= expected
    }, Math.max(0, timeout - (performance.now() - started)), 20)
    if (done) run.ms = round(performance.now() - started)
    else run.error = `only ${run.entries} of ${expected} entries after ${timeout} ms`
    run.relayDrops = drops()
  } catch (err: any) {
    run.error = err.message
  } finally {
    if (client != null) await closePeer(client)
  }
  return run
}

// ------------------------------------------------------------ replication

/** Timing wrappers (arguments and results pass through) around a peer's push and DHT put, like bench/probe.js in tabs. */
function timeSteps (client: RoomClient): { pushMs: number[], dhtPutMs: number[] } {
  const pushMs: number[] = []
  const dhtPutMs: number[] = []
  const rooms = client.node.services.rooms
  const push = rooms.push.bind(rooms)
  rooms.push = async (...args: Parameters<typeof push>) => {
    const t0 = performance.now()
    try {
      return await push(...args)
    } finally {
      pushMs.push(performance.now() - t0)
    }
  }
  const dht = client.node.services.dht as any
  const put = dht.put.bind(dht)
  dht.put = async function * (...args: unknown[]) {
    const t0 = performance.now()
    try {
      yield * put(...args)
    } finally {
      dhtPutMs.push(performance.now() - t0)
    }
  }
  return { pushMs, dhtPutMs }
}

export interface ReplicationResult {
  method: string
  puts: number
  window: number
  /** N / (time from the first put() call until both readers hold all N). */
  putsPerSecond: number
  /** Time from the first put() until both readers had all N (ms), or undefined. */
  replicatedMs?: number
  /** Time until every put() call resolved, and the writer's own rate. */
  writeMs: number
  writerPutsPerSecond: number
  putCallMs: Summary
  /** Steps inside W's put(), which run in parallel: push to the relay, DHT put (closest-peer query + PUT_VALUE). */
  pushToRelayMs: Summary
  dhtPutMs: Summary
  putErrors: number
  readers: Array<{ received: number, lastArrivalMs?: number, arrivedDuringWrites: number, relayDrops: number }>
  writerRelayDrops: number
  /** The relay's push counters over the run. */
  relayPushesServed: number
  relayRecordsAccepted: number
  /** CPU used over the run (from the first put until both readers were complete), % of one core: the relay process, and this bench process (W, R1, R2). */
  relayCpuPercent: number
  benchCpuPercent: number
  error?: string
}

/**
 * Writer W and readers R1, R2 are Node SDK peers in one fresh room; Node
 * peers have no WebRTC, so every record goes W -> relay -> (fan-out) R1, R2.
 * W calls session.put() for `puts` keys with `window` calls in flight; each
 * reader records the first `remote` watch event per key.
 */
export async function replication (relayUrl: string, relayPeerId: string, puts: number, window: number, timeout: number, log: Log): Promise<ReplicationResult> {
  const link = formatRoomLink(relayUrl, newRoomSecret())
  const peers: RoomClient[] = []
  const result: ReplicationResult = {
    putsPerSecond: Number.NaN,
    puts,
    window,
    writeMs: Number.NaN,
    writerPutsPerSecond: Number.NaN,
    putCallMs: summarize([]),
    pushToRelayMs: summarize([]),
    dhtPutMs: summarize([]),
    putErrors: 0,
    readers: [],
    writerRelayDrops: 0,
    relayPushesServed: 0,
    relayRecordsAccepted: 0,
    relayCpuPercent: Number.NaN,
    benchCpuPercent: Number.NaN,
    method: `Node SDK peers (openRoom) W, R1, R2 in one fresh room on a relay with raised limits; W calls session.put() for ${puts} keys (64-byte values), ${window} calls in flight; R1 and R2 record the first remote watch() event per key; records travel W -> relay -> relay fan-out -> R1, R2 (Node peers have no WebRTC)`,
  }
  try {
    const [w, r1, r2] = await Promise.all([0, 1, 2].map(async () => await openPeer(link, relayUrl)))
    peers.push(w, r1, r2)
    // The relay forwards to members it has seen push or sync: wait for the readers' first sync.
    const synced = await pollUntil(() => r1.session.status().lastSync != null && r2.session.status().lastSync != null, 15_000, 50)
    if (!synced) log('replication: readers did not finish their first sync in 15 s; going on')
    const drops = [w, r1, r2].map(p => countDrops(p, relayPeerId))
    const arrivals = [new Map<string, number>(), new Map<string, number>()]
    ;[r1, r2].forEach((r, i) => {
      r.session.watch((change) => {
        if (change.source === 'remote' && change.key.startsWith('rep-') && !arrivals[i].has(change.key)) arrivals[i].set(change.key, performance.now())
      })
    })
    const { pushMs, dhtPutMs } = timeSteps(w)
    const before = await relayMetrics(relayUrl)
    const cpuBefore = process.cpuUsage()
    const calls: number[] = []
    let next = 0
    const started = performance.now()
    await Promise.all(Array.from({ length: window }, async () => {
      while (next < puts) {
        const i = next++
        const t0 = performance.now()
        try {
          await w.session.put(`rep-${String(i).padStart(4, '0')}`, `${i}:`.padEnd(64, 'x'))
          calls.push(performance.now() - t0)
        } catch {
          result.putErrors++
        }
      }
    }))
    const wroteAt = performance.now()
    result.writeMs = round(wroteAt - started)
    result.writerPutsPerSecond = round(puts / ((wroteAt - started) / 1000))
    result.putCallMs = summarize(calls)
    result.pushToRelayMs = summarize(pushMs)
    result.dhtPutMs = summarize(dhtPutMs)
    const all = await pollUntil(() => arrivals.every(a => a.size >= puts), Math.max(0, timeout - (wroteAt - started)), 50)
    const after = await relayMetrics(relayUrl)
    const wall = performance.now() - started
    result.relayCpuPercent = cpuPercent(before, after, wall)
    result.benchCpuPercent = benchCpuPercent(cpuBefore, wall)
    result.relayPushesServed = (after.get('roomkv_requests_served_total{kind="push"}') ?? 0) - (before.get('roomkv_requests_served_total{kind="push"}') ?? 0)
    result.relayRecordsAccepted = (after.get('roomkv_records_accepted_total') ?? 0) - (before.get('roomkv_records_accepted_total') ?? 0)
    result.readers = arrivals.map((a, i) => {
      const times = [...a.values()]
      return {
        received: a.size,
        lastArrivalMs: times.length > 0 ? round(Math.max(...times) - started) : undefined,
        arrivedDuringWrites: times.filter(t => t <= wroteAt).length,
        relayDrops: drops[i + 1]()
      }
    })
    result.writerRelayDrops = drops[0]()
    if (all) {
      result.replicatedMs = round(Math.max(...result.readers.map(r => r.lastArrivalMs ?? Number.NaN)))
      result.putsPerSecond = round(puts / (result.replicatedMs / 1000))
    } else {
      result.error = `readers hold ${result.readers.map(r => r.received).join(' and ')} of ${puts} after ${timeout} ms`
    }
  } catch (err: any) {
    result.error = err.message
  } finally {
    await Promise.allSettled(peers.map(closePeer))
  }
  return result
}

// ------------------------------------------------------------ relay push throughput

export interface ThroughputResult {
  method: string
  clients: number
  recordsPerPush: number
  inFlightPerClient: number
  /** roomkv_records_accepted_total delta / elapsed. */
  recordsPerSecond: number
  /** roomkv_requests_served_total{kind="push"} delta / elapsed. */
  pushesPerSecond: number
  elapsedMs: number
  accepted: number
  sent: number
  /** Pre-sealed records ran out before the time was up. */
  exhausted: boolean
  pushMs: Summary
  pushErrors: number
  rejected: number
  sealMs: number
  /** CPU used over the timed part, % of one core: the relay process, and this bench process (the clients). */
  relayCpuPercent: number
  benchCpuPercent: number
  /** Relay CPU per accepted record (ms). */
  relayCpuMsPerRecord: number
  error?: string
}

/** A minimal libp2p client that speaks only the roomkv room protocols (no DHT). */
async function pushClient (): Promise<Libp2p<{ rooms: RoomProtocol }>> {
  return await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      rooms: roomProtocol({ store: createRecordStore(memoryRecordStorage()) })
    }
  }) as unknown as Libp2p<{ rooms: RoomProtocol }>
}

/**
 * M clients, each in its own fresh room, push pre-sealed records (one per
 * push, like session.put does) to the relay, `inFlight` pushes at a time
 * per client, for `durationMs` or until the records run out.
 */
export async function pushThroughput (relayUrl: string, relayPeerId: string, clients: number, perClient: number, inFlight: number, durationMs: number, log: Log): Promise<ThroughputResult> {
  const result: ThroughputResult = {
    recordsPerSecond: Number.NaN,
    clients,
    recordsPerPush: 1,
    inFlightPerClient: inFlight,
    pushesPerSecond: Number.NaN,
    elapsedMs: Number.NaN,
    accepted: 0,
    sent: 0,
    exhausted: false,
    pushMs: summarize([]),
    pushErrors: 0,
    rejected: 0,
    sealMs: Number.NaN,
    relayCpuPercent: Number.NaN,
    benchCpuPercent: Number.NaN,
    relayCpuMsPerRecord: Number.NaN,
    method: `${clients} minimal libp2p clients (WebSockets + noise + yamux + identify + ping + roomkv room protocols, no DHT), each in its own fresh room, push pre-sealed records (1 record per push, like session.put) to a fresh relay with raised limits, ${inFlight} pushes in flight per client, for ${durationMs / 1000} s or until ${perClient} records per client run out; rate = delta of roomkv_records_accepted_total from /metrics / elapsed`,
  }
  const nodes: Array<Libp2p<{ rooms: RoomProtocol }>> = []
  try {
    const t0 = performance.now()
    const rooms = Array.from({ length: clients }, () => {
      const keys = deriveRoomKeys(newRoomSecret())
      return { roomId: keys.roomId, records: sealMany(keys, perClient, 'tp/') }
    })
    result.sealMs = round(performance.now() - t0)
    log(`throughput: sealed ${clients} x ${perClient} records in ${Math.round(result.sealMs)} ms`)
    const health = await relayHealth(relayUrl)
    const addr = (health.multiaddrs as string[]).find(ma => ma.includes('/ws/'))
    if (addr == null) throw new Error('relay announces no ws multiaddr')
    const relay = peerIdFromString(relayPeerId)
    for (let i = 0; i < clients; i++) {
      const node = await pushClient()
      nodes.push(node)
      await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(15_000) })
    }
    await sleep(500)
    const before = await relayMetrics(relayUrl)
    const cpuBefore = process.cpuUsage()
    const latencies: number[] = []
    const started = performance.now()
    const deadline = started + durationMs
    await Promise.all(nodes.flatMap((node, c) => {
      let next = 0
      return Array.from({ length: inFlight }, async () => {
        while (performance.now() < deadline && next < rooms[c].records.length) {
          const record = rooms[c].records[next++]
          const p0 = performance.now()
          try {
            const pushed = await node.services.rooms.push(relay, rooms[c].roomId, [record], { signal: AbortSignal.timeout(10_000) })
            result.rejected += pushed.rejected
            latencies.push(performance.now() - p0)
          } catch {
            result.pushErrors++
          }
          result.sent++
        }
      })
    }))
    const elapsed = performance.now() - started
    const after = await relayMetrics(relayUrl)
    result.exhausted = performance.now() < deadline
    result.elapsedMs = round(elapsed)
    result.accepted = (after.get('roomkv_records_accepted_total') ?? 0) - (before.get('roomkv_records_accepted_total') ?? 0)
    const pushes = (after.get('roomkv_requests_served_total{kind="push"}') ?? 0) - (before.get('roomkv_requests_served_total{kind="push"}') ?? 0)
    result.recordsPerSecond = round(result.accepted / (elapsed / 1000))
    result.pushesPerSecond = round(pushes / (elapsed / 1000))
    result.pushMs = summarize(latencies)
    result.relayCpuPercent = cpuPercent(before, after, elapsed)
    result.benchCpuPercent = benchCpuPercent(cpuBefore, elapsed)
    result.relayCpuMsPerRecord = result.accepted > 0 ? round(((after.get('process_cpu_seconds_total') ?? Number.NaN) - (before.get('process_cpu_seconds_total') ?? Number.NaN)) * 1000 / result.accepted) : Number.NaN
    log(`throughput: ${result.accepted} records accepted in ${Math.round(elapsed)} ms = ${result.recordsPerSecond}/s, relay CPU ${result.relayCpuPercent}% (${result.relayCpuMsPerRecord} ms/record) (${result.sent} sent, ${result.pushErrors} push errors${result.exhausted ? ', records ran out' : ''})`)
  } catch (err: any) {
    result.error = err.message
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  }
  return result
}
