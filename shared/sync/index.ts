/**
 * The sync index: per room, the sorted (key id, record id) items of every
 * head, kept in memory so a sync costs no storage pass and no record
 * parsing. Built from storage on the room's first sync (one pass in key
 * order, records parsed once), then kept current by the record store,
 * which reports every key it writes (`update`). Changes collect in a small
 * per-key delta, merged into the sorted arrays at the next snapshot (one
 * linear pass), so a burst of 10,000 merges costs one sort of 10,000 keys,
 * not 10,000 insertions.
 *
 * Memory: 56 bytes per item (32 key id, 16 record id, 8 expiry) in three
 * flat arrays, plus the pending delta; bounded across rooms by `maxItems`
 * (least recently used rooms are dropped, and rebuilt on demand).
 */
import { byteText, compareAt, compareBytes, EMPTY_ITEMS, ITEM_ID_BYTES, ITEM_KEY_BYTES, lowerBound, sortOrder, type SyncItems } from './items.ts'

export interface IndexedHead {
  recordId: Uint8Array
  /** ms since the epoch; 0 = never. */
  expiresAt: number
}

export interface SyncIndexInit {
  /** Every head of a room (room id as the storage names it), any order. */
  read(roomId: string): AsyncIterable<{ keyId: Uint8Array } & IndexedHead>
  /** Items kept across rooms. @default 1,000,000 (~56 MB) */
  maxItems?: number
  /** @default Date.now */
  now?: () => number
}

export interface SyncIndex {
  /** A snapshot of the room's live items (expired heads left out). */
  items(roomId: string): Promise<SyncItems>
  /** A key's heads after a write (empty: the key has none). Rooms not indexed are ignored. */
  update(roomId: string, keyId: Uint8Array, heads: IndexedHead[]): void
  /** Forget a room (rebuilt at its next snapshot). */
  drop(roomId: string): void
  /** Items held now, across rooms (for tests and metrics). */
  size(): number
}

export const DEFAULT_MAX_INDEXED_ITEMS = 1_000_000

interface Sorted {
  count: number
  keys: Uint8Array
  ids: Uint8Array
  expires: Float64Array
}

interface RoomIndex {
  sorted: Sorted
  /** Keys written since `sorted` was made, by key (one char per byte): their heads now. */
  delta: Map<string, { keyId: Uint8Array, heads: IndexedHead[] }>
  /** Set while the room is first read from storage; writes meanwhile go to `delta` and win. */
  building?: Promise<void>
}

const EMPTY_SORTED: Sorted = { count: 0, keys: new Uint8Array(0), ids: new Uint8Array(0), expires: new Float64Array(0) }

export function createSyncIndex (init: SyncIndexInit): SyncIndex {
  const maxItems = init.maxItems ?? DEFAULT_MAX_INDEXED_ITEMS
  const now = init.now ?? Date.now
  // Map order is the recency order: a used room is moved to the end.
  const rooms = new Map<string, RoomIndex>()

  const itemsHeld = (): number => {
    let n = 0
    for (const room of rooms.values()) n += room.sorted.count + room.delta.size
    return n
  }

  function evict (keep: string): void {
    let held = itemsHeld()
    for (const [roomId, room] of rooms) {
      if (held <= maxItems) return
      if (roomId === keep || room.building != null) continue
      held -= room.sorted.count + room.delta.size
      rooms.delete(roomId)
    }
  }

  async function build (roomId: string, room: RoomIndex): Promise<void> {
    const entries: Array<{ keyId: Uint8Array } & IndexedHead> = []
    for await (const entry of init.read(roomId)) entries.push(entry)
    // Writes that happened during the read are in the delta and replace these.
    room.sorted = sortEntries(entries)
  }

  return {
    async items (roomId) {
      let room = rooms.get(roomId)
      if (room == null) {
        room = { sorted: EMPTY_SORTED, delta: new Map() }
        const r = room
        room.building = build(roomId, room).finally(() => { r.building = undefined })
        rooms.set(roomId, room)
      }
      rooms.delete(roomId)
      rooms.set(roomId, room)
      try {
        while (room.building != null) await room.building
      } catch (err) {
        rooms.delete(roomId)
        throw err
      }
      if (room.delta.size > 0) {
        room.sorted = applyDelta(room.sorted, room.delta)
        room.delta = new Map()
      }
      evict(roomId)
      return live(room.sorted, now())
    },
    update (roomId, keyId, heads) {
      const room = rooms.get(roomId)
      if (room == null) return
      room.delta.set(byteText(keyId), { keyId, heads })
    },
    drop (roomId) {
      rooms.delete(roomId)
    },
    size: itemsHeld
  }
}

function allocSorted (count: number): Sorted {
  return { count, keys: new Uint8Array(count * ITEM_KEY_BYTES), ids: new Uint8Array(count * ITEM_ID_BYTES), expires: new Float64Array(count) }
}

