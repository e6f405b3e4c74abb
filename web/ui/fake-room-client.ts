/**
 * Test double for the narrow client RoomState uses (RoomStateClient): no
 * libp2p, no storage; shared by the web/ui state classes' unit tests.
 */
import type { ClientStatus } from '../../shared/room-client.ts'
import type { KeyEntry, PutResult, RoomChange } from '../../shared/room.ts'
import type { RoomStateClient } from './room-state.svelte.ts'

export const LINK = 'http://relay.test/#v1.fake'
export type Delivered = Awaited<PutResult['delivered']>

export function entry (key: string, value: unknown, init: Partial<KeyEntry> = {}): KeyEntry {
  return {
    key,
    value,
    deleted: false,
    clock: { wall: 1, logical: 0 } as unknown as KeyEntry['clock'],
    writer: 'w-other',
    expiresAt: 0,
    keyId: new Uint8Array(1),
    id: new Uint8Array(1),
    replaces: [],
    conflicts: [],
    ...init
  }
}

export function status (relay: 'reserved' | 'disconnected', direct = 0): ClientStatus {
  // Only what statusLine reads; the rest of ClientStatus is the SDK's business.
  return { peerId: 'p', relay: { phase: relay, attempts: 2 }, room: { direct, relayed: 0, outbox: 0 } } as unknown as ClientStatus
}

/**
 * The narrow client RoomState uses, in memory: list() returns `rows`, every
 * put/delete is recorded and answers with a delivery the test settles.
 */
export class FakeClient implements RoomStateClient {
  rows: KeyEntry[] = []
  writes: Array<{ op: 'put' | 'delete', args: unknown[] }> = []
  deliveries: Array<{ resolve: (d: Delivered) => void, reject: (err: Error) => void }> = []
  watchers = new Set<(change: RoomChange) => void>()
  statusWatchers = new Set<(s: ClientStatus) => void>()
  closed = 0
  current = status('reserved')
  failPut?: Error

  #result (key: string): PutResult {
    const { promise, resolve, reject } = Promise.withResolvers<Delivered>()
    this.deliveries.push({ resolve, reject })
    return { key, id: 'ab', peers: 0, storedOn: [], delivered: promise }
  }

  session: RoomStateClient['session'] = {
    watch: (cb) => { this.watchers.add(cb); return () => { this.watchers.delete(cb) } },
    list: async () => this.rows,
    get: async (key) => this.rows.find(r => r.key === key),
    put: async (...args) => {
      this.writes.push({ op: 'put', args })
      if (this.failPut != null) throw this.failPut
      return this.#result(args[0])
    },
    delete: async (...args) => { this.writes.push({ op: 'delete', args }); return this.#result(args[0]) }
  }

  status (): ClientStatus { return this.current }
  onStatus (cb: (s: ClientStatus) => void): () => void { this.statusWatchers.add(cb); return () => { this.statusWatchers.delete(cb) } }
  async diagnostics (): Promise<never> { throw new Error('not used') }
  async close (): Promise<void> { this.closed++ }

  emit (change: RoomChange): void { for (const cb of this.watchers) cb(change) }
  setStatus (s: ClientStatus): void { this.current = s; for (const cb of this.statusWatchers) cb(s) }
}
