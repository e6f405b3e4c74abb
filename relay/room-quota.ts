/**
 * Per-room limits on what one relay keeps: keys (each with its current
 * versions) and bytes. Room usage is
 * counted once from disk on first touch, then kept up to date, so a flood of
 * new keys in one room is refused without affecting other rooms.
 */
import { RoomkvError } from '../shared/errors.ts'
import type { RecordStorage } from '../shared/record-store.ts'

export class RoomFullError extends RoomkvError {
  static readonly code = 'ERR_ROOM_FULL'
  constructor (message = 'Room is full on this relay') {
    super(message, RoomFullError.code)
    this.name = 'RoomFullError'
  }
}

export interface RoomQuotaInit {
  maxRecords: number
  maxBytes: number
}

export function roomQuotaStorage (inner: RecordStorage, init: RoomQuotaInit): RecordStorage {
  const usage = new Map<string, Promise<{ records: number, bytes: number }>>()
  // Writes to one room run one after another, so concurrent new keys cannot
  // all pass the check (the record store only serialises writes per key).
  const queues = new Map<string, Promise<unknown>>()
  const inRoom = <T>(roomId: string, fn: () => Promise<T>): Promise<T> => {
    const next = (queues.get(roomId) ?? Promise.resolve()).then(fn, fn)
    const settled = next.catch(() => {})
    queues.set(roomId, settled)
    void settled.then(() => { if (queues.get(roomId) === settled) queues.delete(roomId) })
    return next
  }
  const usageOf = (roomId: string): Promise<{ records: number, bytes: number }> => {
    let counted = usage.get(roomId)
    if (counted == null) {
      counted = (async () => {
        const total = { records: 0, bytes: 0 }
        for await (const record of inner.list(roomId)) {
          total.records++
          total.bytes += record.length
        }
        return total
      })()
      usage.set(roomId, counted)
    }
    return counted
  }
  return {
    get: async (roomId, keyId) => inner.get(roomId, keyId),
    list: (roomId) => inner.list(roomId),
    rooms: inner.rooms == null ? undefined : () => (inner.rooms as () => AsyncIterable<string>)(),
    close: async () => { await inner.close() },
    put: async (roomId, keyId, record) => inRoom(roomId, async () => {
      const room = await usageOf(roomId)
      const previous = await inner.get(roomId, keyId)
      const addedRecords = previous == null ? 1 : 0
      const addedBytes = record.length - (previous?.length ?? 0)
      if (room.records + addedRecords > init.maxRecords) throw new RoomFullError(`Room holds ${room.records} keys on this relay; the limit is ${init.maxRecords}`)
      if (room.bytes + addedBytes > init.maxBytes) throw new RoomFullError(`Room holds ${room.bytes} bytes on this relay; the limit is ${init.maxBytes}`)
      await inner.put(roomId, keyId, record)
      room.records += addedRecords
      room.bytes += addedBytes
    }),
    delete: async (roomId, keyId) => inRoom(roomId, async () => {
      const room = await usageOf(roomId)
      const previous = await inner.get(roomId, keyId)
      await inner.delete(roomId, keyId)
      if (previous != null) {
        room.records--
        room.bytes -= previous.length
      }
    })
  }
}
