/**
 * Reactive state of the joined room for the UI. Components stay thin: they
 * read these fields and call these methods, never the network.
 */
import { joinTabRoom, type ClientStatus, type RoomClient } from '../node/room-client.ts'
import type { KeyEntry, PutResult, RoomChange } from '../../shared/room.ts'
import { describeError } from './messages.ts'

export interface JoinOptions {
  link: string
  iceServers?: RTCIceServer[]
}

/** Keys in the order `session.list()` sorts them (UTF-16 code units). */
const byKey = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

/** The `setTimeout` limit; a later expiry is checked again then. */
const MAX_TIMER = 2 ** 31 - 1

/**
 * The room's visible rows, patched one change at a time: a change carries
 * the key's whole state (winner and conflicts) after a merge, so applying it
 * replaces the row. Plain data, no runes: RoomState publishes `sorted()`.
 */
export class RoomRows {
  readonly #rows = new Map<string, KeyEntry>()
  /** Keys of the last `sorted()`, in order, and the same keys as a set. */
  #order: string[] = []
  readonly #shown = new Set<string>()
  readonly #added = new Set<string>()
  #removed = false
  /** Keys with a version that expires (store reads hide expired versions; so must the rows). */
  readonly #expiring = new Set<string>()

  /** Start over from a full list (already sorted by key, as `session.list()` returns it). */
  reset (entries: KeyEntry[]): void {
    this.#rows.clear()
    this.#shown.clear()
    this.#added.clear()
    this.#expiring.clear()
    this.#removed = false
    this.#order = entries.map(e => e.key)
    for (const entry of entries) {
      this.#rows.set(entry.key, entry)
      this.#shown.add(entry.key)
      if (expires(entry)) this.#expiring.add(entry.key)
    }
  }

