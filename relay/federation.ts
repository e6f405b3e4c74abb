/**
 * Relays joined with `--bootstrap` serve the same rooms: when a room gets a
 * member here, this relay becomes a member of that room on every other
 * relay it is connected to (a replication session plus a catch-up sync).
 * Records then flow between relays like between any two members: each
 * relay's fan-out forwards a member's new records to the other relay, which
 * forwards them to its own members. A record is forwarded only while it is
 * new to the receiver, so nothing loops. The DHT stays the fallback for
 * rooms this relay never linked.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { toString } from 'uint8arrays'
import { second } from '../shared/constants.ts'
import { errorCode } from '../shared/errors.ts'
import type { Replication } from '../shared/protocol/replication.ts'
import type { RelayLog } from './log.ts'

export interface FederationInit {
  /** `--bootstrap` multiaddrs of the other relays (each ends in /p2p/<id>). */
  relays: string[]
  replication(): Replication | undefined
  sync(peer: PeerId, roomId: Uint8Array, signal: AbortSignal): Promise<unknown>
  /** Whether a connection to the peer is open. */
  connected(peer: PeerId): boolean
  log: RelayLog
  /** Rooms remembered for re-linking after a relay reconnects. @default 10,000 */
  maxRooms?: number
  /** Timeout of one link (session open + sync). @default 60 s */
  timeout?: number
  /** Links (session open + sync) running at once. @default 4 */
  concurrency?: number
}

export interface Federation {
  /** The other relays' peer ids. */
  readonly peers: PeerId[]
  /** A peer (maybe another relay) opened a session for a room here. */
  onRoomPeer(peer: PeerId, roomId: Uint8Array): void
  /** Another relay (re)connected: link it to every room linked so far. */
  onRelayConnected(peer: PeerId): void
}

export function createFederation (init: FederationInit): Federation {
  const peers: PeerId[] = []
  for (const addr of init.relays) {
    try {
      const id = multiaddr(addr).getComponents().findLast(c => c.name === 'p2p')?.value
      if (id != null && !peers.some(p => p.toString() === id)) peers.push(peerIdFromString(id))
    } catch {}
  }
  const maxRooms = init.maxRooms ?? 10_000
  /** Room id (base32) -> room id bytes, oldest first (a Map keeps insertion order). */
  const rooms = new Map<string, Uint8Array>()
  const inFlight = new Set<string>()
  const isRelay = (peer: PeerId): boolean => peers.some(p => p.equals(peer))

  /** Links waiting for a slot: a reconnect re-links every room, a few at a time. */
  const queue: Array<{ relay: PeerId, roomId: Uint8Array, key: string }> = []
  let running = 0
  const concurrency = init.concurrency ?? 4

  const next = (): void => {
    while (running < concurrency && queue.length > 0) {
      const { relay, roomId, key } = queue.shift() as { relay: PeerId, roomId: Uint8Array, key: string }
      const replication = init.replication()
      if (replication == null || !init.connected(relay)) { inFlight.delete(key); continue }
      running++
      const signal = AbortSignal.timeout(init.timeout ?? 60 * second)
      // Session first, so the other relay forwards every later write to us;
      // the sync after it covers everything written before.
      void replication.open(relay, roomId, signal)
        .then(async (opened) => {
          if (!opened) throw Object.assign(new Error('session refused'), { code: 'ERR_PROTOCOL' })
          await init.sync(relay, roomId, signal)
          init.log.debug('room linked with another relay', { relay: relay.toString(), room: key.slice(key.indexOf('/') + 1) })
        })
        .catch((err) => { init.log.warn('linking a room with another relay failed', { relay: relay.toString(), error: errorCode(err) }) })
        .finally(() => { inFlight.delete(key); running--; next() })
    }
  }

  const link = (relay: PeerId, roomId: Uint8Array): void => {
    const key = `${relay.toString()}/${toString(roomId, 'base32')}`
    if (inFlight.has(key)) return
    inFlight.add(key)
    queue.push({ relay, roomId, key })
    next()
  }

  return {
    peers,
    onRoomPeer (peer, roomId) {
      // Another relay joining our room is the link itself, seen from its side.
      if (peers.length === 0 || isRelay(peer)) return
      const room = toString(roomId, 'base32')
      if (rooms.has(room)) return
      rooms.set(room, roomId)
      if (rooms.size > maxRooms) rooms.delete(rooms.keys().next().value as string)
      for (const relay of peers) link(relay, roomId)
    },
    onRelayConnected (peer) {
      if (!isRelay(peer)) return
      for (const roomId of rooms.values()) link(peer, roomId)
    }
  }
}
