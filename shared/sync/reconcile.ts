/**
 * Range-based set reconciliation (the idea of Meyer's RBSR and Negentropy,
 * written for roomkv): two peers each hold a sorted item set. A message is
 * a list of ranges that together cover the whole item space, in order; each
 * range says "skip" (nothing to do), "my fingerprint here is F", or "my
 * items here are exactly these ids". The receiver answers range by range:
 *
 * - fingerprint equal to its own: skip;
 * - fingerprint different: split its own items there into `branching`
 *   ranges of about equal count, each with its fingerprint, or list its ids
 *   when it holds at most `idsThreshold` items there;
 * - ids: it now knows both sides of the range: what the other lacks (its
 *   items not listed) and what it lacks (listed ids it does not hold); skip.
 *
 * Both peers run the same step; the exchange is over when a message has
 * only skip ranges. An empty replica lists its (zero) items at once, so a
 * newcomer's first message asks for everything: a bulk transfer, no rounds.
 *
 * Every message is bounded: at most `maxRanges` ranges and `maxIds` listed
 * ids. When splitting would pass a bound, the rest of the item space is
 * answered with one fingerprint range (the peer splits it next round).
 *
 * Pure: no I/O. The wire format is SyncRange (shared/proto/protocol.proto),
 * specified in docs/protocol.md, "Sync".
 */
import { equals } from 'uint8arrays'
import { MAX_SYNC_IDS, MAX_SYNC_RANGES, SYNC_BRANCHING, SYNC_IDS_THRESHOLD } from '../constants.ts'
import type { SyncRange } from '../proto/protocol.ts'
import { SyncLimitError, SyncMalformedError } from './errors.ts'
import { boundBefore, compareBytes, fingerprint, FINGERPRINT_BYTES, ITEM_BYTES, ITEM_ID_BYTES, lowerBound, type SyncItems } from './items.ts'

export const MODE_SKIP = 0
export const MODE_FINGERPRINT = 1
export const MODE_IDS = 2

export interface ReconcileLimits {
  /** Ranges a mismatched range is split into. @default SYNC_BRANCHING (16) */
  branching?: number
  /** A range of at most this many items is sent as its ids instead of being split. @default SYNC_IDS_THRESHOLD (32) */
  idsThreshold?: number
  /** Most ranges in one message. @default MAX_SYNC_RANGES (1,024) */
  maxRanges?: number
  /** Most ids listed in one message (ids ranges together). @default MAX_SYNC_IDS (8,192) */
  maxIds?: number
}

/** Defaults (shared/constants.ts): 16-way splits, lists of up to 32 ids, 1,024 ranges and 8,192 ids (128 KiB) per message. */
export { MAX_SYNC_IDS, MAX_SYNC_RANGES, SYNC_BRANCHING, SYNC_IDS_THRESHOLD }

interface Limits { branching: number, idsThreshold: number, maxRanges: number, maxIds: number }

function limitsOf (init: ReconcileLimits = {}): Limits {
  const branching = Math.max(2, init.branching ?? SYNC_BRANCHING)
  // A split must leave every sub-range non-empty, and a split of one range must fit a message.
  const idsThreshold = Math.max(branching, init.idsThreshold ?? SYNC_IDS_THRESHOLD)
  const maxRanges = Math.max(branching + 1, init.maxRanges ?? MAX_SYNC_RANGES)
  const maxIds = Math.max(idsThreshold, init.maxIds ?? MAX_SYNC_IDS)
  return { branching, idsThreshold, maxRanges, maxIds }
}

/** What one step learned, and the message to answer with. */
export interface ReconcileStep {
  /** The answer: covers the whole item space. */
  ranges: SyncRange[]
  /** True when `ranges` holds anything but skip: the peer has work to do. */
  open: boolean
  /** Indexes of my items the peer lacks (from its ids ranges), ascending. */
  theyLack: number[]
  /** Record ids (16 bytes each) the peer listed and I lack. */
  iLack: Uint8Array[]
}

const END = new Uint8Array(0)
const skip = (upper: Uint8Array): SyncRange => ({ upper, mode: MODE_SKIP, fingerprint: END, ids: END })

