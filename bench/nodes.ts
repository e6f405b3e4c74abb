/**
 * Node-side benchmarks: catch-up of a large room by a Node SDK peer,
 * sustained replication writer -> relay -> two readers, and the rate at
 * which one relay accepts records sent over replication sessions. See
 * bench/README.md.
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
import { createRecordStore, memoryRecordStorage, type RecordStore } from '../shared/record-store.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { formatRoomLink } from '../shared/link.ts'
import type { RoomClient } from '../shared/room-client.ts'
import { closePeer, openPeer, pollUntil, relayHealth, relayMetrics, sealManyAsync, sleep } from './seed.ts'
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

/**
 * Timing wrappers (arguments and results pass through) around a peer's
 * replication sends and its background DHT puts, like bench/probe.js in tabs.
 * Neither runs inside put() any more: put() resolves at the local write.
 */
function timeSteps (client: RoomClient, relayPeerId: string): { sendToRelayMs: number[], dhtPutMs: number[] } {
  const sendToRelayMs: number[] = []
  const dhtPutMs: number[] = []
  const replication = client.node.services.rooms.replication
  const send = replication.send.bind(replication)
  replication.send = async (...args: Parameters<typeof send>) => {
    const t0 = performance.now()
    try {
      return await send(...args)
    } finally {
      if (args[0].toString() === relayPeerId) sendToRelayMs.push(performance.now() - t0)
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
  return { sendToRelayMs, dhtPutMs }
}

export interface ReplicationResult {
  method: string
  puts: number
  /** put() calls issued together (Promise.all), chunk after chunk. */
  chunk: number
  /** N / (time from the first put() call until both readers hold all N). */
  putsPerSecond: number
  /** Time from the first put() until both readers had all N (ms), or undefined. */
  replicatedMs?: number
  /** Time until every put() call resolved (local writes), and the writer's own rate. */
  writeMs: number
  writerPutsPerSecond: number
  /** Time until every put's `delivered` resolved (the relay answered for each), or undefined. */
  deliveredMs?: number
  /** Puts whose `delivered` lists the relay in storedOn. */
  ackedByRelay: number
  /** Refusal codes in `delivered`, with counts. */
  refused: Record<string, number>
  putCallMs: Summary
  /** Each replication.send to the relay until its answers came back (queue + batch + ack), and the background DHT PUTs. */
  sendToRelayMs: Summary
  dhtPutMs: Summary
  putErrors: number
  readers: Array<{ received: number, lastArrivalMs?: number, arrivedDuringWrites: number, relayDrops: number }>
  writerRelayDrops: number
  /** The relay's counters over the run: batches served, records accepted, records forwarded to members. */
  relayBatchesServed: number
  relayRecordsAccepted: number
  relayRecordsForwarded: number
  /** CPU used over the run (from the first put until both readers were complete), % of one core: the relay process, and this bench process (W, R1, R2). */
  relayCpuPercent: number
  benchCpuPercent: number
  error?: string
}

/**
 * Writer W and readers R1, R2 are Node SDK peers in one fresh room; Node
 * peers have no WebRTC, so every record goes W -> relay -> (fan-out) R1, R2.
 * W calls session.put() for `puts` keys, `chunk` calls at a time
 * (Promise.all; put() resolves at the local write, nothing waits for the
 * network); each reader records the first `remote` watch event per key.
 */
export async function replication (relayUrl: string, relayPeerId: string, puts: number, chunk: number, timeout: number, log: Log): Promise<ReplicationResult> {
  const link = formatRoomLink(relayUrl, newRoomSecret())
  const peers: RoomClient[] = []
  const result: ReplicationResult = {
    putsPerSecond: Number.NaN,
    puts,
    chunk,
    writeMs: Number.NaN,
    writerPutsPerSecond: Number.NaN,
    ackedByRelay: 0,
    refused: {},
    putCallMs: summarize([]),
    sendToRelayMs: summarize([]),
    dhtPutMs: summarize([]),
    putErrors: 0,
    readers: [],
    writerRelayDrops: 0,
    relayBatchesServed: 0,
    relayRecordsAccepted: 0,
    relayRecordsForwarded: 0,
    relayCpuPercent: Number.NaN,
    benchCpuPercent: Number.NaN,
    method: `Node SDK peers (openRoom, in-memory storage) W, R1, R2 in one fresh room on a relay with raised limits; W calls session.put() (no quorum) for ${puts} keys (64-byte values), ${chunk} calls at a time (Promise.all), chunk after chunk; R1 and R2 record the first remote watch() event per key; rate = ${puts} / (first put() call -> both readers hold all); records travel W -> relay -> relay fan-out -> R1, R2 over replication sessions (Node peers have no WebRTC)`
  }
  try {
    const [w, r1, r2] = await Promise.all([0, 1, 2].map(async () => await openPeer(link, relayUrl)))
    peers.push(w, r1, r2)
    // The relay forwards to members with a live session; a session opens
    // before the first sync, so a finished sync means the reader is a member.
    const synced = await pollUntil(() => r1.session.status().lastSync != null && r2.session.status().lastSync != null, 15_000, 50)
    if (!synced) log('replication: readers did not finish their first sync in 15 s; going on')
    const drops = [w, r1, r2].map(p => countDrops(p, relayPeerId))
    const arrivals = [new Map<string, number>(), new Map<string, number>()]
    ;[r1, r2].forEach((r, i) => {
      r.session.watch((change) => {
        if (change.source === 'remote' && change.key.startsWith('rep-') && !arrivals[i].has(change.key)) arrivals[i].set(change.key, performance.now())
      })
    })
    const { sendToRelayMs, dhtPutMs } = timeSteps(w, relayPeerId)
    const before = await relayMetrics(relayUrl)
    const cpuBefore = process.cpuUsage()
    const calls: number[] = []
    const delivered: Array<Promise<void>> = []
    let lastDelivered = Number.NaN
    const started = performance.now()
    for (let c = 0; c < puts; c += chunk) {
      await Promise.all(Array.from({ length: Math.min(chunk, puts - c) }, async (_, j) => {
        const i = c + j
        const t0 = performance.now()
        try {
          const put = await w.session.put(`rep-${String(i).padStart(5, '0')}`, `${i}:`.padEnd(64, 'x'))
          calls.push(performance.now() - t0)
          delivered.push(put.delivered.then((d) => {
            lastDelivered = performance.now()
            if (d.storedOn.includes(relayPeerId)) result.ackedByRelay++
            for (const code of d.refused) result.refused[code] = (result.refused[code] ?? 0) + 1
          }, () => {}))
        } catch {
          result.putErrors++
        }
      }))
    }
    const wroteAt = performance.now()
    result.writeMs = round(wroteAt - started)
    result.writerPutsPerSecond = round(puts / ((wroteAt - started) / 1000))
    result.putCallMs = summarize(calls)
    let allDelivered = false
    void Promise.all(delivered).then(() => { allDelivered = true })
    const all = await pollUntil(() => arrivals.every(a => a.size >= puts) && allDelivered, Math.max(0, timeout - (wroteAt - started)), 20)
    const after = await relayMetrics(relayUrl)
    const wall = performance.now() - started
    if (allDelivered) result.deliveredMs = round(lastDelivered - started)
    result.sendToRelayMs = summarize(sendToRelayMs)
    result.dhtPutMs = summarize(dhtPutMs)
    result.relayCpuPercent = cpuPercent(before, after, wall)
    result.benchCpuPercent = benchCpuPercent(cpuBefore, wall)
    const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0)
    result.relayBatchesServed = delta('roomkv_requests_served_total{kind="push"}')
    result.relayRecordsAccepted = delta('roomkv_records_accepted_total')
    result.relayRecordsForwarded = delta('roomkv_fanout_forwarded_total')
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
    if (arrivals.every(a => a.size >= puts)) {
      result.replicatedMs = round(Math.max(...result.readers.map(r => r.lastArrivalMs ?? Number.NaN)))
      result.putsPerSecond = round(puts / (result.replicatedMs / 1000))
    }
    if (!all) {
      result.error = `after ${timeout} ms: readers hold ${result.readers.map(r => r.received).join(' and ')} of ${puts}; ${allDelivered ? 'every' : 'not every'} put's delivered resolved`
    }
  } catch (err: any) {
    result.error = err.message
  } finally {
    await Promise.allSettled(peers.map(closePeer))
  }
  return result
}

// ------------------------------------------------------------ relay throughput

/** A minimal libp2p client that speaks only the roomkv room protocols (no DHT, no room session). */
export async function roomsClient (store: RecordStore = createRecordStore(memoryRecordStorage())): Promise<Libp2p<{ rooms: RoomProtocol }>> {
  return await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      rooms: roomProtocol({ store })
    }
  }) as unknown as Libp2p<{ rooms: RoomProtocol }>
}

