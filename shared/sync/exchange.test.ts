/**
 * The sync exchange end to end over an in-memory stream pair: two record
 * stores with real sealed records; both end with the same heads.
 */
import { streamPair } from '@libp2p/utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SyncQuery, SyncReply } from '../proto/protocol.ts'
import { sealRecordAsync } from '../record.ts'
import { createRecordStore, memoryRecordStorage, type RecordStore } from '../record-store.ts'
import { deriveRoomKeys } from '../room-keys.ts'
import { prng, randomInt } from '../test-support.ts'
import { askSync, serveSync } from './exchange.ts'
import { byteText, type SyncItems } from './items.ts'
import { MODE_FINGERPRINT, openingRanges } from './reconcile.ts'
import { EMPTY_ITEMS } from './items.ts'
import { lpStream } from '@libp2p/utils'

const keys = deriveRoomKeys(new Uint8Array(32).fill(9))
const stores: RecordStore[] = []
afterEach(async () => { await Promise.all(stores.splice(0).map(async s => { await s.close() })) })

function store (): RecordStore {
  const s = createRecordStore(memoryRecordStorage())
  stores.push(s)
  return s
}

async function seal (count: number, prefix: string, writer = 'w'): Promise<Uint8Array[]> {
  const wall = Date.now()
  return Promise.all(Array.from({ length: count }, async (_, i) =>
    (await sealRecordAsync(keys, { key: `${prefix}${i}`, value: { i, writer }, clock: { wall, counter: i }, writer })).bytes))
}

const itemsText = (items: SyncItems): string[] => Array.from({ length: items.count }, (_, i) =>
  byteText(items.keys.subarray(i * 32, i * 32 + 32)) + byteText(items.ids.subarray(i * 16, i * 16 + 16)))

async function run (asker: RecordStore, responder: RecordStore): Promise<Awaited<ReturnType<typeof askSync>>> {
  const [outbound, inbound] = await streamPair()
  const served = serveSync({ stream: inbound, store: responder, readTimeout: 5000, admit: () => {} })
  const result = await askSync({
    stream: outbound,
    store: asker,
    roomId: keys.roomId,
    signal: AbortSignal.timeout(30_000),
    readTimeout: 5000,
    push: async (records) => (await responder.mergeMany(records, { roomId: keys.roomId })).filter(r => !(r instanceof Error)).length
  })
  await served
  return result
}

describe('sync exchange', () => {
  it('an empty asker gets the whole room in one round', async () => {
    const a = store()
    const b = store()
    await b.mergeMany(await seal(600, 'k'))
    const result = await run(a, b)
    // Two queries: the opening one and the range-less last one (no round trip waits on it).
    expect(result).toMatchObject({ received: 600, stored: 600, sent: 0, rounds: 2 })
    expect(itemsText(await a.syncItems(keys.roomId))).toEqual(itemsText(await b.syncItems(keys.roomId)))
  }, 60_000)

  it('an empty asker is sent the room straight from storage: no sync index on the responder, expired heads left out, conflicts kept', async () => {
    const a = store()
    const b = store()
    await b.mergeMany(await seal(300, 'k'))
    await b.mergeMany(await seal(20, 'k', 'w2')) // concurrent versions: 20 keys with two heads
    const wall = Date.now()
    const expiring = await Promise.all(Array.from({ length: 5 }, async (_, i) =>
      (await sealRecordAsync(keys, { key: `gone${i}`, value: i, clock: { wall, counter: i }, writer: 'w', expiresAt: wall + 300 })).bytes))
    await b.mergeMany(expiring)
    await new Promise(resolve => setTimeout(resolve, 350))
    const syncItems = vi.fn(b.syncItems)
    const result = await run(a, { ...b, syncItems })
    expect(syncItems).not.toHaveBeenCalled()
    expect(result).toMatchObject({ received: 320, stored: 320, sent: 0, rounds: 2 })
    expect(itemsText(await a.syncItems(keys.roomId))).toEqual(itemsText(await b.syncItems(keys.roomId)))
    // Holding anything, the asker reconciles against the index as before.
    await b.mergeMany(await seal(3, 'new'))
    expect(await run(a, { ...b, syncItems })).toMatchObject({ received: 3, sent: 0 })
    expect(syncItems).toHaveBeenCalled()
  }, 60_000)

  it('random differences both ways, conflicts included: both end with the same heads', async () => {
    const random = prng(3)
    const shared = await seal(400, 's')
    for (let round = 0; round < 3; round++) {
      const a = store()
      const b = store()
      await a.mergeMany(shared)
      await b.mergeMany(shared)
      // New keys on either side, and concurrent versions of shared keys (conflicts: two heads).
      await a.mergeMany(await seal(randomInt(random, 40), `a${round}-`, 'wa'))
      await b.mergeMany(await seal(randomInt(random, 40), `b${round}-`, 'wb'))
      await a.mergeMany(await seal(1 + randomInt(random, 20), 's', 'wa'))
      const result = await run(a, b)
      expect(result.rounds).toBeLessThanOrEqual(6)
      expect(itemsText(await a.syncItems(keys.roomId))).toEqual(itemsText(await b.syncItems(keys.roomId)))
      // A second sync finds nothing to do: one round, nothing moved.
      expect(await run(a, b)).toMatchObject({ received: 0, sent: 0, rounds: 2 })
    }
  }, 60_000)

  it('an empty responder gets everything pushed back', async () => {
    const a = store()
    const b = store()
    await a.mergeMany(await seal(300, 'k'))
    const result = await run(a, b)
    expect(result).toMatchObject({ received: 0, sent: 300 })
    expect((await b.syncItems(keys.roomId)).count).toBe(300)
  })

  it('the index follows merges made after it was built', async () => {
    const a = store()
    await a.mergeMany(await seal(50, 'k'))
    expect((await a.syncItems(keys.roomId)).count).toBe(50)
    await a.mergeMany(await seal(10, 'k', 'other'))
    await a.mergeMany(await seal(10, 'x'))
    const items = await a.syncItems(keys.roomId)
    // 50 keys, 10 of them with a second head, 10 new keys.
    expect(items.count).toBe(70)
    const fresh = store()
    await fresh.mergeMany(await collectAll(a))
    expect(itemsText(await fresh.syncItems(keys.roomId))).toEqual(itemsText(items))
  })
})

