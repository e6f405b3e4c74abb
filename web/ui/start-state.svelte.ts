/**
 * The start screen's state: recent rooms on this device, creating a room
 * and joining by a pasted link. Navigation is by URL hash (the room secret
 * stays in the fragment, which browsers never send to a server).
 */
import { formatRoomLink, parseRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import { describeError } from './messages.ts'
import { RecentRoomsStore, type RecentRoom } from './recent-rooms.ts'

export interface StartStateInit {
  store?: RecentRoomsStore
  /** Where a link opens. @default assigning `location.href` */
  navigate?: (link: string) => void
  /** @default location.origin */
  origin?: string
}

export class StartState {
  #recent = $state.raw<RecentRoom[]>([])
  #joinError = $state('')
  readonly #store: RecentRoomsStore
  readonly #navigate: (link: string) => void
  readonly #origin: string

  constructor (init: StartStateInit = {}) {
    this.#store = init.store ?? new RecentRoomsStore({ storage: globalThis.localStorage })
    this.#navigate = init.navigate ?? ((link) => { location.href = link })
    this.#origin = init.origin ?? location.origin
    this.#recent = this.#store.list()
  }

  get recent (): RecentRoom[] { return this.#recent }
  get joinError (): string { return this.#joinError }

  /** A new room with a fresh secret; `name` is kept on this device only. */
  create (name: string): string {
    const link = formatRoomLink(this.#origin, newRoomSecret())
    this.#recent = this.#store.touch(link, name)
    this.#navigate(link)
    return link
  }

  /** Open a pasted link (full link, #fragment or bare code); a malformed one explains itself and opens nothing. */
  join (text: string): boolean {
    this.#joinError = ''
    let origin: string
    try {
      origin = parseRoomLink(text).origin
    } catch (err) {
      this.#joinError = describeError(err)
      return false
    }
    const trimmed = text.trim()
    const code = trimmed.slice(trimmed.indexOf('#') + 1)
    // A bare code or fragment joins through this page's relay; a full link through its own.
    const link = origin === '' ? `${this.#origin}/#${code}` : trimmed
    this.#recent = this.#store.touch(link)
    this.#navigate(link)
    return true
  }

  clearJoinError (): void { this.#joinError = '' }

  open (room: RecentRoom): void {
    this.#recent = this.#store.touch(room.link)
    this.#navigate(room.link)
  }

  forget (room: RecentRoom): void {
    this.#recent = this.#store.forget(room.link)
  }

  /** Name (or rename) a room on this device; returns the name kept. */
  rename (link: string, name: string): string {
    this.#recent = this.#store.touch(link, name)
    return this.#recent[0]?.name ?? ''
  }

  /** Note the room now open (so it is in the recent list next time); returns its local name. */
  opened (link: string): string {
    try {
      this.#recent = this.#store.touch(link)
      return this.#recent[0]?.name ?? ''
    } catch {
      return ''
    }
  }
}