/** A roomsClient (over `store`, default a fresh in-memory one) connected to the relay's WebSockets address. */
export async function connectRoomsClient (relayUrl: string, store?: RecordStore): Promise<Libp2p<{ rooms: RoomProtocol }>> {
  const health = await relayHealth(relayUrl)
  const addr = (health.multiaddrs as string[]).find(ma => ma.includes('/ws/'))
  if (addr == null) throw new Error('relay announces no ws multiaddr')
  const node = await roomsClient(store)
  try {
    await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(15_000) })
  } catch (err) {
    await node.stop()
    throw err
  }
  return node
}

export interface ThroughputPhase {
  /** roomkv_records_accepted_total delta / elapsed. */
  recordsPerSecond: number
  /** roomkv_requests_served_total{kind="push"} delta (batches the relay served) / elapsed. */
  batchesPerSecond: number
  elapsedMs: number
  accepted: number
  sent: number
  /** Every record was sent before the time was up. */
  exhausted: boolean
  /** Time of each send call until the relay's answers came back. */
  sendMs: Summary
  sendErrors: number
  /** The first send error's message, if any. */
  firstError?: string
  rejected: number
  /** CPU used over the phase, % of one core: the relay process, and this bench process (the clients). */
  relayCpuPercent: number
  benchCpuPercent: number
  /** Relay CPU per accepted record (ms). */
  relayCpuMsPerRecord: number
}

