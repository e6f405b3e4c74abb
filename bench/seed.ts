/**
 * Helpers for the Node-side benchmarks: pre-sealed records, pushing them to
 * a relay in batches, reading the relay's /health and /metrics, and Node
 * SDK peers that are always closed.
 */
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { toString } from 'uint8arrays'
import { openRoom } from '../cli/node-peer.ts'
import { fsRecordStorage } from '../relay/record-storage.ts'
import { HeadSet } from '../shared/proto/record.ts'
import { readStoredRecord, sealRecord } from '../shared/record.ts'
import type { RoomKeys } from '../shared/room-keys.ts'
import type { RoomClient } from '../shared/room-client.ts'

/**
 * Seal `count` records of one room (one version of each key
 * `<prefix><i padded to 5>`, value `{ i }`). Sealing costs ~1-2 ms per
 * record (noble ed25519), so callers seal once and reuse.
 */
export function sealMany (keys: RoomKeys, count: number, prefix: string): Uint8Array[] {
  const wall = Date.now()
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    out.push(sealRecord(keys, { key: `${prefix}${String(i).padStart(5, '0')}`, value: { i }, clock: { wall, counter: i }, writer: 'bench-seed' }))
  }
  return out
}

/** Push records to the relay in batches (sequentially); returns how many it stored. */
export async function pushBatches (client: RoomClient, relayPeerId: string, roomId: Uint8Array, records: Uint8Array[], batch = 1000): Promise<number> {
  const relay = peerIdFromString(relayPeerId)
  let stored = 0
  for (let i = 0; i < records.length; i += batch) {
    const result = await client.node.services.rooms.push(relay, roomId, records.slice(i, i + batch), { signal: AbortSignal.timeout(60_000) })
    stored += result.stored
  }
  return stored
}

/**
 * Write records into a relay data dir that no relay runs on yet, exactly as
 * the relay stores a key it holds one version of (relay/record-storage.ts:
 * one file per key under <data-dir>/records/<room>/, an encoded HeadSet).
 * Pushing 10,000 records through a relay costs ~5 ms of relay CPU each
 * (about a minute); this takes seconds. The records were just sealed here,
 * so they are parsed, not verified again; a replica that syncs them
 * verifies each one as usual.
 */
export async function seedRelayDataDir (dataDir: string, records: Uint8Array[]): Promise<void> {
  const storage = await fsRecordStorage(join(dataDir, 'records'))
  try {
    for (let i = 0; i < records.length; i += 64) {
      await Promise.all(records.slice(i, i + 64).map(async (bytes) => {
        const record = readStoredRecord(bytes)
        await storage.put(toString(record.roomId, 'base32'), toString(record.body.keyId, 'base32'), HeadSet.encode({ records: [bytes] }))
      }))
    }
  } finally {
    await storage.close()
  }
}

/** Node SDK peers opened through here are closed by closePeers(), on error too. */
const openPeers = new Set<RoomClient>()

export async function openPeer (link: string, relayUrl: string, timeout = 15_000): Promise<RoomClient> {
  const client = await openRoom(link, { relayUrl })
  openPeers.add(client)
  await client.relay.connected(timeout)
  return client
}

export async function closePeer (client: RoomClient): Promise<void> {
  openPeers.delete(client)
  await Promise.race([client.close(), new Promise(resolve => setTimeout(resolve, 5000))]).catch(() => {})
}

export async function closePeers (): Promise<void> {
  await Promise.allSettled([...openPeers].map(closePeer))
}

/** The relay's Prometheus text, parsed into `name{labels}` -> value. */
export async function relayMetrics (relayUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${relayUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    out.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return out
}

export async function relayHealth (relayUrl: string): Promise<{ ok: boolean, connections: number } & Record<string, unknown>> {
  const res = await fetch(`${relayUrl}/health`, { signal: AbortSignal.timeout(10_000) })
  const body = await res.json() as Record<string, unknown>
  return { ...body, ok: res.ok && body.ok === true, connections: Number(body.connections) }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Poll `check` every `interval` ms until it returns true or `timeout` ms pass; returns whether it did. */
export async function pollUntil (check: () => Promise<boolean> | boolean, timeout: number, interval = 100): Promise<boolean> {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await sleep(interval)
  }
}
