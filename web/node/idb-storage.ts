/**
 * Record storage in IndexedDB (idb-keyval's store helper), one object store
 * for every room. Records are stored as received: signed ciphertext.
 *
 * IndexedDB costs ~80 us per entry whatever the batch size (20,480 entries
 * in 1.5-1.8 s at 128-2,048 per transaction) and little per byte, and reads
 * cost as much per entry. So a room in use is resident: read whole once and
 * held in memory, every read served from there, every write applied there
 * at once and committed in the background (in order: the next transaction
 * of the store waits for it), by the writer Worker when there is one. And on
 * disk a resident room is a log of packed segments (idb-segments.ts): each
 * committed batch is ONE entry, [roomId, [seq]], its keys, values and
 * deletions. Loading a room replays its segments in seq order.
 *
 * Entries per key, [roomId, keyId], are what the previous version wrote and
 * what a room too big to be resident (past `maxResidentBytes`) is still
 * read and written as, per request. Invariant: every per-key entry of a room
 * is older than every segment of it. Segments are appended after; a per-key
 * write first unfolds the room's segments into per-key entries in its own
 * transaction. So a load reads the per-key entries, then replays the
 * segments over them.
 *
 * Compaction: when the room's bytes on disk pass twice its live bytes (and
 * `compactMinBytes`), one base segment holding the live state replaces every
 * older segment and per-key entry, in one transaction (a crash leaves the old
 * set or the new). It is written only when this tab's memory is exactly what
 * the disk replays to (no batch of its own in flight, no other tab's segment
 * unread), and the transaction checks the room's last seq is the one this
 * tab has read: another tab's append in between cancels it (a later commit
 * tries again), so no concurrent append is lost. A base segment also tells
 * a reader paging through the log to start over from it.
 *
 * Other tabs of the same browser share the database. Seqs are given inside
 * the appending transaction (last + 1), and IndexedDB serializes readwrite
 * transactions of one store across tabs: seqs never collide, their order is
 * the commit order. After a commit a tab posts the seq on a BroadcastChannel;
 * the others read the segments after the last one they applied, one key
 * range, and replay them, except keys that have a batch of their own in
 * flight: that batch commits later, so it wins. A per-key write or an
 * unfold makes the others drop the room and read it again.
 */
import { logger } from '@libp2p/logger'
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'
import type { RecordStorage, StorageWrite, StorageWriteResult } from '../../shared/record-store.ts'
import {
  appendSegments, decodeSegment, encodedSize, encodeSegment, encodeSegmentInSlices, lastSeq, legacyRange, segmentKey, segmentRange,
  segmentsUpTo, seqOfKey, unfoldSegments, type Segment
} from './idb-segments.ts'
import type { WriterReady, WriteRequest, WriteResponse } from './idb-writer-protocol.ts'
import { packBytes } from './packed-bytes.ts'
import { readyWaiters } from './ready-waiters.ts'
import { yieldToEventLoop } from '../../shared/yield.ts'

const log = logger('roomkv:idb-storage')

export interface IdbStorageInit {
  /** @default 'roomkv' */
  database?: string
  /**
   * Per-key values read per transaction when a room is read whole: other
   * transactions get a turn between pages.
   * @default 1000
   */
  listPage?: number
  /**
   * Bytes of stored records held in memory, over all resident rooms (a
   * 100,000-key room of small values is ~30 MB). A room that does not fit
   * is read from disk per request.
   * @default 256 MiB
   */
  maxResidentBytes?: number
  /**
   * A resident room's log is compacted when its bytes on disk pass twice its
   * live bytes and this.
   * @default 1 MiB
   */
  compactMinBytes?: number
  /**
   * Starts a Worker that commits batches of resident rooms
   * (idb-writer-worker.ts): storing each segment then costs the main thread
   * nothing but its encoding into a transferred buffer. Rooms read from
   * disk, and every batch when the Worker fails, commit here.
   * @default none: every batch commits on this thread
   */
  createWriter?: () => Worker
  /**
   * The Worker starts with the first batch of at least this many bytes (a
   * catch-up's batches are ~40 KB; a live change's a few hundred bytes);
   * smaller batches before it commit here. @default 16 KiB
   */
  writerAfterBytes?: number
}