function sortEntries (entries: Array<{ keyId: Uint8Array } & IndexedHead>): Sorted {
  const all = allocSorted(entries.length)
  entries.forEach((e, i) => {
    all.keys.set(e.keyId, i * ITEM_KEY_BYTES)
    all.ids.set(e.recordId, i * ITEM_ID_BYTES)
    all.expires[i] = e.expiresAt
  })
  const order = sortOrder(all.keys, all.ids, entries.length)
  const out = allocSorted(entries.length)
  let n = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k]
    if (k > 0 && compareAt(all.keys, all.ids, order[k - 1], i) === 0) continue
    out.keys.set(all.keys.subarray(i * ITEM_KEY_BYTES, (i + 1) * ITEM_KEY_BYTES), n * ITEM_KEY_BYTES)
    out.ids.set(all.ids.subarray(i * ITEM_ID_BYTES, (i + 1) * ITEM_ID_BYTES), n * ITEM_ID_BYTES)
    out.expires[n] = all.expires[i]
    n++
  }
  return n === out.count ? out : slice(out, n)
}

/** The first n items, as views (no copy: the few unused slots at the end are not worth copying 5.6 MB for). */
function slice (s: Sorted, n: number): Sorted {
  return { count: n, keys: s.keys.subarray(0, n * ITEM_KEY_BYTES), ids: s.ids.subarray(0, n * ITEM_ID_BYTES), expires: s.expires.subarray(0, n) }
}

/** The sorted items with every delta key's items replaced by its new heads: one merge pass. */
function applyDelta (sorted: Sorted, delta: Map<string, { keyId: Uint8Array, heads: IndexedHead[] }>): Sorted {
  const list = [...delta.values()]
  // Sorted like items (numeric prefix sort): after a bulk catch-up the delta holds every key.
  const flatKeys = new Uint8Array(list.length * ITEM_KEY_BYTES)
  list.forEach((c, i) => { flatKeys.set(c.keyId, i * ITEM_KEY_BYTES) })
  const changes = Array.from(sortOrder(flatKeys, new Uint8Array(list.length * ITEM_ID_BYTES), list.length), i => ({
    keyId: list[i].keyId,
    heads: [...list[i].heads].sort((x, y) => compareBytes(x.recordId, y.recordId))
  }))
  let extra = 0
  for (const c of changes) extra += c.heads.length
  const out = allocSorted(sorted.count + extra)
  let n = 0
  // Unchanged runs are copied as blocks: 10 changed keys in 100,000 items are 11 copies.
  const copy = (from: number, to: number): void => {
    if (to <= from) return
    out.keys.set(sorted.keys.subarray(from * ITEM_KEY_BYTES, to * ITEM_KEY_BYTES), n * ITEM_KEY_BYTES)
    out.ids.set(sorted.ids.subarray(from * ITEM_ID_BYTES, to * ITEM_ID_BYTES), n * ITEM_ID_BYTES)
    out.expires.set(sorted.expires.subarray(from, to), n)
    n += to - from
  }
  let i = 0
  for (const change of changes) {
    // Items of keys before this one are kept, this key's old items dropped
    // (a 32-byte bound: every item of the key is at or above it).
    const start = lowerBound(sorted, change.keyId, i)
    copy(i, start)
    i = start
    while (i < sorted.count && compareBytes(sorted.keys.subarray(i * ITEM_KEY_BYTES, (i + 1) * ITEM_KEY_BYTES), change.keyId) === 0) i++
    let previous: Uint8Array | undefined
    for (const head of change.heads) {
      if (previous != null && compareBytes(previous, head.recordId) === 0) continue
      previous = head.recordId
      out.keys.set(change.keyId, n * ITEM_KEY_BYTES)
      out.ids.set(head.recordId, n * ITEM_ID_BYTES)
      out.expires[n] = head.expiresAt
      n++
    }
  }
  copy(i, sorted.count)
  return n === out.count ? out : slice(out, n)
}

/** The items not expired at `t` (the arrays themselves when none is). */
function live (sorted: Sorted, t: number): SyncItems {
  if (sorted.count === 0) return EMPTY_ITEMS
  let expired = 0
  for (let i = 0; i < sorted.count; i++) if (sorted.expires[i] !== 0 && sorted.expires[i] <= t) expired++
  if (expired === 0) return sorted
  const keys = new Uint8Array((sorted.count - expired) * ITEM_KEY_BYTES)
  const ids = new Uint8Array((sorted.count - expired) * ITEM_ID_BYTES)
  let n = 0
  for (let i = 0; i < sorted.count; i++) {
    if (sorted.expires[i] !== 0 && sorted.expires[i] <= t) continue
    keys.set(sorted.keys.subarray(i * ITEM_KEY_BYTES, (i + 1) * ITEM_KEY_BYTES), n * ITEM_KEY_BYTES)
    ids.set(sorted.ids.subarray(i * ITEM_ID_BYTES, (i + 1) * ITEM_ID_BYTES), n * ITEM_ID_BYTES)
    n++
  }
  return { count: n, keys, ids }
}
