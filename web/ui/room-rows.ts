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
  /** The rows of the last `sorted()`, in key order: what the next one patches. */
  #list: KeyEntry[] = []
  /** The keys of `#list`. */
  readonly #listed = new Set<string>()
  /** Keys applied (set, changed or removed) since the last `sorted()`. */
  readonly #changed = new Set<string>()
  /** Keys with a version that expires (store reads hide expired versions; so must the rows). */
  readonly #expiring = new Set<string>()

  /** The row of `key`, as shown (undefined when the key is not set, deleted or expired). */
  get (key: string): KeyEntry | undefined {
    return this.#rows.get(key)
  }

  /** Start over from a full list (already sorted by key, as `session.list()` returns it). */
  reset (entries: KeyEntry[]): void {
    this.#rows.clear()
    this.#changed.clear()
    this.#expiring.clear()
    this.#list = entries.slice()
    this.#listed.clear()
    for (const entry of entries) {
      this.#listed.add(entry.key)
      this.#rows.set(entry.key, entry)
      if (expires(entry)) this.#expiring.add(entry.key)
    }
  }

  /** Apply one change; a deletion that won, with no conflicting value left, removes the row (as `list()` hides it). */
  apply (entry: KeyEntry): void {
    const { key } = entry
    if (entry.deleted && !entry.conflicts.some(c => !c.deleted)) {
      if (this.#rows.delete(key)) this.#changed.add(key)
      this.#expiring.delete(key)
      return
    }
    this.#rows.set(key, entry)
    this.#changed.add(key)
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
        this.#changed.add(key)
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
   * Every row, sorted by key: the last result patched with the keys changed
   * since, a new array. Costs O(changed keys x log rows) comparisons plus
   * one copy of the array: a room of 100,000 keys re-published while a
   * catch-up streams in stays far below a frame (a re-sort, or a lookup of
   * every row, took 50+ ms and blocked the page).
   */
  sorted (): KeyEntry[] {
    const list = this.#list
    if (this.#changed.size === 0) return list.slice()
    const freshKeys: string[] = []
    let replaced: KeyEntry[] | undefined
    let removed: Set<number> | undefined
    for (const key of this.#changed) {
      const entry = this.#rows.get(key)
      if (!this.#listed.has(key)) {
        // Set, maybe changed, maybe removed again since the last call.
        if (entry != null) freshKeys.push(key)
        continue
      }
      const at = lowerBound(list, key, 0)
      if (entry != null) {
        (replaced ??= list.slice())[at] = entry
      } else {
        (removed ??= new Set()).add(at)
        this.#listed.delete(key)
      }
    }
    this.#changed.clear()
    let out = replaced ?? list
    if (removed != null) out = out.filter((_, i) => !removed.has(i))
    if (freshKeys.length > 0) {
      // The default sort orders strings by UTF-16 code units, as byKey does,
      // without a JS comparator call per comparison (thousands of new keys
      // per publish during a catch-up).
      freshKeys.sort()
      const fresh = freshKeys.map(key => this.#rows.get(key) as KeyEntry)
      for (const key of freshKeys) this.#listed.add(key)
      out = insertSorted(out, fresh)
    } else if (out === list) {
      out = list.slice()
    }
    this.#list = out
    return out
  }
}

/** Index of the first row at or after `from` whose key is not below `key` (rows sorted by key). */
function lowerBound (rows: KeyEntry[], key: string, from: number): number {
  let lo = from
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (byKey(rows[mid].key, key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * `rows` with `fresh` (sorted, keys not in `rows`) merged in. Few new keys
 * find their places by binary search and the rows between are copied
 * without comparing (O(k log n)); many (a catch-up: thousands per publish)
 * are merged in one pass (O(n + k)), whichever compares less.
 */
function insertSorted (rows: KeyEntry[], fresh: KeyEntry[]): KeyEntry[] {
  const out: KeyEntry[] = new Array(rows.length + fresh.length)
  let from = 0
  let k = 0
  if (fresh.length * Math.log2(rows.length + 2) < rows.length) {
    for (const entry of fresh) {
      const at = lowerBound(rows, entry.key, from)
      while (from < at) out[k++] = rows[from++]
      out[k++] = entry
    }
  } else {
    let j = 0
    while (from < rows.length && j < fresh.length) out[k++] = byKey(rows[from].key, fresh[j].key) < 0 ? rows[from++] : fresh[j++]
    while (j < fresh.length) out[k++] = fresh[j++]
  }
  while (from < rows.length) out[k++] = rows[from++]
  return out
}

const expires = (entry: KeyEntry): boolean => entry.expiresAt > 0 || entry.conflicts.some(c => c.expiresAt > 0)

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