  /** Apply one change; a deletion that won, with no conflicting value left, removes the row (as `list()` hides it). */
  apply (entry: KeyEntry): void {
    const { key } = entry
    if (entry.deleted && !entry.conflicts.some(c => !c.deleted)) {
      if (this.#rows.delete(key)) this.#removed = true
      this.#expiring.delete(key)
      return
    }
    if (!this.#rows.has(key) || !this.#shown.has(key)) this.#added.add(key)
    this.#rows.set(key, entry)
    if (expires(entry)) this.#expiring.add(key)
    else this.#expiring.delete(key)
  }

  /**
   * Drop versions expired at `now`; the best live one left becomes the
   * winner (heads are ranked, winner first). Returns the next expiry time,
   * or undefined when nothing expires.
   */
  expire (now: number): number | undefined {
    let next: number | undefined
    for (const key of this.#expiring) {
      const entry = this.#rows.get(key)
      if (entry == null) { this.#expiring.delete(key); continue }
      const { conflicts, ...winner } = entry
      const versions = [winner, ...conflicts]
      const live = versions.filter(v => v.expiresAt === 0 || v.expiresAt > now)
      if (live.length === 0) {
        this.#rows.delete(key)
        this.#expiring.delete(key)
        this.#removed = true
        continue
      }
      if (live.length < versions.length) this.apply({ ...live[0], conflicts: live.slice(1) })
      for (const v of live) if (v.expiresAt > 0 && (next == null || v.expiresAt < next)) next = v.expiresAt
    }
    return next
  }

  /** The next expiry among the rows, if any. */
  nextExpiry (): number | undefined {
    return this.expire(-Infinity)
  }

  /**
   * Every row, sorted by key. Costs O(rows + new keys x log new keys): new
   * keys are sorted among themselves and merged into the previous order, so
   * a burst into a large room never re-sorts the whole room.
   */
  sorted (): KeyEntry[] {
    let order = this.#order
    if (this.#removed) {
      order = order.filter(key => {
        if (this.#rows.has(key)) return true
        this.#shown.delete(key)
        return false
      })
      this.#removed = false
    }
    const fresh = [...this.#added].filter(key => this.#rows.has(key) && !this.#shown.has(key)).sort(byKey)
    this.#added.clear()
    if (fresh.length > 0) {
      for (const key of fresh) this.#shown.add(key)
      order = mergeSorted(order, fresh)
    }
    this.#order = order
    return order.map(key => this.#rows.get(key) as KeyEntry)
  }
}

const expires = (entry: KeyEntry): boolean => entry.expiresAt > 0 || entry.conflicts.some(c => c.expiresAt > 0)

function mergeSorted (a: string[], b: string[]): string[] {
  const out: string[] = new Array(a.length + b.length)
  let i = 0
  let j = 0
  let k = 0
  while (i < a.length && j < b.length) out[k++] = byKey(a[i], b[j]) <= 0 ? a[i++] : b[j++]
  while (i < a.length) out[k++] = a[i++]
  while (j < b.length) out[k++] = b[j++]
  return out
}

/** Run `fn` before the next paint (or in 16 ms where there are no frames); returns a cancel. */
function nextFrame (fn: () => void): () => void {
  if (typeof requestAnimationFrame === 'function' && globalThis.document?.visibilityState !== 'hidden') {
    const handle = requestAnimationFrame(fn)
    return () => { cancelAnimationFrame(handle) }
  }
  const timer = setTimeout(fn, 16)
  return () => { clearTimeout(timer) }
}

export class RoomState {
  status = $state<ClientStatus | undefined>()
  /** Every visible key, sorted; replaced (never mutated) at most once per animation frame. */
  entries = $state.raw<KeyEntry[]>([])
  error = $state('')
  notice = $state('')
  joining = $state(true)
  #client?: RoomClient
  #unsubscribe: Array<() => void> = []
  readonly #rows = new RoomRows()
  /** Changes heard while a list is being read; applied on top of it. */
  #loading?: KeyEntry[]
  #cancelFrame?: () => void
  #expiryTimer?: ReturnType<typeof setTimeout>
  #expiryAt?: number

  async join (options: JoinOptions): Promise<void> {
    try {
      const client = await joinTabRoom({ link: options.link, iceServers: options.iceServers })
      this.#client = client
      ;(globalThis as any).__roomkv = client // debugging and end-to-end tests
      this.status = client.status()
      this.#unsubscribe.push(client.onStatus(s => { this.status = s }))
      // Watch before listing, so nothing merged during the list is missed.
      this.#unsubscribe.push(client.session.watch(change => { this.#onChange(change) }))
      await this.reload()
    } catch (err) {
      this.error = describeError(err)
    } finally {
      this.joining = false
    }
  }

  /**
   * A change carries the key's whole state after a merge: patch that row
   * instead of listing and decrypting the room again (which made a burst of
   * n changes into a room of m keys cost n x m). Rows show at the next frame.
   */
  #onChange (change: RoomChange): void {
    const { source: _, ...entry } = change
    if (this.#loading != null) { this.#loading.push(entry); return }
    this.#rows.apply(entry)
    this.#watchExpiry(entry)
    this.#cancelFrame ??= nextFrame(() => { this.#publish() })
  }

  #publish (): void {
    this.#cancelFrame?.()
    this.#cancelFrame = undefined
    this.entries = this.#rows.sorted()
  }

  /** One timer for the soonest expiry: an expired version disappears from the rows as it does from `list()`. */
  #watchExpiry (entry?: KeyEntry): void {
    const soonest = entry == null
      ? this.#rows.nextExpiry()
      : [entry, ...entry.conflicts].reduce<number | undefined>((min, v) => v.expiresAt > 0 && (min == null || v.expiresAt < min) ? v.expiresAt : min, this.#expiryAt)
    if (soonest === this.#expiryAt && this.#expiryTimer != null) return
    clearTimeout(this.#expiryTimer)
    this.#expiryTimer = undefined
    this.#expiryAt = soonest
    if (soonest == null) return
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined
      this.#expiryAt = this.#rows.expire(Date.now())
      if (this.#expiryAt != null) this.#watchExpiry()
      this.#publish()
    }, Math.min(MAX_TIMER, Math.max(0, soonest - Date.now())))
  }

  /** List the whole room once (on join; callable again to start over from storage). */
  async reload (): Promise<void> {
    if (this.#client == null) return
    const heard: KeyEntry[] = []
    this.#loading = heard
    try {
      const listed = await this.#client.session.list()
      if (this.#loading !== heard) return // a newer reload took over
      this.#rows.reset(listed)
    } finally {
      if (this.#loading === heard) {
        this.#loading = undefined
        for (const entry of heard) this.#rows.apply(entry)
        this.#expiryAt = undefined
        this.#watchExpiry()
        this.#publish()
      }
    }
  }

  async put (key: string, value: string): Promise<void> {
    await this.#run(async (session) => { void this.#report('Stored', await session.put(key, value)) })
  }

  /**
   * Resolve a conflict by writing exactly the chosen version again: its
   * value with its type (a number stays a number, an object an object), or
   * a deletion when the chosen version is one.
   */
  async keep (key: string, version: { value?: unknown, deleted: boolean }): Promise<void> {
    await this.#run(async (session) => {
      if (version.deleted) void this.#report('Deleted', await session.delete(key))
      else void this.#report('Stored', await session.put(key, version.value))
    })
  }

  async remove (key: string): Promise<void> {
    await this.#run(async (session) => { void this.#report('Deleted', await session.delete(key)) })
  }

  async get (key: string): Promise<void> {
    await this.#run(async (session) => {
      const entry = await session.get(key, { network: true })
      const conflicts = entry?.conflicts.length ?? 0
      this.notice = entry == null
        ? `"${key}" is not set`
        : `"${key}" = ${entry.deleted ? '(deleted)' : JSON.stringify(entry.value)}${conflicts > 0 ? ` (${conflicts} conflicting value${conflicts === 1 ? '' : 's'})` : ''}`
    })
  }

  /**
   * put() resolves once the record is in this tab's store; the peers'
   * answers follow. Say "kept on this device" at once, then how many peers
   * hold it (or why they refused) when they have answered.
   */
  async #report (verb: string, result: PutResult): Promise<void> {
    this.notice = `${verb} "${result.key}" on this device; sending…`
    const delivered = await result.delivered
    if (this.notice !== `${verb} "${result.key}" on this device; sending…`) return // a newer action took over
    this.notice = delivered.peers === 0
      ? delivered.refused.length > 0
        ? `${verb} "${result.key}" on this device only: peers refused it (${delivered.refused[0]})`
        : `${verb} "${result.key}" on this device only: no peer reachable yet, it will sync when one is`
      : `${verb} "${result.key}" on ${delivered.peers} peer${delivered.peers === 1 ? '' : 's'}`
  }

  async #run (fn: (session: RoomClient['session']) => Promise<void>): Promise<void> {
    if (this.#client == null) return
    this.error = ''
    try {
      await fn(this.#client.session)
    } catch (err) {
      this.error = describeError(err)
    }
  }

  async close (): Promise<void> {
    this.#cancelFrame?.()
    clearTimeout(this.#expiryTimer)
    for (const unsubscribe of this.#unsubscribe) unsubscribe()
    await this.#client?.close()
  }
}
