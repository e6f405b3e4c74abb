/**
 * Admission for sockets on the libp2p port, before libp2p sees them: a cap
 * on open sockets per IP, and a per-IP share plus a global cap of pending
 * connections (WebSocket open, Noise and yamux not done yet). Plugged into
 * the patched @libp2p/websockets listener as its `socketGate`.
 *
 * Why here and not in a connection gater: libp2p checks its global
 * `maxIncomingPendingConnections` before any gater runs, so ten silent
 * sockets from one address used to refuse everybody else.
 */
import type { WebSocketSocketGate } from '@libp2p/websockets'

export type SocketRefusal = 'sockets_per_ip' | 'pending_per_ip' | 'pending_total'
export type SocketDrop = 'handshake_timeout' | 'invalid_websocket'

export interface SocketGuardInit {
  /**
   * Most open sockets from one IP on the libp2p port, upgraded or not.
   * @default 96
   */
  maxSocketsPerIp?: number
  /**
   * Most connections from one IP in the libp2p upgrade at once.
   * @default 8
   */
  maxPendingPerIp?: number
  /**
   * Most connections in the libp2p upgrade at once, all IPs together.
   * @default 64
   */
  maxPending?: number
  /** Told about every refusal, e.g. to count it. */
  onRefused?(reason: SocketRefusal, ip: string): void
  /** Told about every socket the listener dropped. */
  onDropped?(reason: SocketDrop, ip: string): void
}

export interface SocketGuard extends WebSocketSocketGate {
  /** Sockets open on the libp2p port now. */
  sockets(): number
  /** Connections in the libp2p upgrade now. */
  pending(): number
}

export const DEFAULT_MAX_SOCKETS_PER_IP = 96
export const DEFAULT_MAX_PENDING_PER_IP = 8
export const DEFAULT_MAX_PENDING = 64

/** Counts keyed by IP; an IP with nothing open takes no memory. */
function tally (): { get(ip: string): number, add(ip: string): void, remove(ip: string): void, total(): number } {
  const counts = new Map<string, number>()
  let total = 0
  return {
    get: (ip) => counts.get(ip) ?? 0,
    add (ip) { counts.set(ip, (counts.get(ip) ?? 0) + 1); total++ },
    remove (ip) {
      const n = counts.get(ip) ?? 0
      if (n === 0) return
      if (n === 1) counts.delete(ip)
      else counts.set(ip, n - 1)
      total--
    },
    total: () => total
  }
}

export function createSocketGuard (init: SocketGuardInit = {}): SocketGuard {
  const maxSocketsPerIp = init.maxSocketsPerIp ?? DEFAULT_MAX_SOCKETS_PER_IP
  const maxPendingPerIp = init.maxPendingPerIp ?? DEFAULT_MAX_PENDING_PER_IP
  const maxPending = init.maxPending ?? DEFAULT_MAX_PENDING
  const sockets = tally()
  const pending = tally()
  const refuse = (reason: SocketRefusal, ip: string): false => {
    init.onRefused?.(reason, ip)
    return false
  }
  return {
    admitSocket (ip) {
      if (sockets.get(ip) >= maxSocketsPerIp) return refuse('sockets_per_ip', ip)
      sockets.add(ip)
      return true
    },
    socketClosed (ip) { sockets.remove(ip) },
    admitUpgrade (ip) {
      if (pending.get(ip) >= maxPendingPerIp) return refuse('pending_per_ip', ip)
      if (pending.total() >= maxPending) return refuse('pending_total', ip)
      pending.add(ip)
      return true
    },
    upgradeSettled (ip) { pending.remove(ip) },
    socketDropped (ip, reason) {
      init.onDropped?.(reason === 'handshake-timeout' ? 'handshake_timeout' : 'invalid_websocket', ip)
    },
    sockets: () => sockets.total(),
    pending: () => pending.total()
  }
}
