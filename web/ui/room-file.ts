/**
 * Room export files: every key's current value (type kept) and expiry, as
 * JSON. Import reads the file as hostile input: size, count and shape are
 * checked before anything is written, and the plan says what would change.
 */
import type { KeyEntry } from '../../shared/room.ts'
import { formatCount } from './format.ts'

export const ROOM_FILE_FORMAT = 'roomkv-export'
export const ROOM_FILE_VERSION = 1
/** Largest file read: a full room of 100,000 small keys fits well within it. */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024
/** What a file over MAX_IMPORT_BYTES gets, whether it is refused before or after reading. */
export const TOO_LARGE = `The file is too large (at most ${MAX_IMPORT_BYTES / 1024 / 1024} MiB)`
export const MAX_IMPORT_KEYS = 100_000
/** Same bound as the editor's: the SDK checks the real (byte) limit on put. */
export const MAX_IMPORT_KEY_CHARS = 1024

export interface RoomFileKey {
  key: string
  value: unknown
  /** ms since epoch; absent = never. */
  expiresAt?: number
}

export interface RoomFile {
  format: typeof ROOM_FILE_FORMAT
  version: typeof ROOM_FILE_VERSION
  exportedAt: string
  keys: RoomFileKey[]
}

/** The file for these rows: set keys only (a won deletion or an expired value is not data). */
export function exportRoom (rows: readonly KeyEntry[], now = Date.now()): RoomFile {
  const keys: RoomFileKey[] = []
  for (const row of rows) {
    if (row.deleted || (row.expiresAt > 0 && row.expiresAt <= now)) continue
    keys.push(row.expiresAt > 0 ? { key: row.key, value: row.value, expiresAt: row.expiresAt } : { key: row.key, value: row.value })
  }
  return { format: ROOM_FILE_FORMAT, version: ROOM_FILE_VERSION, exportedAt: new Date(now).toISOString(), keys }
}

export type ParsedRoomFile = { ok: true, keys: RoomFileKey[] } | { ok: false, message: string }

export function parseRoomFile (text: string): ParsedRoomFile {
  if (text.length > MAX_IMPORT_BYTES) return { ok: false, message: TOO_LARGE }
  let data: any
  try {
    data = JSON.parse(text)
  } catch (err) {
    return { ok: false, message: `The file is not JSON: ${(err as Error).message}` }
  }
  if (data == null || typeof data !== 'object' || data.format !== ROOM_FILE_FORMAT) return { ok: false, message: 'This is not a roomkv export file' }
  if (data.version !== ROOM_FILE_VERSION) return { ok: false, message: `Unsupported export version ${String(data.version)}` }
  if (!Array.isArray(data.keys)) return { ok: false, message: 'The file has no list of keys' }
  if (data.keys.length > MAX_IMPORT_KEYS) return { ok: false, message: `Too many keys: at most ${formatCount(MAX_IMPORT_KEYS)}` }
  const seen = new Set<string>()
  const keys: RoomFileKey[] = []
  for (const [i, item] of data.keys.entries()) {
    const where = `entry ${i + 1}`
    if (item == null || typeof item !== 'object') return { ok: false, message: `${where} is not an object` }
    if (typeof item.key !== 'string' || item.key === '' || item.key.length > MAX_IMPORT_KEY_CHARS) return { ok: false, message: `${where} has no valid key` }
    if (!('value' in item) || item.value === undefined) return { ok: false, message: `"${item.key}" has no value` }
    if (seen.has(item.key)) return { ok: false, message: `"${item.key}" appears twice` }
    if (item.expiresAt != null && (!Number.isSafeInteger(item.expiresAt) || item.expiresAt < 0)) return { ok: false, message: `"${item.key}" has an invalid expiry` }
    seen.add(item.key)
    keys.push(item.expiresAt != null && item.expiresAt > 0 ? { key: item.key, value: item.value, expiresAt: item.expiresAt } : { key: item.key, value: item.value })
  }
  return { ok: true, keys }
}

export interface ImportPlan {
  /** Keys not in the room now. */
  added: RoomFileKey[]
  /** Keys whose value differs. */
  changed: RoomFileKey[]
  /** Keys with the same value already (not written again). */
  unchanged: number
  /** Keys whose expiry has passed (not written). */
  expired: number
}

export function planImport (keys: readonly RoomFileKey[], current: (key: string) => KeyEntry | undefined, now = Date.now()): ImportPlan {
  const plan: ImportPlan = { added: [], changed: [], unchanged: 0, expired: 0 }
  for (const item of keys) {
    if (item.expiresAt != null && item.expiresAt <= now) { plan.expired++; continue }
    const row = current(item.key)
    if (row == null || row.deleted) plan.added.push(item)
    else if (JSON.stringify(row.value) === JSON.stringify(item.value) && row.expiresAt === (item.expiresAt ?? 0)) plan.unchanged++
    else plan.changed.push(item)
  }
  return plan
}
