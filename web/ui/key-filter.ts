/**
 * What the key list shows: a prefix filter and a sort order over the room's
 * rows. The rows arrive sorted by key (UTF-16 code units, as `list()`), so
 * a prefix is one contiguous run found by binary search: O(log n + shown),
 * and the default order costs no sort at all; only the time sort sorts.
 */
import type { KeyEntry } from '../../shared/room.ts'

export type KeySort = 'key' | 'key-desc' | 'recent'

export const KEY_SORTS: ReadonlyArray<{ sort: KeySort, label: string }> = [
  { sort: 'key', label: 'Key A–Z' },
  { sort: 'key-desc', label: 'Key Z–A' },
  { sort: 'recent', label: 'Recently changed' }
]

/** Newest version of a key among the winner and its conflicts. */
const changedAt = (entry: KeyEntry): number => entry.conflicts.reduce((max, c) => Math.max(max, c.clock.wall), entry.clock.wall)

/** First index in [lo, hi) where `past(i)` holds (it must be false, then true). */
function firstWhere (lo: number, hi: number, past: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (past(mid)) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** The run of rows (sorted by key) whose keys start with `prefix`, as [start, end). */
export function prefixRange (rows: readonly KeyEntry[], prefix: string, from = 0, to = rows.length): [number, number] {
  const start = firstWhere(from, to, i => rows[i].key >= prefix)
  const end = firstWhere(start, to, i => !rows[i].key.startsWith(prefix))
  return [start, end]
}

export function visibleKeys (rows: readonly KeyEntry[], prefix: string, sort: KeySort): readonly KeyEntry[] {
  let out: readonly KeyEntry[] = prefix === '' ? rows : rows.slice(...prefixRange(rows, prefix))
  if (sort === 'key-desc') out = out.slice().reverse()
  else if (sort === 'recent') out = out.slice().sort((a, b) => changedAt(b) - changedAt(a))
  return out
}

export interface KeyGroup {
  /** The group's prefix, ending in '/', e.g. `settings/`. */
  prefix: string
  count: number
}

/**
 * Key-path groups one level below `prefix`: keys `a/b/c` and `a/d` under
 * '' form the group `a/` (2). Rows are sorted by key, so groups come out
 * sorted; at most `limit` are returned (the biggest are not singled out:
 * the first ones in key order, as a file browser would list them).
 */
export function keyGroups (rows: readonly KeyEntry[], prefix: string, limit = 24): KeyGroup[] {
  const groups: KeyGroup[] = []
  const [start, end] = prefixRange(rows, prefix)
  let i = start
  while (i < end && groups.length < limit) {
    const key = rows[i].key
    const slash = key.indexOf('/', prefix.length)
    if (slash < 0) { i++; continue }
    // A group's keys are one run too: jump over it instead of visiting each.
    const group = key.slice(0, slash + 1)
    const [, runEnd] = prefixRange(rows, group, i, end)
    groups.push({ prefix: group, count: runEnd - i })
    i = runEnd
  }
  return groups
}

/** The prefix one level up: `a/b/` -> `a/`, `a/` -> ''. */
export function parentPrefix (prefix: string): string {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  const slash = trimmed.lastIndexOf('/')
  return slash < 0 ? '' : trimmed.slice(0, slash + 1)
}
