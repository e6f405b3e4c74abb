/**
 * Sync 2.0.0 against a real relay process over WebSockets: a minimal
 * libp2p member with its own record store joins a room the relay holds,
 * re-syncs after missing changes with a few KiB, pushes back what the relay
 * lacks; hostile askers (endless rounds, malformed ranges, oversized want)
 * are refused with their codes and counted in /metrics.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { lpStream } from '@libp2p/utils'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { sealManyAsync } from '../../bench/seed.ts'
import { SYNC_PROTOCOL } from '../../shared/constants.ts'
import { SyncQuery, SyncReply } from '../../shared/proto/protocol.ts'
import { roomProtocol, type RoomProtocol } from '../../shared/protocol/room-protocol.ts'
import { sealRecordAsync } from '../../shared/record.ts'
import { createRecordStore, memoryRecordStorage, type RecordStore } from '../../shared/record-store.ts'
import { deriveRoomKeys, newRoomSecret } from '../../shared/room-keys.ts'
import { MODE_FINGERPRINT } from '../../shared/sync/reconcile.ts'
import { metricsText } from './relay-observe.ts'
import { metric } from './ws-attack.ts'

// Raised sync allowance: the hostile cases below are many syncs from one address.
const RELAY_ARGS = ['--syncs-per-minute', '6000']

let relay: RelayProcess
const nodes: Libp2p[] = []

beforeAll(async () => { relay = await startRelayProcess({ args: RELAY_ARGS }) })
afterAll(async () => {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  await relay?.stop()
})

async function member (store: RecordStore = createRecordStore(memoryRecordStorage())): Promise<Libp2p<{ rooms: RoomProtocol }>> {
  const health = await (await fetch(`${relay.url}/health`)).json() as { multiaddrs: string[] }
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping(), rooms: roomProtocol({ store }) }
  }) as unknown as Libp2p<{ rooms: RoomProtocol }>
  nodes.push(node)
  await node.dial(multiaddr(health.multiaddrs.find(ma => ma.includes('/ws/'))!), { signal: AbortSignal.timeout(15_000) })
  return node
}

const rejected = async (code: string): Promise<number> => metric(await metricsText(relay), 'roomkv_records_rejected_total', { reason: code })

describe('sync 2.0.0 with a relay', () => {
  test('a member joins, re-syncs after missing changes with a few KiB, and pushes back what the relay lacks', async () => {
    const keys = deriveRoomKeys(newRoomSecret())
    const relayPeer = peerIdFromString(relay.peerId)
    const records = await sealManyAsync(keys, 3000, 'item/')
    const writer = await member()
    expect((await writer.services.rooms.push(relayPeer, keys.roomId, records, { signal: AbortSignal.timeout(60_000) })).stored).toBe(3000)

    // Join: one query, every record in the first round.
    const store = createRecordStore(memoryRecordStorage())
    const reader = await member(store)
    const joined = await reader.services.rooms.sync(relayPeer, keys.roomId, { signal: AbortSignal.timeout(60_000) })
    expect(joined).toMatchObject({ received: 3000, stored: 3000, sent: 0, rounds: 2 })
    expect((await store.syncItems(keys.roomId)).count).toBe(3000)

    // The writer changes 10 keys; the reader (no session) misses them.
    const wall = Date.now()
    const changes = await Promise.all(Array.from({ length: 10 }, async (_, i) =>
      (await sealRecordAsync(keys, { key: `item/${String(i * 250).padStart(5, '0')}`, value: { changed: i }, clock: { wall, counter: i }, writer: 'changer' })).bytes))
    expect((await writer.services.rooms.push(relayPeer, keys.roomId, changes)).stored).toBe(10)
    // And the reader writes 3 keys the relay lacks.
    const own = await Promise.all(Array.from({ length: 3 }, async (_, i) =>
      (await sealRecordAsync(keys, { key: `mine/${i}`, value: i, clock: { wall, counter: i }, writer: 'reader' })).bytes))
    await store.mergeMany(own)
    const resync = await reader.services.rooms.sync(relayPeer, keys.roomId, { signal: AbortSignal.timeout(60_000) })
    expect(resync).toMatchObject({ received: 10, stored: 10, sent: 3 })
    expect((resync.bytesSent ?? 0) + (resync.bytesReceived ?? 0)).toBeLessThan(20 * 1024)

    // Now equal: one round trip of fingerprints.
    const again = await reader.services.rooms.sync(relayPeer, keys.roomId, { signal: AbortSignal.timeout(60_000) })
    expect(again).toMatchObject({ received: 0, sent: 0, rounds: 2 })
    expect((again.bytesSent ?? 0) + (again.bytesReceived ?? 0)).toBeLessThan(2 * 1024)
  }, 180_000)

  test('hostile askers are refused with a code and counted: malformed ranges, oversized want, endless rounds', async () => {
    const keys = deriveRoomKeys(newRoomSecret())
    const relayPeer = peerIdFromString(relay.peerId)
    const attacker = await member()
    await attacker.services.rooms.push(relayPeer, keys.roomId, await sealManyAsync(keys, 50, 'k/'))
    const end = new Uint8Array(0)
    const fp = { upper: end, mode: MODE_FINGERPRINT, fingerprint: new Uint8Array(16), ids: end }
    /** Write queries, read replies until the relay ends the stream; the last error code seen. */
    const exchange = async (queries: Uint8Array[]): Promise<string> => {
      const stream = await attacker.dialProtocol(multiaddr((await (await fetch(`${relay.url}/health`)).json() as { multiaddrs: string[] }).multiaddrs.find(ma => ma.includes('/ws/'))!), SYNC_PROTOCOL)
      const lp = lpStream(stream)
      void (async () => { for (const q of queries) await lp.write(q) })().catch(() => {})
      let error = ''
      try {
        for (;;) {
          const reply = SyncReply.decode(await lp.read({ signal: AbortSignal.timeout(10_000) }))
          if (reply.error !== '') error = reply.error
        }
      } catch {}
      stream.abort(new Error('done'))
      return error
    }
    const before = { malformed: await rejected('ERR_SYNC_MALFORMED'), limit: await rejected('ERR_SYNC_LIMIT') }

    const badBounds = SyncQuery.encode({ roomId: keys.roomId, ranges: [{ ...fp, upper: Uint8Array.of(9) }, { ...fp, upper: Uint8Array.of(3) }, fp], want: end })
    expect(await exchange([badBounds])).toBe('ERR_SYNC_MALFORMED')
    const bigWant = SyncQuery.encode({ roomId: keys.roomId, ranges: [], want: new Uint8Array(16 * 9000) })
    expect(await exchange([bigWant])).toBe('ERR_SYNC_LIMIT')
    // The same differing fingerprint forever: ended after 256 queries.
    const again = SyncQuery.encode({ roomId: keys.roomId, ranges: [fp], want: end })
    expect(await exchange(Array.from({ length: 300 }, () => again))).toBe('ERR_SYNC_LIMIT')

    await expect.poll(async () => await rejected('ERR_SYNC_MALFORMED') - before.malformed, { timeout: 5000 }).toBeGreaterThanOrEqual(1)
    await expect.poll(async () => await rejected('ERR_SYNC_LIMIT') - before.limit, { timeout: 5000 }).toBeGreaterThanOrEqual(2)
    // The relay still serves an honest member.
    const honest = await member()
    expect((await honest.services.rooms.sync(relayPeer, keys.roomId, { signal: AbortSignal.timeout(30_000) })).received).toBe(50)
  }, 120_000)
})
