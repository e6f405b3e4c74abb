/**
 * The connectivity doctor's data: one JSON-able report of how this peer is
 * connected to a room and, whenever it has no direct member, why. Shown by
 * the web app's diagnostics panel ("Copy diagnostic report") and printed by
 * `roomkv doctor LINK`.
 */
import type { Connection, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { second } from './constants.ts'
import type { JoinPhases } from './join-phases.ts'
import type { RelayConnection, RelayState } from './relay-connection.ts'
import type { RoomNode, RoomSession } from './room.ts'

export interface PeerDiagnostics {
  id: string
  /** A relay of this room, or a room member. */
  role: 'relay' | 'member'
  /** direct: WebRTC or WebSockets; relayed: only a limited relay circuit; none: not connected. */
  path: 'direct' | 'relayed' | 'none'
  /** Remote address of the best connection. */
  address?: string
  /** Round-trip time in ms (a ping now, else the connection's last measurement). */
  rtt?: number
  /** On a relayed path: what the relay still allows (seconds, bytes as a decimal string). */
  limits?: { seconds?: number, bytes?: string }
  /** How long the connection has been open, ms. */
  openFor?: number
}

export interface RoomDiagnostics {
  /** When the report was made (ms since epoch). */
  at: number
  peerId: string
  roomId: string
  /** This peer's own addresses (a /p2p-circuit one means others can reach it through a relay). */
  addresses: string[]
  /** When each join step happened (see JoinPhases). */
  phases: JoinPhases
  /** Relay connection summary: phase and detail, as in ClientStatus.relay. */
  relay: { phase: string, detail: string }
  /** Every relay, in preference order, with its state and last failure. */
  relays: RelayState[]
  /** Relays and members this peer is connected to or knows of. */
  peers: PeerDiagnostics[]
  /** Members on a direct connection (0 = nobody to exchange with but relays). */
  direct: number
  /** Why there is no direct member, in words a user can act on; empty when there is one. */
  reason: string
  /** The last failed step, with a stable code and a plain reason. */
  lastError?: { step: string, code: string, reason: string }
  lastSync?: { at: number, peer: string, received: number, sent: number }
  /** Records sent and not yet acknowledged. */
  outbox: number
}

/** Plain words for the error codes a join can run into. */
export function plainReason (code: string): string {
  switch (code) {
    case 'ERR_TIMEOUT':
    case 'TimeoutError':
    case 'AbortError':
      return 'no answer in time'
    case 'ERR_RELAY_UNREACHABLE':
    case 'DialError':
    case 'ERR_CONNECTION_REFUSED':
      return 'could not connect'
    case 'ERR_CONNECTION_LOST':
      return 'the connection dropped'
    case 'DialDeniedError':
    case 'ConnectionDeniedError':
      return 'the browser or gater refused the address (mixed content: an https page cannot open ws://; use the relay\'s wss:// address)'
    case 'ERR_RATE_LIMITED':
      return 'the relay refused: too many requests'
    case 'ERR_ROOM_FULL':
      return 'the relay refused: room is full'
    case 'EncryptionFailedError':
      return 'the secure handshake failed (relay busy or wrong peer id)'
    case 'NoReservationError':
    case 'RelayQueueFullError':
    case 'HadEnoughRelaysError':
      return 'the relay gave no reservation (relay full?)'
    case 'UnsupportedProtocolError':
      return 'the peer does not speak this protocol'
    default:
      return code
  }
}

function pathOf (connection: Connection | undefined): PeerDiagnostics['path'] {
  if (connection == null) return 'none'
  return connection.limits == null ? 'direct' : 'relayed'
}

/** The best open connection to a peer: unlimited beats limited. */
function bestConnection (node: RoomNode, peer: PeerId): Connection | undefined {
  const open = node.getConnections(peer).filter(c => c.status === 'open')
  return open.find(c => c.limits == null) ?? open[0]
}

export interface DiagnosticsInit {
  node: RoomNode
  session: RoomSession
  relay: RelayConnection
  phases: JoinPhases
  /** Ping each connected peer for a fresh round-trip time (else the last measured one). @default true */
  ping?: boolean
  /** Timeout of each ping. @default 2 s */
  pingTimeout?: number
}

export async function roomDiagnostics (init: DiagnosticsInit): Promise<RoomDiagnostics> {
  const { node, session, relay } = init
  const before = session.status()
  const relayIds = relay.relays()
  const targets: Array<{ peer: PeerId, role: PeerDiagnostics['role'] }> = [
    ...relayIds.map(peer => ({ peer, role: 'relay' as const })),
    ...before.members.map(m => ({ peer: peerIdFromString(m.id), role: 'member' as const }))
  ]
  const ping = (node.services as { ping?: { ping(peer: PeerId, options: { signal: AbortSignal }): Promise<number> } }).ping
  const now = Date.now()
  const peers = await Promise.all(targets.map(async ({ peer, role }): Promise<PeerDiagnostics> => {
    const connection = bestConnection(node, peer)
    let rtt = connection?.rtt
    if (connection != null && init.ping !== false && ping != null) {
      try {
        rtt = await ping.ping(peer, { signal: AbortSignal.timeout(init.pingTimeout ?? 2 * second) })
      } catch {}
    }
    const limits = connection?.limits == null
      ? undefined
      : { seconds: connection.limits.seconds, bytes: connection.limits.bytes?.toString() }
    return {
      id: peer.toString(),
      role,
      path: pathOf(connection),
      address: connection?.remoteAddr.toString(),
      rtt: rtt == null ? undefined : Math.round(rtt * 10) / 10,
      limits,
      openFor: connection == null ? undefined : now - connection.timeline.open
    }
  }))
  // Taken together after the pings (up to a timeout each): a status from
  // before them could contradict the relay states (reserved meanwhile).
  const status = session.status()
  const relays = relay.relayStates()
  const relayStatus = relay.status()
  let reason = ''
  if (status.direct === 0) {
    const dead = relays.filter(r => r.state === 'unreachable' && r.error != null).map(r => r.error as string)
    reason = [status.alone, ...dead].filter(s => s !== '').join('; ')
    if (status.members.length > 0 && status.lastFailure?.step.includes('WebRTC') === true) {
      reason = `${reason}; WebRTC to members failed (${plainReason(status.lastFailure.code)}): blocked by the network or browser? Records still go through the relay`
    }
  }
  const failure = status.lastFailure
  return {
    at: now,
    peerId: node.peerId.toString(),
    roomId: status.roomId,
    addresses: node.getMultiaddrs().map(ma => ma.toString()),
    phases: init.phases,
    relay: { phase: relayStatus.phase, detail: relayStatus.detail },
    relays,
    peers,
    direct: status.direct,
    reason,
    lastError: failure == null ? undefined : { step: failure.step, code: failure.code, reason: plainReason(failure.code) },
    lastSync: status.lastSync,
    outbox: status.outbox
  }
}