export interface ThroughputResult {
  method: string
  clients: number
  sealMs: number
  /** The headline: records per second the relay accepted in the batched phase. */
  recordsPerSecond: number
  /** Each client hands all its records to its session at once (the session batches them: up to 512 records / 256 KiB a batch, 4 batches unacknowledged). */
  batched: ThroughputPhase & { recordsPerClient: number }
  /** One record per send, `inFlightPerClient` sends pending per client (what sequential puts look like). */
  single: ThroughputPhase & { recordsPerClient: number, inFlightPerClient: number }
  error?: string
}

const emptyPhase = (): ThroughputPhase => ({
  recordsPerSecond: Number.NaN,
  batchesPerSecond: Number.NaN,
  elapsedMs: Number.NaN,
  accepted: 0,
  sent: 0,
  exhausted: false,
  sendMs: summarize([]),
  sendErrors: 0,
  rejected: 0,
  relayCpuPercent: Number.NaN,
  benchCpuPercent: Number.NaN,
  relayCpuMsPerRecord: Number.NaN
})

/**
 * Run `senders` (one per client) against the relay for at most `durationMs`
 * and read the relay's counters before and after.
 */
async function throughputPhase (relayUrl: string, phase: ThroughputPhase, durationMs: number, senders: Array<(deadline: number) => Promise<void>>): Promise<void> {
  const before = await relayMetrics(relayUrl)
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const deadline = started + durationMs
  // A send that outlives the deadline is not waited for: the rate counts what the relay accepted by then.
  await Promise.race([Promise.all(senders.map(async s => { await s(deadline) })), sleep(durationMs + 1000)])
  const elapsed = performance.now() - started
  const after = await relayMetrics(relayUrl)
  const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0)
  phase.exhausted = performance.now() < deadline
  phase.elapsedMs = round(elapsed)
  phase.accepted = delta('roomkv_records_accepted_total')
  phase.recordsPerSecond = round(phase.accepted / (elapsed / 1000))
  phase.batchesPerSecond = round(delta('roomkv_requests_served_total{kind="push"}') / (elapsed / 1000))
  phase.relayCpuPercent = cpuPercent(before, after, elapsed)
  phase.benchCpuPercent = benchCpuPercent(cpuBefore, elapsed)
  phase.relayCpuMsPerRecord = phase.accepted > 0 ? round(delta('process_cpu_seconds_total') * 1000 / phase.accepted) : Number.NaN
}

/**
 * M clients, each in its own fresh room, send pre-sealed records to the
 * relay over their replication session (rooms.push: records in, the
 * relay's per-record answers back). Two phases on fresh records: batched
 * (all of a client's records in one call; the session splits them into
 * batches) then single (one record per call, `inFlight` calls pending per
 * client). Each phase ends after `durationMs` or when the records run out.
 */
