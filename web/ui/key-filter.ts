/**
 * What the key list shows: a prefix filter and a sort order over the room's
 * rows. O(n) per filter, O(n log n) only for the time sort; the rows arrive
 * already sorted by key, so the default order costs no sort at all.
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

export function visibleKeys (rows: readonly KeyEntry[], prefix: string, sort: KeySort): readonly KeyEntry[] {
  let out: readonly KeyEntry[] = prefix === '' ? rows : rows.filter(e => e.key.startsWith(prefix))
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
  let last: KeyGroup | undefined
  for (const row of rows) {
    if (!row.key.startsWith(prefix)) continue
    const slash = row.key.indexOf('/', prefix.length)
    if (slash < 0) continue
    const group = row.key.slice(0, slash + 1)
    if (last?.prefix === group) { last.count++; continue }
    if (groups.length === limit) break
    last = { prefix: group, count: 1 }
    groups.push(last)
  }
  return groups
}

/** The prefix one level up: `a/b/` -> `a/`, `a/` -> ''. */
export function parentPrefix (prefix: string): string {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  const slash = trimmed.lastIndexOf('/')
  return slash < 0 ? '' : trimmed.slice(0, slash + 1)
}
