/**
 * Seeded random reconciliation: random item sets and differences, both
 * directions, empty against full, 1 against 100,000. Both sides must end
 * with the union, within the stated byte and round bounds.
 */
import { describe, expect, it } from 'vitest'
import { SyncQuery, SyncReply, type SyncRange } from '../proto/protocol.ts'
import { prng, randomInt } from '../test-support.ts'
import { SyncLimitError, SyncMalformedError } from './errors.ts'
import { boundBefore, compareItem, fingerprint, itemsFrom, lowerBound, type ItemInput } from './items.ts'
import { checkRanges, MODE_FINGERPRINT, MODE_IDS, MODE_SKIP, openingRanges, reconcile, idText, type ReconcileLimits } from './reconcile.ts'

const ROOM = new Uint8Array(16)

function bytes (random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = randomInt(random, 256)
  return out
}

const itemText = (e: ItemInput): string => idText(e.recordId)

interface Exchange {
  /** Items each side ends with (record id text). */
  a: Set<string>
  b: Set<string>
  rounds: number
  /** Encoded SyncQuery/SyncReply bytes without records (the records are what the sets differ by). */
  bytes: number
}

/**
 * Run the exchange as the wire does: A (asker) opens, B answers, A answers,
 * ... until a message has no open range. What each side lacks is then
 * "transferred" (the real protocol streams records).
 */
function exchange (aItems: ItemInput[], bItems: ItemInput[], limits?: ReconcileLimits): Exchange {
  const a = itemsFrom(aItems)
  const b = itemsFrom(bItems)
  const aHas = new Set(aItems.map(itemText))
  const bHas = new Set(bItems.map(itemText))
  const toA = new Set<string>() // B's items A gets
  const toB = new Set<string>() // A's items B gets
  let message: SyncRange[] = openingRanges(a, limits)
  let bytesSent = SyncQuery.encode({ roomId: ROOM, ranges: message, want: new Uint8Array(0) }).length
  let rounds = 0
  for (;;) {
    if (++rounds > 64) throw new Error('exchange did not end in 64 rounds')
    checkRanges(message, limits)
    const reply = reconcile(b, message, limits)
    for (const i of reply.theyLack) toA.add(idText(b.ids, i * 16))
    for (const id of reply.iLack) toB.add(idText(id)) // B's need: A pushes them
    bytesSent += SyncReply.encode({ ranges: reply.ranges, need: concat(reply.iLack), records: [], last: true, error: '', total: 0 }).length
    checkRanges(reply.ranges, limits)
    const next = reconcile(a, reply.ranges, limits)
    for (const i of next.theyLack) toB.add(idText(a.ids, i * 16))
    for (const id of next.iLack) toA.add(idText(id)) // A's want: B sends them
    bytesSent += SyncQuery.encode({ roomId: ROOM, ranges: next.open ? next.ranges : [], want: concat(next.iLack) }).length
    if (!next.open) break
    message = next.ranges
  }
  // Nothing is asked of a side that does not hold it.
  expect([...toA].every(id => bHas.has(id)) && [...toB].every(id => aHas.has(id))).toBe(true)
  return { a: new Set([...aHas, ...toA]), b: new Set([...bHas, ...toB]), rounds, bytes: bytesSent }
}

function concat (ids: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ids.length * 16)
  ids.forEach((id, i) => { out.set(id, i * 16) })
  return out
}

/** A shared set, and what only A and only B hold: new keys, and other heads of shared keys. */
function sets (random: () => number, shared: number, onlyA: number, onlyB: number): { a: ItemInput[], b: ItemInput[] } {
  const common = Array.from({ length: shared }, () => ({ keyId: bytes(random, 32), recordId: bytes(random, 16) }))
  const extra = (n: number): ItemInput[] => Array.from({ length: n }, () => ({
    // Half are another head of a key both hold (a conflict or a newer version).
    keyId: common.length > 0 && random() < 0.5 ? common[randomInt(random, common.length)].keyId : bytes(random, 32),
    recordId: bytes(random, 16)
  }))
  return { a: [...common, ...extra(onlyA)], b: [...common, ...extra(onlyB)] }
}

function expectUnion (result: Exchange, a: ItemInput[], b: ItemInput[]): void {
  const union = new Set([...a.map(itemText), ...b.map(itemText)])
  const missing = (side: Set<string>): number => [...union].filter(id => !side.has(id)).length
  expect({ a: result.a.size, b: result.b.size, missingA: missing(result.a), missingB: missing(result.b) })
    .toEqual({ a: union.size, b: union.size, missingA: 0, missingB: 0 })
}

describe('items', () => {
  it('sorts, drops duplicates, and bounds separate neighbours', () => {
    const random = prng(1)
    const entries = Array.from({ length: 300 }, () => ({ keyId: bytes(random, 32), recordId: bytes(random, 16) }))
    // Same key, neighbouring record ids: bounds reach into the record id.
    entries.push({ keyId: entries[0].keyId, recordId: bytes(random, 16) }, { ...entries[1] })
    const items = itemsFrom(entries)
    expect(items.count).toBe(301)
    for (let i = 1; i < items.count; i++) {
      const bound = boundBefore(items, i)
      expect(compareItem(items, i - 1, bound)).toBeLessThan(0)
      expect(compareItem(items, i, bound)).toBe(0)
      expect(lowerBound(items, bound)).toBe(i)
    }
    expect(lowerBound(items, null)).toBe(301)
  })

  it('fingerprints depend on the set only, not on order or on how it was built', () => {
    const random = prng(2)
    const entries = Array.from({ length: 100 }, () => ({ keyId: bytes(random, 32), recordId: bytes(random, 16) }))
    const one = itemsFrom(entries)
    const two = itemsFrom([...entries].reverse())
    expect(fingerprint(one, 0, 100)).toEqual(fingerprint(two, 0, 100))
    expect(fingerprint(one, 0, 99)).not.toEqual(fingerprint(one, 0, 100))
    expect(fingerprint(one, 0, 0)).toHaveLength(16)
  })
})

