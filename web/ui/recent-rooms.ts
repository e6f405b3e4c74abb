/**
 * Rooms opened on this device, newest first, kept in localStorage so the
 * start screen can reopen or forget them. The stored list is read as
 * hostile input: anything malformed is dropped, sizes are bounded.
 */
import { parseRoomLink } from '../../shared/link.ts'

export interface RecentRoom {
  /** The full room link (origin + #v1.secret). */
  link: string
  /** Name chosen on this device; never sent anywhere. */
  name: string
  /** ms since epoch. */
  openedAt: number
}

/** Storage the list lives in (localStorage in tabs, a Map-backed stub in tests). */
export interface TextStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

export interface RecentRoomsInit {
  storage?: TextStorage
  /** @default 'roomkv:recent-rooms' */
  storageKey?: string
  /** Rooms kept; older ones are dropped. @default 30 */
  limit?: number
}

export const MAX_ROOM_NAME = 80
const DEFAULT_KEY = 'roomkv:recent-rooms'
const DEFAULT_LIMIT = 30

/** The same room has one entry however its link was written (origin + code). */
export function roomIdentity (link: string): string {
  const { origin, secret } = parseRoomLink(link)
  return `${origin}|${Array.from(secret, b => b.toString(16).padStart(2, '0')).join('')}`
}

export function cleanRoomName (name: string): string {
  // Control characters would corrupt the list's layout; names are for people.
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_ROOM_NAME)
}

export class RecentRoomsStore {
  readonly #storage?: TextStorage
  readonly #key: string
  readonly #limit: number

  constructor (init: RecentRoomsInit = {}) {
    this.#storage = init.storage
    this.#key = init.storageKey ?? DEFAULT_KEY
    this.#limit = init.limit ?? DEFAULT_LIMIT
  }

  list (): RecentRoom[] {
    let parsed: unknown
    try {
      parsed = JSON.parse(this.#storage?.getItem(this.#key) ?? '[]')
    } catch {
      return []
    }
    if (!Array.isArray(parsed)) return []
    const out: RecentRoom[] = []
    const seen = new Set<string>()
    for (const item of parsed.slice(0, this.#limit)) {
      if (item == null || typeof item.link !== 'string' || item.link.length > 2048) continue
      let id: string
      try { id = roomIdentity(item.link) } catch { continue }
      if (seen.has(id)) continue
      seen.add(id)
      out.push({
        link: item.link,
        name: typeof item.name === 'string' ? cleanRoomName(item.name) : '',
        openedAt: Number.isFinite(item.openedAt) ? item.openedAt : 0
      })
    }
    return out
  }

  /** Note that `link` was opened now; a name given here replaces the stored one, an empty one keeps it. */
  touch (link: string, name = '', now = Date.now()): RecentRoom[] {
    const id = roomIdentity(link)
    const rooms = this.list()
    const old = rooms.find(r => roomIdentity(r.link) === id)
    const entry: RecentRoom = { link, name: cleanRoomName(name) || (old?.name ?? ''), openedAt: now }
    return this.#save([entry, ...rooms.filter(r => r !== old)])
  }

  forget (link: string): RecentRoom[] {
    const id = roomIdentity(link)
    return this.#save(this.list().filter(r => roomIdentity(r.link) !== id))
  }

  #save (rooms: RecentRoom[]): RecentRoom[] {
    const kept = rooms.slice(0, this.#limit)
    try {
      this.#storage?.setItem(this.#key, JSON.stringify(kept))
    } catch {
      // Storage full or blocked (private mode): the list is a convenience, the room still opens.
    }
    return kept
  }
}