describe('sync exchange, responder pacing', () => {
  it('sends small frames first, growing, and gives the event loop a turn between frames', async () => {
    const b = store()
    await b.mergeMany(await seal(1500, 'k'))
    const [outbound, inbound] = await streamPair()
    // Work queued when serving starts runs before the last frame is written,
    // not after the whole room (a relay serves other peers meanwhile).
    const writes: string[] = []
    const originalSend = inbound.send.bind(inbound)
    inbound.send = (data: any) => { writes.push('frame'); return originalSend(data) }
    const served = serveSync({ stream: inbound, store: b, readTimeout: 5000, admit: () => {} })
    let serving = true
    const tick = (): void => { if (!serving) return; writes.push('other work'); setImmediate(tick) }
    setImmediate(tick)
    void served.finally(() => { serving = false })
    const lp = lpStream(outbound)
    await lp.write(SyncQuery.encode({ roomId: keys.roomId, ranges: openingRanges(EMPTY_ITEMS), want: new Uint8Array(0) }))
    const frames: SyncReply[] = []
    for (;;) {
      const reply = SyncReply.decode(await lp.read({ signal: AbortSignal.timeout(5000) }))
      frames.push(reply)
      if (reply.last) break
    }
    await lp.write(SyncQuery.encode({ roomId: keys.roomId, ranges: [], want: new Uint8Array(0) }))
    await served
    const sizes = frames.slice(1).map(f => f.records.reduce((n, r) => n + r.length, 0))
    expect(frames.slice(1).reduce((n, f) => n + f.records.length, 0)).toBe(1500)
    expect(sizes[0]).toBeLessThanOrEqual(64 * 1024)
    expect(sizes.length).toBeGreaterThanOrEqual(3)
    expect(sizes[1]).toBeGreaterThan(sizes[0])
    // Between the first records frame and the last one, other work ran.
    const firstRecords = writes.indexOf('frame', writes.indexOf('frame') + 1)
    expect(writes.slice(firstRecords, writes.lastIndexOf('frame'))).toContain('other work')
  }, 60_000)
})

