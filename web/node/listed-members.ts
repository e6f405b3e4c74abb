/**
 * Room members a relay listed, as this tab's node sees them: used to make a
 * direct connection count the moment it opens, and to keep the other
 * services of the node from dialling a second WebRTC connection to a member
 * whose own dial is under way.
 *
 * Why here and not in the room session: the session learns a member from its
 * own dial (shared/room.ts) or from the member's session hello; when the
 * member dialled us, the hello arrives a few round trips after the WebRTC
 * connection opened (measured 100-250 ms on a loaded machine), and that is
 * when the join showed as direct. The relay already said the peer is a room
 * member, so an unlimited connection to it is a direct member as it opens.
 *
 * Why a dial gate: kad-dht reaches members on its own (its first self-query
 * runs 1 s after start, its routing table pings new contacts), and over a
 * relay circuit that is a WebRTC dial. While the member whose turn it is
 * (shared/room.ts dialTurn) is dialling us, that made a second
 * RTCPeerConnection per pair; the join then waited for the slower one's
 * session.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { second } from '../../shared/constants.ts'
import { dialTurn } from '../../shared/room.ts'

const log = logger('roomkv:listed-members')

export interface ListedMembersInit {
  /** This node's peer id (read late: the node is created after this). */
  self(): PeerId
  /** Open connections to a peer (the node's `getConnections`). */
  connections(peer: PeerId): Connection[]
  /** A member of `roomId` is directly connected (the room session adds it). */
  onRoomPeer(peer: PeerId, roomId: Uint8Array): void
  /**
   * How long the member whose turn it is gets to dial before we may dial it
   * too (doubled while its circuit to us is open, as in dialTurn). Shorter
   * than the room session's own wait (3 s), so the session's dial after its
   * wait is never refused here.
   * @default 2.5 s
   */
  grace?: number
  /** Members remembered at most (oldest forgotten first). @default 1000 */
  maxMembers?: number
}

export interface ListedMembers {
  /** A relay listed `members` of `roomId` (replication.onMembers). */
  listed(relay: PeerId, roomId: Uint8Array, members: PeerId[]): void
  /** A connection opened (the node's `connection:open`). */
  opened(connection: Connection): void
  /**
   * Whether a dial to `addr` must wait: a WebRTC dial to a listed member
   * whose turn it is to dial us, inside its head start.
   */
  mustWait(addr: Multiaddr): boolean
}

const isWebRtc = (addr: string): boolean => /\/webrtc(\/|$)/.test(addr)
const peerOf = (addr: Multiaddr): string | undefined => addr.getComponents().findLast(c => c.name === 'p2p')?.value

export function listedMembers (init: ListedMembersInit): ListedMembers {
  const grace = init.grace ?? 2.5 * second
  const maxMembers = init.maxMembers ?? 1000
  /** Member id -> the room a relay listed it in, and when we first heard. */
  const members = new Map<string, { roomId: Uint8Array, at: number }>()

  const direct = (peer: PeerId): boolean => init.connections(peer).some(c => c.status === 'open' && c.limits == null)

  return {
    listed (_relay, roomId, list) {
      for (const peer of list) {
        const id = peer.toString()
        if (peer.equals(init.self())) continue
        if (!members.has(id)) {
          if (members.size >= maxMembers) members.delete(members.keys().next().value as string)
          members.set(id, { roomId, at: Date.now() })
        }
        // Connected before the list came (its dial beat the relay's answer).
        if (direct(peer)) init.onRoomPeer(peer, roomId)
      }
    },
    opened (connection) {
      if (connection.limits != null) return
      const member = members.get(connection.remotePeer.toString())
      if (member == null) return
      log('listed member %p connected directly', connection.remotePeer)
      init.onRoomPeer(connection.remotePeer, member.roomId)
    },
    mustWait (addr) {
      const text = addr.toString()
      if (!isWebRtc(text)) return false
      const id = peerOf(addr)
      const member = id == null ? undefined : members.get(id)
      if (id == null || member == null) return false
      // Its circuit to us is open: its WebRTC handshake runs over it (a longer head start, as in dialTurn).
      const inbound = init.connections(peerIdFromString(id)).some(c => c.status === 'open' && c.direction === 'inbound' && c.limits != null)
      const turn = dialTurn({ self: init.self().toString(), peer: id, waited: Date.now() - member.at, inbound, grace })
      if (!turn.dial) log('not dialling %s over WebRTC: its dial to us has %d ms left', id, turn.retryIn)
      return !turn.dial
    }
  }
}