const DEFAULT_LIST_PAGE = 1000
const DEFAULT_MAX_RESIDENT_BYTES = 256 * 1024 * 1024
const DEFAULT_COMPACT_MIN_BYTES = 1024 * 1024
const DEFAULT_WRITER_AFTER_BYTES = 16 * 1024
/** Segments read per request: a batch's segment is ~40 KB, a base one the whole room. */
const SEGMENT_PAGE = 32
/** Longest delay before other tabs hear that a room's log grew, ms. */
const APPEND_ANNOUNCE_MS = 50
/** Map entry, key text and array overhead per resident record, roughly. */
const ENTRY_OVERHEAD = 160

/** Tabs have no quota of their own (the browser's is reported as an abort): every write is applied. */
const APPLIED: StorageWriteResult = { ok: true }

interface Resident {
  roomId: string
  values: Map<string, Uint8Array>
  /** Memory held, for maxResidentBytes. */
  bytes: number
  /** The live state's size as one segment. */
  live: number
  /** Bytes of the room's segments and per-key entries on disk, as far as this tab knows. */
  disk: number
  /** Segments are applied up to this seq (-1: none). */
  lastSeq: number
  /** Another tab appended after lastSeq: read before use. */
  behind: boolean
  /** Keys written by batches of this tab not yet committed, and how many. */
  pending: Map<string, number>
  batches: number
  /** values is in key order (list yields it so), up to maxKey. */
  sorted: boolean
  maxKey?: string
}

/** What one tab tells the others after a commit. */
type ChannelMessage =
  /** A segment was appended at seq; `from` when it is a compaction of the log up to `from`. */
  | { roomId: string, seq: number, from?: number, bytes?: number }
  /** Per-key entries were written: drop the room and read it again. */
  | { roomId: string, reload: true }

const newResident = (roomId: string): Resident => ({ roomId, values: new Map(), bytes: 0, live: 0, disk: 0, lastSeq: -1, behind: false, pending: new Map(), batches: 0, sorted: true })

/** The tab's record storage; `writerReady` starts the writer Worker now and tells when it takes batches (false: it cannot). */
export type IdbRecordStorage = RecordStorage & { writerReady(): Promise<boolean> }