describe('reconcile', () => {
  it('random sets and differences, both directions: both sides end with the union', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = prng(seed)
      const shared = pickSize(random)
      const { a, b } = sets(random, shared, pickSize(random) % 200, pickSize(random) % 200)
      const limits: ReconcileLimits = random() < 0.5 ? {} : { branching: 2 + randomInt(random, 15), idsThreshold: 1 + randomInt(random, 40), maxRanges: 20 + randomInt(random, 60), maxIds: 40 + randomInt(random, 100) }
      expectUnion(exchange(a, b, limits), a, b)
      expectUnion(exchange(b, a, limits), b, a)
    }
  })

  it('equal sets end after one round trip', () => {
    const random = prng(7)
    const { a, b } = sets(random, 5000, 0, 0)
    const result = exchange(a, b)
    expect(result.rounds).toBe(1)
    expect(result.bytes).toBeLessThan(2 * 1024)
  })

  it('an empty asker gets everything in one round: its first message lists its zero items', () => {
    const random = prng(8)
    const { b } = sets(random, 20_000, 0, 0)
    expect(openingRanges(itemsFrom([]))).toEqual([{ upper: new Uint8Array(0), mode: MODE_IDS, fingerprint: new Uint8Array(0), ids: new Uint8Array(0) }])
    const result = exchange([], b)
    expectUnion(result, [], b)
    expect(result.rounds).toBe(1)
    expect(result.bytes).toBeLessThan(100)
  })

  it('a full asker and an empty responder: the responder lists nothing, the asker learns everything is missing there', () => {
    const random = prng(9)
    const { a } = sets(random, 20_000, 0, 0)
    const result = exchange(a, [])
    expectUnion(result, a, [])
    expect(result.rounds).toBe(1)
    expect(result.bytes).toBeLessThan(2 * 1024)
  })

  it('1 against 100,000 and 100,000 against 1', () => {
    const random = prng(10)
    const { a: big } = sets(random, 100_000, 0, 0)
    const one = [{ keyId: bytes(random, 32), recordId: bytes(random, 16) }]
    expectUnion(exchange(one, big), one, big)
    expectUnion(exchange(big, one), big, one)
    // One of the 100,000, as an asker that holds only it.
    expectUnion(exchange([big[500]], big), [big[500]], big)
  }, 60_000)

  it('10 differences in 100,000 items: under 50 KiB and 8 rounds, either side ahead', () => {
    const random = prng(11)
    for (const [onlyA, onlyB] of [[0, 10], [10, 0], [5, 5]]) {
      const { a, b } = sets(random, 100_000, onlyA, onlyB)
      const result = exchange(a, b)
      expectUnion(result, a, b)
      expect(result.bytes).toBeLessThan(50 * 1024)
      expect(result.rounds).toBeLessThanOrEqual(8)
    }
  }, 60_000)

  it('many differences stay within the per-message bounds and still converge', () => {
    const random = prng(12)
    const { a, b } = sets(random, 20_000, 3000, 3000)
    const limits = { maxRanges: 128, maxIds: 1024 }
    const result = exchange(a, b, limits)
    expectUnion(result, a, b)
  })
})

describe('checkRanges', () => {
  const fp = new Uint8Array(16)
  const end = new Uint8Array(0)
  const range = (upper: number[], mode = MODE_FINGERPRINT, extra: Partial<SyncRange> = {}): SyncRange =>
    ({ upper: Uint8Array.from(upper), mode, fingerprint: mode === MODE_FINGERPRINT ? fp : end, ids: end, ...extra })

  it('accepts a well-formed message', () => {
    expect(() => { checkRanges([range([1]), range([1, 2], MODE_SKIP), range([], MODE_IDS, { ids: new Uint8Array(32) })]) }).not.toThrow()
  })

  it.each([
    ['no ranges', []],
    ['last range not at the end', [range([1])]],
    ['an end before the last range', [range([]), range([])]],
    ['bounds not increasing', [range([2]), range([1]), range([])]],
    ['equal bounds', [range([2]), range([2]), range([])]],
    ['bound longer than an item', [range(new Array(49).fill(1)), range([])]],
    ['unknown mode', [range([], 3)]],
    ['fingerprint of 15 bytes', [range([], MODE_FINGERPRINT, { fingerprint: new Uint8Array(15) })]],
    ['ids not a multiple of 16', [range([], MODE_IDS, { ids: new Uint8Array(17) })]],
    ['skip with content', [range([], MODE_SKIP, { ids: new Uint8Array(16) })]]
  ])('refuses %s (ERR_SYNC_MALFORMED)', (_, ranges) => {
    expect(() => { checkRanges(ranges as SyncRange[]) }).toThrow(SyncMalformedError)
  })

  it('refuses too many ranges or ids (ERR_SYNC_LIMIT)', () => {
    const many = Array.from({ length: 1025 }, (_, i) => range(i === 1024 ? [] : [i >> 8, i & 255]))
    expect(() => { checkRanges(many) }).toThrow(SyncLimitError)
    expect(() => { checkRanges([range([], MODE_IDS, { ids: new Uint8Array(8193 * 16) })]) }).toThrow(SyncLimitError)
    expect(new SyncLimitError().code).toBe('ERR_SYNC_LIMIT')
  })
})

function pickSize (random: () => number): number {
  return [0, 1, 2, 17, 33, 100, 1000, 3000][randomInt(random, 8)]
}