describe('sync exchange, hostile peers', () => {
  async function serveRaw (responder: RecordStore, queries: Uint8Array[]): Promise<{ error: unknown, replies: SyncReply[] }> {
    const [outbound, inbound] = await streamPair()
    const served = serveSync({ stream: inbound, store: responder, readTimeout: 1000, admit: () => {} }).then(() => undefined, (err: unknown) => err)
    const lp = lpStream(outbound)
    for (const q of queries) await lp.write(q)
    const replies: SyncReply[] = []
    const error = await served
    try {
      for (;;) replies.push(SyncReply.decode(await lp.read({ signal: AbortSignal.timeout(500) })))
    } catch {}
    return { error, replies }
  }
  const end = new Uint8Array(0)

  it('refuses malformed ranges with ERR_SYNC_MALFORMED, told to the asker', async () => {
    const b = store()
    const bad = SyncQuery.encode({ roomId: keys.roomId, ranges: [{ upper: Uint8Array.of(5), mode: MODE_FINGERPRINT, fingerprint: new Uint8Array(16), ids: end }], want: end })
    const { error, replies } = await serveRaw(b, [bad])
    expect((error as any)?.code).toBe('ERR_SYNC_MALFORMED')
    expect(replies.at(-1)?.error).toBe('ERR_SYNC_MALFORMED')
  })

  it('refuses a want list of partial ids and an oversized one', async () => {
    const b = store()
    const { error } = await serveRaw(b, [SyncQuery.encode({ roomId: keys.roomId, ranges: [], want: new Uint8Array(17) })])
    expect((error as any)?.code).toBe('ERR_SYNC_MALFORMED')
    const { error: big } = await serveRaw(b, [SyncQuery.encode({ roomId: keys.roomId, ranges: [], want: new Uint8Array(16 * 8193) })])
    expect((big as any)?.code).toBe('ERR_SYNC_LIMIT')
  })

  it('ends an exchange that never ends (ERR_SYNC_LIMIT after MAX_SYNC_ROUNDS)', async () => {
    const b = store()
    await b.mergeMany(await seal(100, 'k'))
    // The same mismatching fingerprint, again and again.
    const again = SyncQuery.encode({ roomId: keys.roomId, ranges: [{ upper: end, mode: MODE_FINGERPRINT, fingerprint: new Uint8Array(16), ids: end }], want: end })
    const { error } = await serveRaw(b, Array.from({ length: 300 }, () => again))
    expect((error as any)?.code).toBe('ERR_SYNC_LIMIT')
  })

  it('refuses a room id that changes mid-exchange', async () => {
    const b = store()
    await b.mergeMany(await seal(100, 'k'))
    const q = (roomId: Uint8Array): Uint8Array => SyncQuery.encode({ roomId, ranges: [{ upper: end, mode: MODE_FINGERPRINT, fingerprint: new Uint8Array(16), ids: end }], want: end })
    const { error } = await serveRaw(b, [q(keys.roomId), q(new Uint8Array(16))])
    expect((error as any)?.code).toBe('ERR_SYNC_MALFORMED')
  })
})

describe('sync exchange, hostile responders', () => {
  /** The asker against a responder that answers the first query with `replies`, then goes silent. */
  async function askRaw (replies: Uint8Array[]): Promise<unknown> {
    const [outbound, inbound] = await streamPair()
    const lp = lpStream(inbound)
    void (async () => {
      await lp.read()
      for (const r of replies) await lp.write(r)
    })().catch(() => {})
    return askSync({ stream: outbound, store: store(), roomId: keys.roomId, signal: AbortSignal.timeout(10_000), readTimeout: 300, push: async () => 0 })
      .then(() => undefined, (err: unknown) => err)
  }
  const reply = (r: Partial<SyncReply>): Uint8Array => SyncReply.encode({ ranges: [], need: new Uint8Array(0), records: [], last: false, error: '', total: 0, ...r })
  const end = new Uint8Array(0)

  it('a refusal surfaces as ERR_PROTOCOL with the refusal code', async () => {
    const err = await askRaw([reply({ error: 'ERR_RATE_LIMITED', last: true })]) as any
    expect(err?.code).toBe('ERR_PROTOCOL')
    expect(err?.refusal).toBe('ERR_RATE_LIMITED')
  })

  it('malformed round headers and frames out of place are refused (ERR_SYNC_MALFORMED)', async () => {
    const badRanges = reply({ ranges: [{ upper: Uint8Array.of(1), mode: MODE_FINGERPRINT, fingerprint: new Uint8Array(16), ids: end }] })
    expect((await askRaw([badRanges]) as any)?.code).toBe('ERR_SYNC_MALFORMED')
    expect((await askRaw([reply({ last: true })]) as any)?.code).toBe('ERR_SYNC_MALFORMED') // a header without ranges
    const header = reply({ ranges: [{ upper: end, mode: 0, fingerprint: end, ids: end }] })
    expect((await askRaw([header, reply({ need: new Uint8Array(16) })]) as any)?.code).toBe('ERR_SYNC_MALFORMED') // need in a records frame
    expect((await askRaw([reply({ ranges: [{ upper: end, mode: 0, fingerprint: end, ids: end }], need: new Uint8Array(15) })]) as any)?.code).toBe('ERR_SYNC_MALFORMED')
  })

  it('a responder that goes silent mid-round times the asker out', async () => {
    const header = reply({ ranges: [{ upper: end, mode: 0, fingerprint: end, ids: end }] })
    const err = await askRaw([header]) as any
    expect(err).toBeInstanceOf(Error)
  })
})

async function collectAll (s: RecordStore): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const r of s.list(keys.roomId)) out.push(r.bytes)
  return out
}
