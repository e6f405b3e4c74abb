/**
 * Node integration: replication sessions through a real relay process.
 * Many puts from one peer reach two others with none lost and every ack
 * honest; members that never read do not slow a writer down or grow the
 * relay; malformed session frames are refused and counted.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { health, metric as observed, metricsText } from './relay-observe.ts'
import { openRoom } from '../../cli/node-peer.ts'
import { MAX_SIGNAL_BYTES, REPLICATE_PROTOCOL } from '../../shared/constants.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { ReplicateFrame } from '../../shared/proto/protocol.ts'
import { encodeReplicateFrame } from '../../shared/protocol/replication.ts'
import { deriveRoomKeys, newRoomSecret } from '../../shared/room-keys.ts'
import type { RoomClient } from '../../shared/room-client.ts'

let relay: RelayProcess
const clients: RoomClient[] = []
const raw: Libp2p[] = []

async function enter (link: string): Promise<RoomClient> {
  const client = await openRoom(link)
  clients.push(client)
  await client.relay.connected(15_000)
  return client
}

/** One metric's value (0 when absent) in the relay's /metrics text. */
const metric = (text: string, name: string, labels: Record<string, string> = {}): number => observed(text, name, labels) ?? 0

/** A bare libp2p client: no roomkv code, free to send anything on a session. */
async function rawClient (): Promise<Libp2p> {
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
    connectionMonitor: { enabled: false }
  })
  raw.push(node)
  return node
}

const frame = encodeReplicateFrame

beforeAll(async () => { relay = await startRelayProcess() })
afterAll(async () => {
  await Promise.allSettled(clients.map(async c => { await c.close() }))
  await Promise.allSettled(raw.map(async n => { await n.stop() }))
  await relay?.stop()
})

