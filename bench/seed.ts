/**
 * Helpers for the Node-side benchmarks: pre-sealed records, writing them
 * into a relay's database before it starts, reading the relay's /health and /metrics, and Node
 * SDK peers that are always closed.
 */
import { join } from 'node:path'
import { toString } from 'uint8arrays'
import { openRoom } from '../cli/node-peer.ts'
import { sqliteRecordStorage } from '../relay/sqlite-storage.ts'
import { HeadSet } from '../shared/proto/record.ts'
import { readStoredRecord, sealRecordAsync } from '../shared/record.ts'
import type { RoomKeys } from '../shared/room-keys.ts'
import type { RecordStorage } from '../shared/record-store.ts'
import type { RoomClient } from '../shared/room-client.ts'

/**
 * Seal `count` records of one room (one version of each key
 * `<prefix><i padded to 5>`, value `{ i }`) with WebCrypto (sealRecordAsync,
 * ~0.2 ms each with 256 in flight on 2 cores; the synchronous noble
 * sealRecord costs ~1.4 ms), so callers seal once, before any clock starts.
 */
export async function sealManyAsync (keys: RoomKeys, count: number, prefix: string): Promise<Uint8Array[]> {
  const wall = Date.now()
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i += 256) {
    const sealed = await Promise.all(Array.from({ length: Math.min(256, count - i) }, async (_, j) => {
      const n = i + j
      return await sealRecordAsync(keys, { key: `${prefix}${String(n).padStart(5, '0')}`, value: { i: n }, clock: { wall, counter: n }, writer: 'bench-seed' })
    }))
    for (const record of sealed) out.push(record.bytes)
  }
  return out
}

/**
 * Write records into a relay data dir that no relay runs on yet, exactly as
 * the relay stores a key it holds one version of (relay/sqlite-storage.ts:
 * one row per key in <data-dir>/records.sqlite holding an encoded HeadSet),
 * in transactions of 1,000. Sending 10,000 records through a relay would
 * cost relay CPU for verification (see relayCpuMsPerRecord); this takes
 * about a second. The records were just sealed here, so they are parsed,
 * not verified again; a replica that syncs them verifies each one as usual.
 */
export async function seedRelayDataDir (dataDir: string, records: Uint8Array[]): Promise<void> {
  const storage = await sqliteRecordStorage({ path: join(dataDir, 'records.sqlite') })
  try {
    await seedStorage(storage, records)
  } finally {
    await storage.close()
  }
}

/**
 * Write records (one version per key) into any record storage as a record
 * store keeps them (one HeadSet per key), 1,000 per write: a replica that
 * already holds a room, without verifying it again.
 */
export async function seedStorage (storage: RecordStorage, records: Uint8Array[]): Promise<void> {
  if (storage.write == null) throw new Error('seedStorage needs a storage with batched writes')
  for (let i = 0; i < records.length; i += 1000) {
    const ops = records.slice(i, i + 1000).map((bytes) => {
      const record = readStoredRecord(bytes)
      return { roomId: toString(record.roomId, 'base32'), keyId: toString(record.body.keyId, 'base32'), value: HeadSet.encode({ records: [bytes] }) }
    })
    const results = await storage.write(ops)
    const refused = results.find(r => !r.ok)
    if (refused != null && !refused.ok) throw refused.error
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