class Builder {
  readonly ranges: SyncRange[] = []
  ids = 0
  open = false

  push (range: SyncRange): void {
    const last = this.ranges[this.ranges.length - 1]
    // Adjacent skips are one range.
    if (range.mode === MODE_SKIP && last?.mode === MODE_SKIP) {
      last.upper = range.upper
      return
    }
    if (range.mode !== MODE_SKIP) this.open = true
    if (range.mode === MODE_IDS) this.ids += range.ids.length / ITEM_ID_BYTES
    this.ranges.push(range)
  }

  /** My items [lo, hi) below `upper`, when the peer's fingerprint differs: split or listed. */
  split (items: SyncItems, lo: number, hi: number, upper: Uint8Array, limits: Limits): void {
    const n = hi - lo
    if (n <= limits.idsThreshold) {
      this.push({ upper, mode: MODE_IDS, fingerprint: END, ids: items.ids.slice(lo * ITEM_ID_BYTES, hi * ITEM_ID_BYTES) })
      return
    }
    let start = lo
    for (let k = 1; k <= limits.branching; k++) {
      const end = k === limits.branching ? hi : lo + Math.floor(n * k / limits.branching)
      this.push({ upper: k === limits.branching ? upper : boundBefore(items, end), mode: MODE_FINGERPRINT, fingerprint: fingerprint(items, start, end), ids: END })
      start = end
    }
  }

  /** Whether one more split (the largest a range can produce) fits, leaving one range for the rest. */
  fitsSplit (limits: Limits): boolean {
    return this.ranges.length + limits.branching + 1 <= limits.maxRanges && this.ids + limits.idsThreshold <= limits.maxIds
  }
}

/** The asker's first message: the whole item space as if the peer's fingerprint differed. */
export function openingRanges (items: SyncItems, init?: ReconcileLimits): SyncRange[] {
  const out = new Builder()
  out.split(items, 0, items.count, END, limitsOf(init))
  return out.ranges
}

/**
 * Check a peer's ranges before using them: 1..maxRanges ranges, upper
 * bounds of 1..48 bytes strictly increasing, the last one empty (the end),
 * known modes with well-sized fields, at most maxIds ids in all.
 */
export function checkRanges (ranges: SyncRange[], init?: ReconcileLimits): void {
  const limits = limitsOf(init)
  if (ranges.length === 0) throw new SyncMalformedError('No ranges')
  if (ranges.length > limits.maxRanges) throw new SyncLimitError(`${ranges.length} ranges in one message (at most ${limits.maxRanges})`)
  let ids = 0
  let previous: Uint8Array | undefined
  ranges.forEach((range, i) => {
    const isLast = i === ranges.length - 1
    if (isLast !== (range.upper.length === 0)) throw new SyncMalformedError('Only the last range ends at the end of the item space')
    if (!isLast) {
      if (range.upper.length > ITEM_BYTES) throw new SyncMalformedError('Range bound longer than an item')
      if (previous != null && compareBytes(previous, range.upper) >= 0) throw new SyncMalformedError('Range bounds not increasing')
      previous = range.upper
    }
    switch (range.mode) {
      case MODE_SKIP:
        if (range.fingerprint.length !== 0 || range.ids.length !== 0) throw new SyncMalformedError('Skip range with content')
        break
      case MODE_FINGERPRINT:
        if (range.fingerprint.length !== FINGERPRINT_BYTES || range.ids.length !== 0) throw new SyncMalformedError('Bad fingerprint range')
        break
      case MODE_IDS:
        if (range.fingerprint.length !== 0 || range.ids.length % ITEM_ID_BYTES !== 0) throw new SyncMalformedError('Bad ids range')
        ids += range.ids.length / ITEM_ID_BYTES
        break
      default:
        throw new SyncMalformedError(`Unknown range mode ${range.mode}`)
    }
  })
  if (ids > limits.maxIds) throw new SyncLimitError(`${ids} ids in one message (at most ${limits.maxIds})`)
}

/**
 * Answer the peer's ranges (checked with checkRanges first) from my items.
 */