export async function pushThroughput (relayUrl: string, relayPeerId: string, clients: number, perClient: { batched: number, single: number }, inFlight: number, durationMs: number, log: Log): Promise<ThroughputResult> {
  const result: ThroughputResult = {
    recordsPerSecond: Number.NaN,
    clients,
    sealMs: Number.NaN,
    batched: { ...emptyPhase(), recordsPerClient: perClient.batched },
    single: { ...emptyPhase(), recordsPerClient: perClient.single, inFlightPerClient: inFlight },
    method: `${clients} minimal libp2p clients (WebSockets + noise + yamux + identify + ping + roomkv room protocols, no DHT, no room session), each in its own fresh room, send records sealed before the clock starts (sealRecordAsync) to a fresh relay with raised limits over their replication session (rooms.push); batched phase: each client hands its ${perClient.batched} records to one rooms.push call (the session sends batches of up to 512 records / 256 KiB, 4 unacknowledged); single phase: ${perClient.single} other records per client, one per rooms.push, ${inFlight} pending per client; each phase at most ${durationMs / 1000} s; rate = delta of roomkv_records_accepted_total from /metrics / elapsed`
  }
  const nodes: Array<Libp2p<{ rooms: RoomProtocol }>> = []
  try {
    const t0 = performance.now()
    const rooms: Array<{ roomId: Uint8Array, batched: Uint8Array[], single: Uint8Array[] }> = []
    for (let c = 0; c < clients; c++) {
      const keys = deriveRoomKeys(newRoomSecret())
      const records = await sealManyAsync(keys, perClient.batched + perClient.single, 'tp/')
      rooms.push({ roomId: keys.roomId, batched: records.slice(0, perClient.batched), single: records.slice(perClient.batched) })
    }
    result.sealMs = round(performance.now() - t0)
    log(`throughput: sealed ${clients} x ${perClient.batched + perClient.single} records in ${Math.round(result.sealMs)} ms`)
    const relay = peerIdFromString(relayPeerId)
    for (let i = 0; i < clients; i++) nodes.push(await connectRoomsClient(relayUrl))
    // Open every session before the clock starts (a hello round trip each).
    await Promise.all(nodes.map(async (node, c) => { await node.services.rooms.replication.open(relay, rooms[c].roomId) }))
    await sleep(500)

    const b = result.batched
    const batchedMs: number[] = []
    await throughputPhase(relayUrl, b, durationMs, nodes.map((node, c) => async (deadline) => {
      const p0 = performance.now()
      try {
        const pushed = await node.services.rooms.push(relay, rooms[c].roomId, rooms[c].batched, { signal: AbortSignal.timeout(Math.max(1, Math.ceil(deadline - p0))) })
        b.rejected += pushed.rejected
        batchedMs.push(performance.now() - p0)
      } catch (err: any) {
        b.sendErrors++
        b.firstError ??= err.message
      }
      b.sent += rooms[c].batched.length
    }))
    b.sendMs = summarize(batchedMs)
    result.recordsPerSecond = b.recordsPerSecond
    log(`throughput, batched: ${b.accepted} records accepted in ${Math.round(b.elapsedMs)} ms = ${b.recordsPerSecond}/s, ${b.batchesPerSecond} batches/s, relay CPU ${b.relayCpuPercent}% (${b.relayCpuMsPerRecord} ms/record)${b.sendErrors > 0 ? `, ${b.sendErrors} clients did not finish (${b.firstError})` : ''}`)

    const s = result.single
    const singleMs: number[] = []
    await throughputPhase(relayUrl, s, durationMs, nodes.flatMap((node, c) => {
      let next = 0
      return Array.from({ length: inFlight }, () => async (deadline: number) => {
        while (performance.now() < deadline && next < rooms[c].single.length) {
          const record = rooms[c].single[next++]
          const p0 = performance.now()
          try {
            const pushed = await node.services.rooms.push(relay, rooms[c].roomId, [record], { signal: AbortSignal.timeout(10_000) })
            s.rejected += pushed.rejected
            singleMs.push(performance.now() - p0)
          } catch (err: any) {
            s.sendErrors++
            s.firstError ??= err.message
          }
          s.sent++
        }
      })
    }))
    s.sendMs = summarize(singleMs)
    log(`throughput, 1 record per send: ${s.accepted} records accepted in ${Math.round(s.elapsedMs)} ms = ${s.recordsPerSecond}/s, relay CPU ${s.relayCpuPercent}% (${s.relayCpuMsPerRecord} ms/record) (${s.sent} sent, ${s.sendErrors} send errors${s.firstError != null ? ` (${s.firstError})` : ''}${s.exhausted ? ', records ran out' : ''})`)
  } catch (err: any) {
    result.error = err.message
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  }
  return result
}
