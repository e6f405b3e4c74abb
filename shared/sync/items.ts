/**
 * The set that sync reconciles: one item per live head of a room, the pair
 * (key id, record id), in bytewise order of `key id || record id`. Items
 * are held as two flat byte arrays (32 and 16 bytes per item) so a room of
 * 100,000 heads is 4.8 MB in two allocations, not 100,000 objects.
 *
 * Pure: no I/O, no clocks. See docs/protocol.md, "Sync".
 */
import { sha256 } from '@noble/hashes/sha2.js'

/** Bytes of an item's key id. */
export const ITEM_KEY_BYTES = 32
/** Bytes of an item's record id (the full record id). */
export const ITEM_ID_BYTES = 16
/** Bytes of an item's sort key, `key id || record id`: the longest range bound. */
export const ITEM_BYTES = ITEM_KEY_BYTES + ITEM_ID_BYTES
/** Bytes of a range fingerprint. */
export const FINGERPRINT_BYTES = 16

/** A sorted item set. Items are distinct and sorted by `key id || record id`. */
export interface SyncItems {
  readonly count: number
  /** count * 32 bytes: item i's key id at i * 32. */
  readonly keys: Uint8Array
  /** count * 16 bytes: item i's record id at i * 16. */
  readonly ids: Uint8Array
}

export interface ItemInput {
  keyId: Uint8Array
  recordId: Uint8Array
}

/** Bytewise order of two byte strings (a proper prefix sorts first). */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i]
  }
  return a.length - b.length
}

/** Items from unsorted (key id, record id) pairs; duplicates are dropped. */
export function itemsFrom (entries: Iterable<ItemInput>): SyncItems {
  const list: ItemInput[] = []
  for (const e of entries) {
    if (e.keyId.length !== ITEM_KEY_BYTES || e.recordId.length !== ITEM_ID_BYTES) throw new RangeError('item has the wrong size')
    list.push(e)
  }
  const keys = new Uint8Array(list.length * ITEM_KEY_BYTES)
  const ids = new Uint8Array(list.length * ITEM_ID_BYTES)
  list.forEach((e, i) => {
    keys.set(e.keyId, i * ITEM_KEY_BYTES)
    ids.set(e.recordId, i * ITEM_ID_BYTES)
  })
  const order = sortOrder(keys, ids, list.length)
  const out = { keys: new Uint8Array(list.length * ITEM_KEY_BYTES), ids: new Uint8Array(list.length * ITEM_ID_BYTES) }
  let count = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k]
    if (k > 0 && compareAt(keys, ids, order[k - 1], i) === 0) continue
    out.keys.set(keys.subarray(i * ITEM_KEY_BYTES, (i + 1) * ITEM_KEY_BYTES), count * ITEM_KEY_BYTES)
    out.ids.set(ids.subarray(i * ITEM_ID_BYTES, (i + 1) * ITEM_ID_BYTES), count * ITEM_ID_BYTES)
    count++
  }
  return { count, keys: out.keys.subarray(0, count * ITEM_KEY_BYTES), ids: out.ids.subarray(0, count * ITEM_ID_BYTES) }
}

/** Items a and b (indexes into flat key and id arrays) in item order. */
export function compareAt (keys: Uint8Array, ids: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < ITEM_KEY_BYTES; k++) {
    const d = keys[a * ITEM_KEY_BYTES + k] - keys[b * ITEM_KEY_BYTES + k]
    if (d !== 0) return d
  }
  for (let k = 0; k < ITEM_ID_BYTES; k++) {
    const d = ids[a * ITEM_ID_BYTES + k] - ids[b * ITEM_ID_BYTES + k]
    if (d !== 0) return d
  }
  return 0
}

/**
 * The permutation that sorts `count` items given as flat arrays. Keys are
 * compared by their first 6 bytes as a number first (key ids are HMAC
 * outputs: ties are rare and only cost a byte compare), which keeps a sort
 * of 100,000 items to numeric comparisons.
 */
export function sortOrder (keys: Uint8Array, ids: Uint8Array, count: number): Uint32Array {
  const prefix = new Float64Array(count)
  for (let i = 0; i < count; i++) {
    const o = i * ITEM_KEY_BYTES
    prefix[i] = ((((keys[o] * 256 + keys[o + 1]) * 256 + keys[o + 2]) * 256 + keys[o + 3]) * 256 + keys[o + 4]) * 256 + keys[o + 5]
  }
  const order = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = i
  order.sort((a, b) => (prefix[a] - prefix[b]) || compareAt(keys, ids, a, b))
  return order
}

