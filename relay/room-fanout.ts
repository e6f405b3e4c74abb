/**
 * The relay as a hub for live updates: records a member pushes that are new
 * here are forwarded to the room's other connected members. Tabs also get
 * them over WebRTC (duplicates merge as "known"); peers without WebRTC (the
 * Node CLI) get live changes only this way.
 */
import { toString } from 'uint8arrays'
import type { Libp2p } from 'libp2p'
import type { PeerId } from '@libp2p/interface'
import type { RelayServices } from './node.ts'
import type { RelayLog } from './log.ts'

export interface RoomFanout {
  /** A peer pushed or synced this room: it is a member while connected. */
  member(peer: PeerId, roomId: Uint8Array): void
  forward(from: PeerId, roomId: Uint8Array, records: Uint8Array[]): void
}

export interface RoomFanoutInit {
  /** Members remembered per room at most. @default 256 */
  maxMembersPerRoom?: number
  /** Rooms tracked at most (least recently active dropped). @default 10_000 */
  maxRooms?: number
}

export function createRoomFanout (getNode: () => Libp2p<RelayServices> | undefined, log: RelayLog, init: RoomFanoutInit = {}): RoomFanout {
  const maxMembers = init.maxMembersPerRoom ?? 256
  const maxRooms = init.maxRooms ?? 10_000
  const rooms = new Map<string, Map<string, PeerId>>()
  const roomOf = (roomId: Uint8Array): Map<string, PeerId> => {
    const id = toString(roomId, 'base32')
    let members = rooms.get(id)
    if (members == null) {
      if (rooms.size >= maxRooms) rooms.delete(rooms.keys().next().value as string)
      members = new Map()
    }
    rooms.delete(id)
    rooms.set(id, members) // most recently active last
    return members
  }
  return {
    member (peer, roomId) {
      const members = roomOf(roomId)
      if (!members.has(peer.toString()) && members.size >= maxMembers) members.delete(members.keys().next().value as string)
      members.set(peer.toString(), peer)
    },
    forward (from, roomId, records) {
      const node = getNode()
      if (node == null) return
      const members = roomOf(roomId)
      for (const [id, peer] of members) {
        if (peer.equals(from)) continue
        if (node.getConnections(peer).length === 0) {
          members.delete(id) // gone; it re-registers when it syncs again
          continue
        }
        node.services.rooms.push(peer, roomId, records, { signal: AbortSignal.timeout(5000) }).catch((err) => {
          log.debug('forward failed', { peer: id, error: err.message })
        })
      }
    }
  }
}