export function reconcile (items: SyncItems, incoming: SyncRange[], init?: ReconcileLimits): ReconcileStep {
  const limits = limitsOf(init)
  const out = new Builder()
  const theyLack: number[] = []
  const iLack: Uint8Array[] = []
  // Mismatched ranges met once a further split would not fit this message:
  // answered as fingerprints of my items (the peer splits them next round).
  const deferred: Array<{ lo: number, hi: number, upper: Uint8Array } | { skip: Uint8Array }> = []
  let lo = 0
  for (const range of incoming) {
    const hi = lowerBound(items, range.upper.length === 0 ? null : range.upper, lo)
    let resolved = true
    if (range.mode === MODE_IDS) {
      diffIds(items, lo, hi, range.ids, theyLack, iLack)
    } else if (range.mode === MODE_FINGERPRINT && !equals(fingerprint(items, lo, hi), range.fingerprint)) {
      resolved = false
    }
    if (deferred.length > 0) {
      deferred.push(resolved ? { skip: range.upper } : { lo, hi, upper: range.upper })
    } else if (resolved) {
      out.push(skip(range.upper))
    } else if (out.fitsSplit(limits)) {
      out.split(items, lo, hi, range.upper, limits)
    } else {
      deferred.push({ lo, hi, upper: range.upper })
    }
    lo = hi
  }
  if (deferred.length > 0) deferLeft(items, out, deferred, limits)
  return { ranges: out.ranges, open: out.open, theyLack, iLack }
}

/**
 * The deferred tail of an answer, in the room left: each mismatched range
 * as one fingerprint, and when even that does not fit, runs of neighbouring
 * mismatched ranges merged into one (a skip between them is absorbed).
 */
function deferLeft (items: SyncItems, out: Builder, tail: Array<{ lo: number, hi: number, upper: Uint8Array } | { skip: Uint8Array }>, limits: Limits): void {
  const mismatched = tail.filter(t => !('skip' in t)).length
  // Each group costs a fingerprint and at most one skip after it; one more for a leading skip.
  const room = Math.max(1, limits.maxRanges - out.ranges.length - 1)
  const groups = Math.max(1, Math.min(mismatched, Math.floor(room / 2)))
  const perGroup = Math.ceil(mismatched / groups)
  let group: { lo: number, hi: number, upper: Uint8Array, members: number } | undefined
  const flush = (): void => {
    if (group == null) return
    out.push({ upper: group.upper, mode: MODE_FINGERPRINT, fingerprint: fingerprint(items, group.lo, group.hi), ids: END })
    group = undefined
  }
  let pendingSkip: Uint8Array | undefined
  for (const t of tail) {
    if ('skip' in t) {
      if (group != null) pendingSkip = t.skip
      else out.push(skip(t.skip))
      continue
    }
    if (group != null && group.members < perGroup) {
      // Absorb the skip between the two: one fingerprint over both.
      group.hi = t.hi
      group.upper = t.upper
      group.members++
      pendingSkip = undefined
      continue
    }
    flush()
    if (pendingSkip != null) {
      out.push(skip(pendingSkip))
      pendingSkip = undefined
    }
    group = { lo: t.lo, hi: t.hi, upper: t.upper, members: 1 }
  }
  flush()
  if (pendingSkip != null) out.push(skip(pendingSkip))
}

/** My items [lo, hi) against the peer's listed ids of the same range. */
function diffIds (items: SyncItems, lo: number, hi: number, ids: Uint8Array, theyLack: number[], iLack: Uint8Array[]): void {
  const theirs = new Set<string>()
  for (let o = 0; o < ids.length; o += ITEM_ID_BYTES) theirs.add(idText(ids, o))
  const mine = new Set<string>()
  for (let i = lo; i < hi; i++) {
    const id = idText(items.ids, i * ITEM_ID_BYTES)
    mine.add(id)
    if (!theirs.has(id)) theyLack.push(i)
  }
  for (const id of theirs) {
    if (!mine.has(id)) iLack.push(Uint8Array.from(id, c => c.charCodeAt(0)))
  }
}

/** A record id as a 16-character string (one char per byte): a cheap Set/Map key. */
export function idText (bytes: Uint8Array, offset = 0): string {
  return String.fromCharCode.apply(null, bytes.subarray(offset, offset + ITEM_ID_BYTES) as unknown as number[])
}
