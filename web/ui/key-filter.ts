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