export function idbRecordStorage (init: IdbStorageInit = {}): IdbRecordStorage {
  const database = init.database ?? 'roomkv'
  const store: UseStore = createStore(database, 'records')
  const listPage = Math.max(1, init.listPage ?? DEFAULT_LIST_PAGE)
  const maxResidentBytes = init.maxResidentBytes ?? DEFAULT_MAX_RESIDENT_BYTES
  const compactMinBytes = init.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES
  const writerAfterBytes = init.writerAfterBytes ?? DEFAULT_WRITER_AFTER_BYTES
  // Per room: the load in progress or done; undefined = too big, on disk.
  const rooms = new Map<string, Promise<Resident | undefined>>()
  const loaded = new Map<string, Resident>()
  let residentBytes = 0
  // Per room: the highest seq another tab announced, and how often it said to read the room again.
  const heard = new Map<string, number>()
  const epochs = new Map<string, number>()
  // Per room: this tab's commits in flight (a reload waits for them).
  const commits = new Map<string, Set<Promise<unknown>>>()

  const memorySize = (key: string, value: Uint8Array): number => value.byteLength + key.length + ENTRY_OVERHEAD

  function setValue (room: Resident, keyId: string, value: Uint8Array | undefined): void {
    const old = room.values.get(keyId)
    const before = room.bytes
    if (old != null) {
      room.bytes -= memorySize(keyId, old)
      room.live -= encodedSize(keyId, old)
    }
    if (value == null) room.values.delete(keyId)
    else {
      if (old == null && room.sorted) {
        if (room.maxKey == null || keyId > room.maxKey) room.maxKey = keyId
        else room.sorted = false
      }
      room.values.set(keyId, value)
      room.bytes += memorySize(keyId, value)
      room.live += encodedSize(keyId, value)
    }
    if (loaded.get(room.roomId) === room) residentBytes += room.bytes - before
  }

  /** A segment read from disk, over what memory holds; keys with a batch of this tab in flight keep it. */
  function applySegment (room: Resident, seq: number, segment: Segment, size: number): void {
    if (segment.base) {
      for (const keyId of [...room.values.keys()]) if (!room.pending.has(keyId)) setValue(room, keyId, undefined)
      room.disk = 0
    }
    const { keyIds, values } = segment
    for (let i = 0; i < keyIds.length; i++) if (!room.pending.has(keyIds[i])) setValue(room, keyIds[i], values[i])
    room.disk += size
    room.lastSeq = seq
  }

  function drop (roomId: string): void {
    const room = loaded.get(roomId)
    if (room == null) return
    residentBytes -= room.bytes
    loaded.delete(roomId)
    rooms.delete(roomId)
  }

  const channel = typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(`roomkv-idb:${database}`)
  const announce = (message: ChannelMessage): void => {
    try {
      channel?.postMessage(message)
    } catch {}
  }
  // Appends are announced at most every APPEND_ANNOUNCE_MS, with the
  // newest seq per room: a catch-up commits a segment every few ms, and a
  // BroadcastChannel message each (a clone and an IPC round) was ~3 % of the
  // tab's main thread; other tabs only need to know the log grew.
  const appended = new Map<string, number>()
  let appendTimer: ReturnType<typeof setTimeout> | undefined
  const flushAppends = (): void => {
    appendTimer = undefined
    for (const [roomId, seq] of appended) announce({ roomId, seq })
    appended.clear()
  }
  const announceAppend = (roomId: string, seq: number): void => {
    appended.set(roomId, Math.max(appended.get(roomId) ?? -1, seq))
    appendTimer ??= setTimeout(flushAppends, APPEND_ANNOUNCE_MS)
  }
  if (channel != null) {
    channel.onmessage = (event: MessageEvent<ChannelMessage>) => {
      const message = event.data
      if (typeof message?.roomId !== 'string') return
      const { roomId } = message
      if ('reload' in message) {
        epochs.set(roomId, (epochs.get(roomId) ?? 0) + 1)
        drop(roomId)
        return
      }
      if (typeof message.seq !== 'number') return
      heard.set(roomId, Math.max(heard.get(roomId) ?? -1, message.seq))
      const room = loaded.get(roomId)
      if (room == null || message.seq <= room.lastSeq) return
      if (message.from != null && message.from === room.lastSeq) {
        // A compaction of exactly what this tab has read: nothing to read.
        room.lastSeq = message.seq
        room.disk = message.bytes ?? room.disk
      } else room.behind = true
    }
  }

  /** Per-key entries of a range, in pages of listPage. */
  async function * readRange (range: IDBKeyRange, count: number): AsyncGenerator<[IDBValidKey[], any[]]> {
    const upper = range.upper as IDBValidKey
    for (;;) {
      // Keys and values of the same range and count in one transaction
      // line up; the last key starts the next page (exclusive).
      const page = await store('readonly', s => Promise.all([
        promisifyRequest<IDBValidKey[]>(s.getAllKeys(range, count)),
        promisifyRequest<any[]>(s.getAll(range, count))
      ]))
      yield page
      if (page[0].length < count) return
      range = IDBKeyRange.bound(page[0][page[0].length - 1], upper, true, range.upperOpen)
    }
  }

  /** Segments after seq `after`, replayed onto the room. False when the room stops fitting in memory. */
  async function readSegments (room: Resident, fits: () => boolean): Promise<boolean> {
    for await (const [keys, values] of readRange(segmentRange(room.roomId, room.lastSeq < 0 ? undefined : room.lastSeq), SEGMENT_PAGE)) {
      keys.forEach((key, i) => { applySegment(room, seqOfKey(key), decodeSegment(values[i] as Uint8Array), (values[i] as Uint8Array).byteLength) })
      if (!fits()) return false
    }
    return true
  }

  async function readResident (roomId: string): Promise<Resident | undefined> {
    const room = newResident(roomId)
    const fits = (): boolean => {
      if (residentBytes + room.bytes <= maxResidentBytes) return true
      log('room %s does not fit in memory (%d bytes resident): read from disk', roomId, residentBytes)
      return false
    }
    for await (const [keys, values] of readRange(legacyRange(roomId), listPage)) {
      keys.forEach((key, i) => {
        const keyId = (key as [string, string])[1]
        setValue(room, keyId, values[i])
        room.disk += encodedSize(keyId, values[i])
      })
      if (!fits()) return undefined
    }
    return await readSegments(room, fits) ? room : undefined
  }

  async function load (roomId: string): Promise<Resident | undefined> {
    // What this tab still commits to the room must be on disk first.
    await Promise.allSettled([...commits.get(roomId) ?? []])
    for (;;) {
      const epoch = epochs.get(roomId) ?? 0
      const room = await readResident(roomId)
      // Another tab wrote the room per key meanwhile: the log may be gone.
      if ((epochs.get(roomId) ?? 0) !== epoch) continue
      if (room == null) return undefined
      if ((heard.get(roomId) ?? -1) > room.lastSeq) room.behind = true
      residentBytes += room.bytes
      loaded.set(roomId, room)
      return room
    }
  }

  /**
   * The room in memory, loading it on first use. Every caller of a room
   * awaits the same promise, so operations keep their call order (a read
   * called after a write sees it).
   */
  function resident (roomId: string): Promise<Resident | undefined> {
    let room = rooms.get(roomId)
    if (room == null) {
      room = load(roomId).catch((err) => {
        log('reading room %s failed, read from disk per request: %e', roomId, err)
        rooms.delete(roomId)
        return undefined
      })
      rooms.set(roomId, room)
    }
    return room
  }

  /** What other tabs appended: the segments after the last one read. */
  async function catchUp (room: Resident): Promise<void> {
    room.behind = false
    await readSegments(room, () => true)
  }

  const track = (roomIds: Iterable<string>, done: Promise<unknown>): void => {
    for (const roomId of roomIds) {
      let set = commits.get(roomId)
      if (set == null) commits.set(roomId, set = new Set())
      set.add(done)
      const remove = (): void => {
        set.delete(done)
        if (set.size === 0 && commits.get(roomId) === set) commits.delete(roomId)
      }
      void done.then(remove, remove)
    }
  }

  /** A room's segments as per-key entries, before it is read or written per key. */
  async function unfold (roomId: string): Promise<void> {
    const any = await store('readwrite', async s => {
      const complete = promisifyRequest(s.transaction)
      complete.catch(() => {})
      const any = await unfoldSegments(s, roomId)
      await complete
      return any
    })
    if (any) announce({ roomId, reload: true })
  }

  async function readDisk (roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>> {
    for (;;) {
      // All gets are queued on one transaction; IndexedDB answers them in order.
      const [segments, ...values] = await store('readonly', s => Promise.all([
        promisifyRequest<number>(s.count(segmentRange(roomId))),
        ...keyIds.map(keyId => promisifyRequest<Uint8Array | undefined>(s.get([roomId, keyId])))
      ]))
      if (segments === 0) return values as Array<Uint8Array | undefined>
      await unfold(roomId)
    }
  }

  // The writer Worker, while it works; batches it has not answered.
  let writer: Worker | undefined
  const waiting = new Map<number, { resolve(seqs: number[]): void, reject(err: Error): void }>()
  let nextWrite = 0
  const inflight = new Set<Promise<unknown>>()
  const retireWriter = (reason: string): void => {
    if (writer == null) return
    log('IndexedDB writer failed (%s): committing on the main thread', reason)
    writer.terminate()
    writer = undefined
    writerReadiness.settle(false)
    // Whether those batches committed is unknown: their callers get an
    // error, and their rooms are read again (write()).
    for (const w of waiting.values()) w.reject(new Error(`IndexedDB writer failed: ${reason}`))
    waiting.clear()
  }
  // Started with the first batch of writerAfterBytes or more (a catch-up):
  // a join's first writes are small, and starting a Worker (a thread, an
  // isolate, its script) in a tab's first second competed with the join
  // for the CPU. Until it has loaded (it says ready) batches commit on this
  // thread; from then on every batch goes to the Worker (one connection
  // keeps their order), the first once this thread's commits are done.
  let writerStarted = false
  let writerReady = false
  const writerReadiness = readyWaiters()
  /** This thread's latest commit: the Worker's first batch waits for it. */
  let lastLocalCommit: Promise<unknown> = Promise.resolve()
  const startWriter = (): void => {
    writerStarted = true
    try {
      if (init.createWriter != null && typeof Worker !== 'undefined') {
        const started = init.createWriter()
        writer = started
        started.onmessage = (event: MessageEvent<WriteResponse | WriterReady>) => {
          if ('ready' in event.data) {
            writerReady = true
            writerReadiness.settle(true)
            return
          }
          const { id, seqs, error } = event.data
          const w = waiting.get(id)
          if (w == null) return
          waiting.delete(id)
          if (error == null && Array.isArray(seqs)) w.resolve(seqs)
          else w.reject(Object.assign(new Error(error?.message ?? 'no seqs'), { name: error?.name ?? 'Error' }))
        }
        started.onerror = (event) => { retireWriter(event.message ?? 'error') }
        started.onmessageerror = () => { retireWriter('unreadable message') }
      }
    } catch (err) {
      log('no IndexedDB writer: %e', err)
      writer = undefined
    }
  }

  function commitInWriter (roomIds: string[], segments: Uint8Array[]): Promise<number[]> | undefined {
    if (!writerStarted) {
      let bytes = 0
      for (const segment of segments) bytes += segment.byteLength
      if (bytes < writerAfterBytes) return undefined
      startWriter()
    }
    if (writer == null || !writerReady) return undefined
    const { buffer, offsets } = packBytes(segments)
    const id = nextWrite++
    const request: WriteRequest = { id, database, roomIds, offsets, buffer }
    const done = new Promise<number[]>((resolve, reject) => { waiting.set(id, { resolve, reject }) })
    // Posted in order (then() callbacks run in the order they were added),
    // each after this thread's last commit: two connections' transactions
    // need not run in the order they were created.
    const to = writer
    void lastLocalCommit.catch(() => {}).then(() => {
      if (writer === to) to.postMessage(request, [buffer, offsets.buffer])
    })
    return done
  }

  /** Segments of resident rooms and per-key ops of the others, in one transaction. */
  async function commit (roomIds: string[], segments: Uint8Array[], keyOps: StorageWrite[]): Promise<number[]> {
    return store('readwrite', async s => {
      const complete = promisifyRequest(s.transaction)
      complete.catch(() => {})
      try {
        const seqs = appendSegments(s, roomIds, segments)
        await Promise.all([...new Set(keyOps.map(op => op.roomId))].map(roomId => unfoldSegments(s, roomId)))
        for (const op of keyOps) {
          if (op.value == null) s.delete([op.roomId, op.keyId])
          else s.put(op.value, [op.roomId, op.keyId])
        }
        const given = await seqs
        // Resolve on `complete` (every op then committed together), not on
        // the last request's success, which precedes the commit.
        await complete
        return given
      } catch (err) {
        // The batch is all or nothing.
        try { s.transaction.abort() } catch {}
        throw err
      }
    })
  }

  // Every operation takes its turn here before it touches memory, so a
  // read called after a write sees it even while a room is still loading.
  // A turn is short: memory only, or a disk read of a room that is not
  // resident; a write's commit runs outside its turn. The longest is a
  // compaction's, which encodes a snapshot of the room in slices (writes
  // wait; the page keeps its turns of the event loop).
  let turns: Promise<unknown> = Promise.resolve()
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = turns.then(fn)
    turns = next.catch(() => {})
    return next
  }

  const compacting = new Set<string>()

  /** The room's log replaced by one base segment when it is mostly dead bytes. */
  function maybeCompact (room: Resident): void {
    const { roomId } = room
    const ready = (): boolean => loaded.get(roomId) === room && room.batches === 0 && !room.behind && room.lastSeq >= 0 &&
      room.disk > Math.max(compactMinBytes, 2 * room.live)
    if (compacting.has(roomId) || !ready()) return
    compacting.add(roomId)
    const done = inTurn(async (): Promise<{ written: Promise<number | undefined>, size: number, diskBefore: number }> => {
      if (!ready()) return { written: Promise.resolve(undefined), size: 0, diskBefore: 0 }
      const from = room.lastSeq
      const diskBefore = room.disk
      // A snapshot, then encoded in slices with turns of the event loop
      // between them (writes wait for this turn; the page does not).
      const base = await encodeSegmentInSlices([...room.values.keys()], [...room.values.values()], { base: true }, yieldToEventLoop)
      let started!: () => void
      const created = new Promise<void>(resolve => { started = resolve })
      const written = store('readwrite', async s => {
        started()
        const complete = promisifyRequest(s.transaction)
        complete.catch(() => {})
        // Another tab appended since this tab read the log: not now.
        const last = await lastSeq(s, roomId)
        if (last !== from) return undefined
        s.put(base, segmentKey(roomId, last + 1))
        s.delete(segmentsUpTo(roomId, last))
        s.delete(legacyRange(roomId))
        await complete
        return last + 1
      })
      // The turn ends once the transaction exists: later batches queue behind it.
      await Promise.race([created, written.catch(() => {})])
      return { written, size: base.byteLength, diskBefore }
    }).then(async ({ written, size, diskBefore }) => {
      const seq = await written
      if (seq == null) return
      log('room %s compacted to %d bytes', roomId, size)
      // Segments of this tab appended since still count.
      room.disk = size + room.disk - diskBefore
      if (room.lastSeq === seq - 1) room.lastSeq = seq
      announce({ roomId, seq, from: seq - 1, bytes: size })
    })
    void done.catch((err) => { log('compacting room %s failed: %e', roomId, err) }).finally(() => compacting.delete(roomId))
    inflight.add(done)
    void done.catch(() => {}).finally(() => inflight.delete(done))
  }

  async function write (ops: StorageWrite[]): Promise<StorageWriteResult[]> {
    if (ops.length === 0) return []
    for (const op of ops) {
      // Values are packed into segments: what is not bytes is refused as
      // IndexedDB refuses what it cannot clone, before anything is applied.
      if (op.value != null && !(op.value instanceof Uint8Array)) throw new DOMException(`value of ${op.keyId} is not a Uint8Array`, 'DataCloneError')
    }
    const byRoom = new Map<string, StorageWrite[]>()
    for (const op of ops) {
      const list = byRoom.get(op.roomId)
      if (list == null) byRoom.set(op.roomId, [op])
      else list.push(op)
    }
    const { committed, residents } = await inTurn(async () => {
      const residents = await Promise.all([...byRoom.keys()].map(resident))
      const segmentRooms: string[] = []
      const segments: Uint8Array[] = []
      const keyOps: StorageWrite[] = []
      // In memory at once (reads from now on see the batch); on disk in
      // the order of the store's transactions (started within the turn).
      ;[...byRoom].forEach(([roomId, list], i) => {
        const room = residents[i]
        if (room == null) {
          keyOps.push(...list)
          return
        }
        room.batches++
        for (const op of list) {
          setValue(room, op.keyId, op.value)
          room.pending.set(op.keyId, (room.pending.get(op.keyId) ?? 0) + 1)
        }
        segmentRooms.push(roomId)
        segments.push(encodeSegment(list))
      })
      // Rooms read from disk commit on this thread: their reads must come
      // after the write, and only this thread's transactions are ordered
      // with them.
      const inWriter = keyOps.length === 0 ? commitInWriter(segmentRooms, segments) : undefined
      const done = inWriter ?? commit(segmentRooms, segments, keyOps)
      if (inWriter == null) lastLocalCommit = done
      inflight.add(done)
      void done.catch(() => {}).finally(() => inflight.delete(done))
      track(byRoom.keys(), done)
      const sizes = segments.map(s => s.byteLength)
      // Wrapped: the turn ends without waiting for the commit.
      return { committed: done.then(seqs => ({ seqs, sizes }), (err: unknown) => ({ err: err ?? new Error('IndexedDB write failed') })), residents }
    })
    const outcome = await committed
    const residentRooms = residents.filter((room): room is Resident => room != null)
    ;[...byRoom.values()].forEach((list, i) => {
      const room = residents[i]
      if (room == null) return
      room.batches--
      for (const op of list) {
        const n = (room.pending.get(op.keyId) ?? 1) - 1
        if (n === 0) room.pending.delete(op.keyId)
        else room.pending.set(op.keyId, n)
      }
    })
    if ('err' in outcome) {
      // Not on disk (or not known to be): those rooms are read again.
      for (const room of residentRooms) if (loaded.get(room.roomId) === room) drop(room.roomId)
      throw outcome.err
    }
    residentRooms.forEach((room, i) => {
      const seq = outcome.seqs[i]
      room.disk += outcome.sizes[i]
      if (seq === room.lastSeq + 1) room.lastSeq = seq
      // Another tab's segment came between: read it (and this one again).
      else if (seq > room.lastSeq) room.behind = true
      announceAppend(room.roomId, seq)
    })
    for (const [roomId] of [...byRoom].filter((_, i) => residents[i] == null)) announce({ roomId, reload: true })
    for (const room of residentRooms) maybeCompact(room)
    return ops.map(() => APPLIED)
  }

  /** The room in memory, up to date with other tabs; undefined when it is read from disk. */
  async function current (roomId: string): Promise<Resident | undefined> {
    const room = await resident(roomId)
    if (room?.behind === true) await catchUp(room)
    return room
  }

  async function getMany (roomId: string, keyIds: string[]): Promise<Array<Uint8Array | undefined>> {
    return inTurn(async () => {
      const room = await current(roomId)
      if (room == null) return keyIds.length === 0 ? [] : readDisk(roomId, keyIds)
      return keyIds.map(keyId => room.values.get(keyId))
    })
  }

  return {
    async writerReady () {
      if (!writerStarted) startWriter()
      if (writer == null) return false
      if (writerReady) return true
      return writerReadiness.wait()
    },
    async get (roomId, keyId) {
      return (await getMany(roomId, [keyId]))[0]
    },
    getMany,
    write,
    async put (roomId, keyId, value) {
      await write([{ roomId, keyId, value }])
    },
    async delete (roomId, keyId) {
      await write([{ roomId, keyId }])
    },
    async * list (roomId) {
      // A snapshot taken in turn: writes while the caller iterates do not disturb it.
      const snapshot = await inTurn(async () => {
        const room = await current(roomId)
        if (room == null) {
          await readDisk(roomId, [])
          return undefined
        }
        if (!room.sorted) {
          // Key id order, as IndexedDB lists keys (UTF-16 code units).
          room.values = new Map([...room.values].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          room.sorted = true
          room.maxKey = [...room.values.keys()].pop()
        }
        return [...room.values.values()]
      })
      if (snapshot != null) {
        yield * snapshot
        return
      }
      for await (const [, values] of readRange(legacyRange(roomId), listPage)) yield * values as Uint8Array[]
    },
    async close () {
      // Batches sent are answered before the Worker goes.
      await Promise.allSettled([...inflight])
      writer?.terminate()
      writer = undefined
      writerReadiness.settle(false)
      clearTimeout(appendTimer)
      flushAppends()
      channel?.close()
      rooms.clear()
      loaded.clear()
      residentBytes = 0
    }
  }
}
