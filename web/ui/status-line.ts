/**
 * The room's connection in one plain-language line (Connecting / Online,
 * N people here / Offline, N changes waiting); the technical view lives in
 * the status details. Pure: unit-tested on status objects.
 */
import type { ClientStatus } from '../node/room-client.ts'
import { formatCount } from './format.ts'

export type Connection = 'connecting' | 'online' | 'offline'

export interface StatusLine {
  connection: Connection
  text: string
  /** Other people's tabs or peers connected in this room now. */
  others: number
  /** Changes written here and not yet acknowledged by a peer. */
  waiting: number
}

const plural = (n: number, one: string, many: string): string => `${formatCount(n)} ${n === 1 ? one : many}`

/**
 * `keptHere`: writes this tab made that reached no peer yet (the SDK's
 * outbox counts only records already sent), shown while offline.
 */
export function statusLine (status: ClientStatus | undefined, joining: boolean, keptHere = 0): StatusLine {
  if (status == null) return { connection: joining ? 'connecting' : 'offline', text: joining ? 'Connecting…' : 'Offline', others: 0, waiting: 0 }
  const others = status.room.direct + status.room.relayed
  const waiting = status.room.outbox
  const { phase, attempts } = status.relay
  const relayUp = phase === 'connected' || phase === 'reserved'
  if (relayUp || others > 0) {
    const here = others === 0 ? 'only you here' : `${plural(others + 1, 'person', 'people')} here`
    const sending = waiting > 0 ? `, sending ${plural(waiting, 'change', 'changes')}` : ''
    // A catch-up of a big room takes seconds: say how far it got.
    const sync = status.room.syncing
    const loading = sync != null && sync.total > 0 && sync.received < sync.total ? `, loading ${formatCount(sync.received)} of ${plural(sync.total, 'key', 'keys')}` : ''
    return { connection: 'online', text: `Online, ${here}${loading}${sending}`, others, waiting }
  }
  // Only the very first dial reads "Connecting": a retry after a failure
  // stays "Offline" so the line does not flicker with every backoff round.
  if (phase === 'connecting' && attempts <= 1 && !joining) return { connection: 'connecting', text: 'Connecting…', others, waiting }
  if (joining) return { connection: 'connecting', text: 'Connecting…', others, waiting }
  const offlineWaiting = Math.max(waiting, keptHere)
  const kept = offlineWaiting > 0 ? `${plural(offlineWaiting, 'change', 'changes')} waiting` : 'changes are kept on this device'
  return { connection: 'offline', text: `Offline, ${kept}`, others, waiting: offlineWaiting }
}
