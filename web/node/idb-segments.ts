/**
 * A resident room's batches as packed segments in IndexedDB
 * (idb-storage.ts): one entry per committed batch instead of one per key,
 * because IndexedDB costs ~80 us per entry whatever the batch size and
 * little per byte. Shared by the tab and its writer Worker.
 *
 * Keys: a segment is [roomId, [seq]], a legacy (per-key) entry is
 * [roomId, keyId]. An array sorts after every string, so a room's legacy
 * entries stay exactly the range [roomId] .. [roomId, []] they always were
 * (code of the previous version, still open in another tab, never reads a
 * segment as a record) and its segments are the range after it.
 *
 * seq is the room's last seq + 1, read inside the appending readwrite
 * transaction: IndexedDB serializes those on one store, across tabs too, so
 * seqs never collide and their order is the commit order ("later segments
 * win" is exactly "the last commit wins"), and a tab that has applied up to
 * seq N reads what others appended as the key range after N.
 *
 * Encoding (little endian), `bytes.byteOffset` need not be aligned:
 *   u8 version (1), u8 flags (1 = base: the room's whole state, replacing
 *   everything older), u16 0, u32 count, u32 key bytes,
 *   count x u32 key length (UTF-16 units), count x u32 value length
 *   (0xffffffff = the key was deleted), the keys' UTF-8, the values.
 * Keys decode with one TextDecoder call for the whole segment.
 */

import { promisifyRequest } from 'idb-keyval'

const VERSION = 1
const HEADER = 12
const DELETED = 0xffffffff
const FLAG_BASE = 1

export interface SegmentEntry {
  keyId: string
  /** undefined: the key was deleted. */
  value?: Uint8Array
}

export interface Segment {
  /** The room's whole state: everything older (legacy entries included) is replaced. */
  base: boolean
  keyIds: string[]
  /** Views into the segment's bytes; undefined = deleted. */
  values: Array<Uint8Array | undefined>
}

export class SegmentFormatError extends Error {
  readonly code = 'ERR_SEGMENT_FORMAT'
  constructor (message: string) {
    super(message)
    this.name = 'SegmentFormatError'
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeSegment (entries: SegmentEntry[], options: { base?: boolean } = {}): Uint8Array {
  const steps = encodeSteps(entries.map(e => e.keyId), entries.map(e => e.value), options, Infinity)
  for (let step = steps.next(); ; step = steps.next()) if (step.done === true) return step.value
}

/**
 * encodeSegment's bytes, built `slice` entries at a time with `pause()`
 * between slices: a resident room's base segment holds every key (100,000
 * keys are ~35 MB), and encoding it at once was one main-thread task of
 * 100-450 ms in the middle of a catch-up. `keyIds` and `values` are a
 * snapshot: the caller must not change them meanwhile.
 */
export async function encodeSegmentInSlices (keyIds: readonly string[], values: ReadonlyArray<Uint8Array | undefined>, options: { base?: boolean }, pause: () => Promise<void>, slice = 4096): Promise<Uint8Array> {
  const steps = encodeSteps(keyIds, values, options, slice)
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return step.value
    await pause()
  }
}

/** The encoding, yielding between slices of `slice` entries (none when it is Infinity). */
function * encodeSteps (keyIds: readonly string[], values: ReadonlyArray<Uint8Array | undefined>, options: { base?: boolean }, slice: number): Generator<void, Uint8Array> {
  const count = keyIds.length
  // Keys as UTF-8 a slice at a time (each key is whole, so the slices'
  // UTF-8 joined is the whole list's), and the values' total size.
  const keyChunks: Uint8Array[] = []
  let keyBytes = 0
  let valueBytes = 0
  for (let i = 0; i < count; i += slice) {
    if (i > 0) yield
    const end = Math.min(count, i + slice)
    let joined = ''
    for (let j = i; j < end; j++) {
      joined += keyIds[j]
      const value = values[j]
      if (value != null) valueBytes += value.byteLength
    }
    const chunk = encoder.encode(joined)
    keyChunks.push(chunk)
    keyBytes += chunk.byteLength
  }
  const tables = HEADER + count * 8
  const bytes = new Uint8Array(tables + keyBytes + valueBytes)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, VERSION)
  view.setUint8(1, options.base === true ? FLAG_BASE : 0)
  view.setUint32(4, count, true)
  view.setUint32(8, keyBytes, true)
  let at = tables
  for (const chunk of keyChunks) {
    bytes.set(chunk, at)
    at += chunk.byteLength
  }
  for (let i = 0; i < count; i += slice) {
    if (slice !== Infinity) yield
    const end = Math.min(count, i + slice)
    for (let j = i; j < end; j++) {
      const value = values[j]
      view.setUint32(HEADER + j * 4, keyIds[j].length, true)
      view.setUint32(HEADER + (count + j) * 4, value == null ? DELETED : value.byteLength, true)
      if (value != null) {
        bytes.set(value, at)
        at += value.byteLength
      }
    }
  }
  return bytes
}

