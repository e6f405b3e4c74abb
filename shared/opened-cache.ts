/**
 * Plaintexts of records this replica has already opened, by record id, so a
 * record is decrypted once and not again for every read: a catch-up
 * decrypts each new record for the room's watchers, and the `list()` right
 * after it would otherwise decrypt all of them again (measured: 0.5-0.9 s
 * of CPU per 10,000 keys in a Node peer, ~0.9 s in a tab).
 *
 * A record id is the hash of the record's body, so one id always opens to
 * the same payload; the entry a reader gets is rebuilt from the cached text
 * (a fresh JSON.parse), so no caller can change another caller's value.
 * Bounded by payload characters and by count, least recently used first out.
 */

export interface OpenedPayload {
  /** The key name. */
  name: string
  /** The value as stored: JSON text ('' for a deletion). */
  value: string
}

export interface OpenedCacheInit {
  /** Characters of names and values kept. @default 16 Mi (about 32 MiB of strings) */
  maxChars?: number
  /** Payloads kept. @default 262,144 */
  maxEntries?: number
}

export interface OpenedCache {
  get(recordId: Uint8Array): OpenedPayload | undefined
  set(recordId: Uint8Array, payload: OpenedPayload): void
  readonly size: number
}

/**
 * The record id as a map key: one char per byte. Base64 through
 * uint8arrays cost ~10 us per record, a tenth of a 60,000-key catch-up's
 * main thread in a tab.
 */
function idText (id: Uint8Array): string {
  return String.fromCharCode.apply(null, id as unknown as number[])
}

export function createOpenedCache (init: OpenedCacheInit = {}): OpenedCache {
  const maxChars = init.maxChars ?? 16 * 1024 * 1024
  const maxEntries = init.maxEntries ?? 262_144
  const entries = new Map<string, OpenedPayload>()
  let chars = 0
  const cost = (p: OpenedPayload): number => p.name.length + p.value.length + 64
  return {
    get (recordId) {
      const id = idText(recordId)
      const payload = entries.get(id)
      if (payload != null) {
        // Most recently used last: the Map's order is the eviction order.
        entries.delete(id)
        entries.set(id, payload)
      }
      return payload
    },
    set (recordId, payload) {
      const id = idText(recordId)
      const old = entries.get(id)
      if (old != null) {
        chars -= cost(old)
        entries.delete(id)
      }
      if (cost(payload) > maxChars) return
      entries.set(id, payload)
      chars += cost(payload)
      // Only when over a bound: an iterator (and an entry pair per step) on
      // every insert was garbage a catch-up made 10,000 times.
      if (chars <= maxChars && entries.size <= maxEntries) return
      for (const [oldest, p] of entries) {
        if (chars <= maxChars && entries.size <= maxEntries) break
        entries.delete(oldest)
        chars -= cost(p)
      }
    },
    get size () { return entries.size }
  }
}