describe('replication sessions', () => {
  test('5,000 puts from one peer reach two others, none lost, every ack honest', { timeout: 180_000 }, async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const writer = await enter(link)
    const readers = [await enter(link), await enter(link)]
    const seen = readers.map(() => new Set<string>())
    readers.forEach((r, i) => r.session.watch(change => { seen[i].add(change.key) }))
    // Readers open their sessions with the relay on start: give them a moment to be members.
    await new Promise(resolve => setTimeout(resolve, 500))

    const started = Date.now()
    const results = []
    for (let i = 0; i < 5000; i += 500) {
      results.push(...await Promise.all(Array.from({ length: 500 }, async (_, j) => writer.session.put(`k${String(i + j).padStart(5, '0')}`, i + j))))
    }
    const putMs = Date.now() - started
    // Every put was acknowledged by the relay, honestly: the relay holds it.
    const delivered = await Promise.all(results.map(async r => r.delivered))
    expect(delivered.filter(d => !d.storedOn.includes(relay.peerId))).toEqual([])
    for (const [i, reader] of readers.entries()) {
      await expect.poll(() => seen[i].size, { timeout: 120_000, interval: 250 }).toBe(5000)
      expect((await reader.session.list()).length).toBe(5000)
    }
    const allMs = Date.now() - started
    console.log(`5,000 puts: put() calls done in ${putMs} ms, on both readers after ${allMs} ms (${Math.round(5000 / (allMs / 1000))}/s)`)
    // A fresh peer that joins now gets everything from the relay's copy.
    const late = await enter(link)
    await expect.poll(async () => (await late.session.list()).length, { timeout: 60_000, interval: 500 }).toBe(5000)
  })

  test('members that never read get their updates dropped, not queued without bound; real members still get everything', { timeout: 120_000 }, async () => {
    const secret = newRoomSecret()
    const keys = deriveRoomKeys(secret)
    const link = formatRoomLink(relay.url, secret)
    const relayAddr = multiaddr((await (await fetch(`${relay.url}/roomkv.json`)).json()).multiaddrs[0])
    // 20 fake members: each opens a session for the room and never reads a byte.
    for (let i = 0; i < 20; i++) {
      const node = await rawClient()
      const stream = await node.dialProtocol(relayAddr, REPLICATE_PROTOCOL)
      await lpStream(stream).write(frame({ roomId: keys.roomId }))
      // The relay takes at most 16 new connections a second from one address.
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const before = await metricsText(relay)
    const writer = await enter(link)
    const reader = await enter(link)
    const seen = new Set<string>()
    reader.session.watch(change => { seen.add(change.key) })
    await new Promise(resolve => setTimeout(resolve, 500))
    const value = 'v'.repeat(2000) // 2 KB a record: 2,000 records = 4 MB per fake member if queued
    for (let i = 0; i < 2000; i += 250) {
      await Promise.all(Array.from({ length: 250 }, async (_, j) => writer.session.put(`k${i + j}`, value)))
    }
    await expect.poll(() => seen.size, { timeout: 60_000, interval: 250 }).toBe(2000)
    const after = await metricsText(relay)
    // Fan-out to the stalled members stopped at their bounded queues.
    expect(metric(after, 'roomkv_fanout_dropped_total') - metric(before, 'roomkv_fanout_dropped_total')).toBeGreaterThan(0)
    expect((await health(relay)).ok).toBe(true)
    // 20 stalled members x (2 MiB queue + 4 frames in flight) at most, plus the relay itself.
    expect(metric(after, 'process_resident_memory_bytes')).toBeLessThan(900 * 1024 * 1024)
  })

  test('malformed session frames are refused and counted; the relay keeps serving', { timeout: 60_000 }, async () => {
    const secret = newRoomSecret()
    const keys = deriveRoomKeys(secret)
    const relayAddr = multiaddr((await (await fetch(`${relay.url}/roomkv.json`)).json()).multiaddrs[0])
    const node = await rawClient()
    const before = await metricsText(relay)
    const attempts: Uint8Array[][] = [
      [frame({ seq: 1, records: [new Uint8Array(10)] })], // no hello first
      [frame({ roomId: new Uint8Array(3) })], // bad room id
      [frame({ roomId: keys.roomId }), frame({ seq: 1, records: Array.from({ length: 600 }, () => new Uint8Array(1)) })], // too many records
      [frame({ roomId: keys.roomId }), frame({ seq: 1, records: [new Uint8Array(0), new Uint8Array(5)] })], // empty records
      [frame({ roomId: keys.roomId }), frame({ ack: 99 })], // ack of nothing
      [frame({ roomId: keys.roomId }), ...Array.from({ length: 10 }, (_, i) => frame({ seq: i + 1, records: [new Uint8Array(40)] }))] // past the window
    ]
    for (const frames of attempts) {
      const stream = await node.dialProtocol(relayAddr, REPLICATE_PROTOCOL)
      const lp = lpStream(stream)
      for (const f of frames) await lp.write(f).catch(() => {})
      // The relay answers with an error frame, or resets: either way the stream ends.
      await lp.read({ signal: AbortSignal.timeout(5000) }).catch(() => undefined)
      stream.abort(new Error('done'))
    }
    const after = await metricsText(relay)
    const refused = (code: string): number => metric(after, 'roomkv_records_rejected_total', { reason: code }) - metric(before, 'roomkv_records_rejected_total', { reason: code })
    const reasons = [...after.matchAll(/^roomkv_records_rejected_total\{reason="([^"]+)"\}/gm)].map(m => m[1])
    const counts = Object.fromEntries(reasons.map(r => [r, refused(r)]).filter(([, n]) => (n as number) > 0))
    // Each of the six attempts is refused and counted under some code.
    expect(Object.values(counts).reduce((a, b) => (a as number) + (b as number), 0), JSON.stringify(counts)).toBeGreaterThanOrEqual(6)
    // Still serving.
    const a = await enter(formatRoomLink(relay.url, secret))
    expect((await a.session.put('still', 'here', { quorum: 1 })).storedOn).toContain(relay.peerId)
  })

  test('sealed signals are passed on between sessions that take them; refusals go back to the sender; oversized ones end the session', { timeout: 60_000 }, async () => {
    const keys = deriveRoomKeys(newRoomSecret())
    const relayAddr = multiaddr((await (await fetch(`${relay.url}/roomkv.json`)).json()).multiaddrs[0])
    const session = async (takesSignals: boolean): Promise<{ node: Libp2p, lp: ReturnType<typeof lpStream>, id: Uint8Array }> => {
      const node = await rawClient()
      const stream = await node.dialProtocol(relayAddr, REPLICATE_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(frame({ roomId: keys.roomId, signals: takesSignals }))
      return { node, lp, id: node.peerId.toMultihash().bytes }
    }
    const next = async (lp: ReturnType<typeof lpStream>): Promise<ReplicateFrame> => ReplicateFrame.decode(await lp.read({ signal: AbortSignal.timeout(5000) }))
    const x = await session(true)
    const y = await session(true)
    const old = await session(false)
    // The relay lists members to newcomers: skip those frames.
    const nextSignal = async (lp: ReturnType<typeof lpStream>): Promise<ReplicateFrame> => {
      for (;;) {
        const f = await next(lp)
        if (f.signalPeer.length > 0) return f
      }
    }
    const sealed = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
    await x.lp.write(frame({ signalPeer: y.id, signal: sealed }))
    const passed = await nextSignal(y.lp)
    expect(Buffer.from(passed.signalPeer).equals(Buffer.from(x.id))).toBe(true) // who sent it, as the relay knows it
    expect(Buffer.from(passed.signal).equals(Buffer.from(sealed))).toBe(true)
    // To a member whose hello did not say it takes signals, and to nobody at all: refused, back to the sender.
    await x.lp.write(frame({ signalPeer: old.id, signal: sealed }))
    const refusedOld = await nextSignal(x.lp)
    expect(Buffer.from(refusedOld.signalPeer).equals(Buffer.from(old.id))).toBe(true)
    expect(refusedOld.error).toBe('ERR_NO_SESSION')
    expect(refusedOld.signal.length).toBe(0)
    const stranger = (await rawClient()).peerId.toMultihash().bytes
    await x.lp.write(frame({ signalPeer: stranger, signal: sealed }))
    expect((await nextSignal(x.lp)).error).toBe('ERR_NO_SESSION')
    // Over MAX_SIGNAL_BYTES: a protocol error, the session ends.
    await y.lp.write(frame({ signalPeer: x.id, signal: new Uint8Array(MAX_SIGNAL_BYTES + 1) }))
    await expect(nextSignal(y.lp)).rejects.toThrow()
    // x's session is unharmed.
    await x.lp.write(frame({ signalPeer: old.id, signal: sealed }))
    expect((await nextSignal(x.lp)).error).toBe('ERR_NO_SESSION')
  })
})