/** Bytes as a string of one char per byte: equal strings for equal bytes, same order. */
export function byteText (bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[])
}

export const EMPTY_ITEMS: SyncItems = { count: 0, keys: new Uint8Array(0), ids: new Uint8Array(0) }

/** Byte `k` (0..47) of item i's sort key. */
function itemByte (items: SyncItems, i: number, k: number): number {
  return k < ITEM_KEY_BYTES ? items.keys[i * ITEM_KEY_BYTES + k] : items.ids[i * ITEM_ID_BYTES + k - ITEM_KEY_BYTES]
}

/** Item i's sort key compared with a bound (a prefix of a sort key): < 0 when the item sorts below it. */
export function compareItem (items: SyncItems, i: number, bound: Uint8Array): number {
  const n = Math.min(bound.length, ITEM_BYTES)
  for (let k = 0; k < n; k++) {
    const d = itemByte(items, i, k) - bound[k]
    if (d !== 0) return d
  }
  // Equal on the bound's bytes: the item is at or above it.
  return ITEM_BYTES - bound.length >= 0 ? 0 : -1
}

/** Index of the first item in [lo, hi) at or above `bound`; `null` is the end of the item space. */
export function lowerBound (items: SyncItems, bound: Uint8Array | null, lo = 0, hi = items.count): number {
  if (bound == null) return hi
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareItem(items, mid, bound) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The shortest bound that separates item `i - 1` from item `i`: the prefix
 * of item i's sort key one byte longer than what the two share. Every item
 * up to i - 1 sorts below it, item i and above at or above it.
 */
export function boundBefore (items: SyncItems, i: number): Uint8Array {
  const out = new Uint8Array(ITEM_BYTES)
  let k = 0
  for (; k < ITEM_BYTES; k++) {
    const b = itemByte(items, i, k)
    out[k] = b
    if (i === 0 || itemByte(items, i - 1, k) !== b) break
  }
  return out.slice(0, Math.min(k + 1, ITEM_BYTES))
}

/** Item i's sort key (48 bytes). */
export function itemKey (items: SyncItems, i: number): Uint8Array {
  const out = new Uint8Array(ITEM_BYTES)
  out.set(items.keys.subarray(i * ITEM_KEY_BYTES, (i + 1) * ITEM_KEY_BYTES))
  out.set(items.ids.subarray(i * ITEM_ID_BYTES, (i + 1) * ITEM_ID_BYTES), ITEM_KEY_BYTES)
  return out
}

/**
 * Fingerprint of items [lo, hi): the first 16 bytes of
 * SHA-256(sum || count), where sum is the sum of the items' record ids read
 * as 128-bit little-endian integers, mod 2^128 (16 bytes, little-endian),
 * and count is the number of items as a 64-bit little-endian integer. The
 * sum can be updated item by item, so a range costs one pass and one hash.
 */
export function fingerprint (items: SyncItems, lo: number, hi: number): Uint8Array {
  return fingerprintOfIds(items.ids, lo, hi)
}

/** fingerprint() over a flat array of 16-byte record ids, items [lo, hi). */
export function fingerprintOfIds (ids: Uint8Array, lo: number, hi: number): Uint8Array {
  // Four 32-bit limbs; carries go up, the last one is dropped (mod 2^128).
  let l0 = 0; let l1 = 0; let l2 = 0; let l3 = 0
  const view = new DataView(ids.buffer, ids.byteOffset, ids.byteLength)
  for (let i = lo; i < hi; i++) {
    const o = i * ITEM_ID_BYTES
    let s = l0 + view.getUint32(o, true)
    l0 = s >>> 0
    s = l1 + view.getUint32(o + 4, true) + (s > 0xffffffff ? 1 : 0)
    l1 = s >>> 0
    s = l2 + view.getUint32(o + 8, true) + (s > 0xffffffff ? 1 : 0)
    l2 = s >>> 0
    s = l3 + view.getUint32(o + 12, true) + (s > 0xffffffff ? 1 : 0)
    l3 = s >>> 0
  }
  const input = new Uint8Array(FINGERPRINT_BYTES + 8)
  const out = new DataView(input.buffer)
  out.setUint32(0, l0, true)
  out.setUint32(4, l1, true)
  out.setUint32(8, l2, true)
  out.setUint32(12, l3, true)
  const count = hi - lo
  out.setUint32(16, count % 0x100000000, true)
  out.setUint32(20, Math.floor(count / 0x100000000), true)
  return sha256(input).subarray(0, FINGERPRINT_BYTES)
}
