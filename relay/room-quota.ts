/**
 * What one relay keeps: per room (keys, each with its current versions, and
 * bytes) and in total (bytes of every room, number of rooms). The storage
 * (relay/sqlite-storage.ts) keeps the usage counters; this module decides
 * whether one change fits, so the rule lives in one place.
 */
import { RoomkvError } from '../shared/errors.ts'
import { MiB } from '../shared/constants.ts'

const GiB = 1024 * MiB

/** Defaults of the quota flags (relay/config.ts). */
export const DEFAULT_MAX_ROOM_RECORDS = 100_000
export const DEFAULT_MAX_ROOM_BYTES = 256 * MiB
/**
 * Record bytes of all rooms together. Counted as the bytes of the stored
 * values: the database file is larger by its index and page slack.
 */
export const DEFAULT_MAX_DISK_BYTES = 10 * GiB
/** Each room costs a row and counters; 100,000 rooms is far beyond one community's use. */
export const DEFAULT_MAX_ROOMS = 100_000

/** A room is over this relay's key or byte quota: the write is refused, other rooms are unaffected. */
export class RoomFullError extends RoomkvError {
  static readonly code = 'ERR_ROOM_FULL'
  constructor (message = 'Room is full on this relay') {
    super(message, RoomFullError.code)
    this.name = 'RoomFullError'
  }
}

/**
 * The relay as a whole has no space for more: its disk budget
 * (`--max-disk-bytes`, all rooms together) or its number of rooms
 * (`--max-rooms`) is used up. Writes that do not grow usage still pass.
 */
export class DiskFullError extends RoomkvError {
  static readonly code = 'ERR_DISK_FULL'
  constructor (message = 'This relay has no space left for records') {
    super(message, DiskFullError.code)
    this.name = 'DiskFullError'
  }
}

export interface Usage {
  records: number
  bytes: number
}

export interface QuotaLimits {
  maxRoomRecords: number
  maxRoomBytes: number
  maxDiskBytes: number
  maxRooms: number
}

export interface QuotaChange {
  /** +1 for a new key, 0 for a replaced one. */
  addedRecords: number
  /** New value length minus the previous one (negative when it shrinks). */
  addedBytes: number
}

/**
 * The error that refuses `change`, or undefined when it fits. Only growth is
 * checked: a replacement that shrinks a room (pruning, a smaller head set) is
 * always allowed, even in a room over a quota lowered since it filled.
 */
export function quotaRefusal (room: Usage, total: { bytes: number, rooms: number }, change: QuotaChange, limits: QuotaLimits): RoomkvError | undefined {
  if (change.addedRecords > 0 && room.records === 0 && total.rooms + 1 > limits.maxRooms) {
    return new DiskFullError(`This relay keeps ${total.rooms} rooms; the limit is ${limits.maxRooms}`)
  }
  if (change.addedRecords > 0 && room.records + change.addedRecords > limits.maxRoomRecords) {
    return new RoomFullError(`Room holds ${room.records} keys on this relay; the limit is ${limits.maxRoomRecords}`)
  }
  if (change.addedBytes > 0 && room.bytes + change.addedBytes > limits.maxRoomBytes) {
    return new RoomFullError(`Room holds ${room.bytes} bytes on this relay; the limit is ${limits.maxRoomBytes}`)
  }
  if (change.addedBytes > 0 && total.bytes + change.addedBytes > limits.maxDiskBytes) {
    return new DiskFullError(`This relay holds ${total.bytes} record bytes; the limit is ${limits.maxDiskBytes}`)
  }
  return undefined
}
