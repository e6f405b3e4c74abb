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
    async put (roomId, keyId, record) {
      const room = await usageOf(roomId)
      const previous = await inner.get(roomId, keyId)
      const records = room.records + (previous == null ? 1 : 0)
      const bytes = room.bytes + record.length - (previous?.length ?? 0)
      if (records > init.maxRecords) throw new RoomFullError(`Room holds ${room.records} records on this relay; the limit is ${init.maxRecords}`)
      if (bytes > init.maxBytes) throw new RoomFullError(`Room holds ${room.bytes} bytes on this relay; the limit is ${init.maxBytes}`)
      await inner.put(roomId, keyId, record)
      room.records = records
      room.bytes = bytes
    },
    async delete (roomId, keyId) {
      const room = await usageOf(roomId)
      const previous = await inner.get(roomId, keyId)
      await inner.delete(roomId, keyId)
      if (previous != null) {
        room.records--
        room.bytes -= previous.length
      }
    }
  }
}
