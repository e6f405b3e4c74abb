/**
 * The room's visible rows, patched from watch() deltas. Plain data, no
 * runes, so it is unit-tested directly; RoomState publishes `sorted()`.
 */
import type { RoomEntry } from '../../shared/record.ts'
import type { KeyEntry } from '../../shared/room.ts'

/** Keys in the order `session.list()` sorts them (UTF-16 code units). */
const byKey = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

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

  /** The row of `key`, as shown (undefined when the key is not set, deleted or expired). */
  get (key: string): KeyEntry | undefined {
    return this.#rows.get(key)
  }

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

/**
 * Conflicting versions worth showing: a version equal to the winner (same
 * value, or both deletions) is no choice for the user, so it is hidden
 * here; the protocol keeps it until the next write of the key replaces it.
 */
export function shownConflicts (entry: KeyEntry): RoomEntry[] {
  if (entry.conflicts.length === 0) return entry.conflicts
  const seen = new Set([versionText(entry)])
  return entry.conflicts.filter(c => {
    const text = versionText(c)
    if (seen.has(text)) return false
    seen.add(text)
    return true
  })
}
const versionText = (v: Pick<RoomEntry, 'value' | 'deleted'>): string => v.deleted ? '\u0000deleted' : JSON.stringify(v.value) ?? 'undefined'