export function decodeSegment (bytes: Uint8Array): Segment {
  if (bytes.byteLength < HEADER) throw new SegmentFormatError('segment shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint8(0) !== VERSION) throw new SegmentFormatError(`unknown segment version ${view.getUint8(0)}`)
  const base = (view.getUint8(1) & FLAG_BASE) !== 0
  const count = view.getUint32(4, true)
  const keyBytes = view.getUint32(8, true)
  const tables = HEADER + count * 8
  if (tables + keyBytes > bytes.byteLength) throw new SegmentFormatError('segment tables past its end')
  const joined = decoder.decode(bytes.subarray(tables, tables + keyBytes))
  const keyIds = new Array<string>(count)
  const values = new Array<Uint8Array | undefined>(count)
  let keyAt = 0
  let at = tables + keyBytes
  for (let i = 0; i < count; i++) {
    const keyLength = view.getUint32(HEADER + i * 4, true)
    keyIds[i] = joined.substring(keyAt, keyAt + keyLength)
    keyAt += keyLength
    const valueLength = view.getUint32(HEADER + (count + i) * 4, true)
    if (valueLength === DELETED) {
      values[i] = undefined
      continue
    }
    if (at + valueLength > bytes.byteLength) throw new SegmentFormatError('segment value past its end')
    values[i] = bytes.subarray(at, at + valueLength)
    at += valueLength
  }
  if (keyAt !== joined.length) throw new SegmentFormatError('segment key lengths do not match its keys')
  return { base, keyIds, values }
}

/** Bytes a key costs in a segment: what compaction compares the room's live state with. */
export const encodedSize = (keyId: string, value: Uint8Array): number => keyId.length + value.byteLength + 8

export const segmentKey = (roomId: string, seq: number): IDBValidKey => [roomId, [seq]]
export const seqOfKey = (key: IDBValidKey): number => ((key as [string, [number]])[1])[0]

/** The room's per-key entries (written before segments existed, or while the room is too big to be resident). */
export const legacyRange = (roomId: string): IDBKeyRange => IDBKeyRange.bound([roomId], [roomId, []])

/** The room's segments after seq `after` (all of them without it). */
export function segmentRange (roomId: string, after?: number): IDBKeyRange {
  // [[]] sorts after every [number]: an array is greater than a number.
  return IDBKeyRange.bound(after == null ? [roomId, []] : [roomId, [after]], [roomId, [[]]], true, true)
}

/** The room's segments up to and including seq `last`. */
export const segmentsUpTo = (roomId: string, last: number): IDBKeyRange => IDBKeyRange.bound([roomId, []], [roomId, [last]], true, false)

/** The room's last segment seq in this transaction, -1 without any. */
export async function lastSeq (store: IDBObjectStore, roomId: string): Promise<number> {
  const cursor = await promisifyRequest(store.openKeyCursor(segmentRange(roomId), 'prev'))
  return cursor == null ? -1 : seqOfKey(cursor.key)
}

/**
 * Appends one segment per room inside a readwrite transaction (the seq is
 * read in it, so appends of every tab are ordered); resolves to the seqs
 * given, before the transaction commits: the caller waits for `complete`.
 */
export async function appendSegments (store: IDBObjectStore, roomIds: string[], segments: Uint8Array[]): Promise<number[]> {
  return Promise.all(roomIds.map(async (roomId, i) => {
    const seq = await lastSeq(store, roomId) + 1
    store.put(segments[i], segmentKey(roomId, seq))
    return seq
  }))
}

/**
 * The room's segments written out as per-key entries and deleted, inside a
 * readwrite transaction: a room too big to be resident is read and written
 * per key, and per-key entries must then be newer than any segment. One
 * segment in memory at a time. Resolves to whether there were any.
 */
export async function unfoldSegments (store: IDBObjectStore, roomId: string): Promise<boolean> {
  let any = false
  for (let cursor = await promisifyRequest(store.openCursor(segmentRange(roomId))); cursor != null; cursor = await next(cursor)) {
    any = true
    const segment = decodeSegment(cursor.value as Uint8Array)
    if (segment.base) store.delete(legacyRange(roomId))
    segment.keyIds.forEach((keyId, i) => {
      const value = segment.values[i]
      // A copy of its own: a view would store the whole segment.
      if (value == null) store.delete([roomId, keyId])
      else store.put(value.slice(), [roomId, keyId])
    })
    cursor.delete()
  }
  return any
}

async function next (cursor: IDBCursorWithValue): Promise<IDBCursorWithValue | null> {
  const req = cursor.request as IDBRequest<IDBCursorWithValue | null>
  const done = promisifyRequest(req)
  cursor.continue()
  return done
}
