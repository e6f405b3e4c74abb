/**
 * The relay as a hub for live updates: records a member sends that are new
 * here are forwarded to the room's other members, over the replication
 * sessions those members opened (membership costs a live session; nobody
 * becomes a member by sending one request and never reading). Members the
 * writer reached itself (its `delivered` list) are skipped, so a record
 * reaches each replica once. A member that does not drain its session falls
 * behind its bounded queue: records for it are dropped, counted and logged
 * once a minute, and it catches up by sync (anti-entropy) later.
 */
import type { PeerId } from '@libp2p/interface'
import type { Replication } from '../shared/protocol/replication.ts'
import type { RelayLog } from './log.ts'

export interface RoomFanout {
  forward(from: PeerId, roomId: Uint8Array, records: Uint8Array[], delivered: PeerId[]): void
}

export interface RoomFanoutInit {
  replication(): Replication | undefined
  log: RelayLog
  /** Told about each record dropped for a member that is behind. */
  onDropped?(records: number): void
  /** Told about each record forwarded. */
  onForwarded?(records: number): void
  /** A member's drops are logged at most this often. @default 60 s */
  logInterval?: number
}

export function createRoomFanout (init: RoomFanoutInit): RoomFanout {
  const logInterval = init.logInterval ?? 60_000
  const lastLogged = new Map<string, number>()
  return {
    forward (from, roomId, records, delivered) {
      const replication = init.replication()
      if (replication == null) return
      const skip = new Set([from.toString(), ...delivered.map(p => p.toString())])
      for (const member of replication.members(roomId)) {
        if (skip.has(member.toString())) continue
        void replication.send(member, roomId, records, { bestEffort: true, open: false }).then((answers) => {
          const dropped = answers.filter(a => a.status === 'refused' && (a.code === 'ERR_QUEUE_FULL' || a.code === 'ERR_NO_SESSION')).length
          init.onForwarded?.(answers.length - dropped)
          if (dropped === 0) return
          init.onDropped?.(dropped)
          const id = member.toString()
          const now = Date.now()
          if (now - (lastLogged.get(id) ?? 0) < logInterval) return
          if (lastLogged.size > 10_000) lastLogged.clear()
          lastLogged.set(id, now)
          init.log.info('member is behind: live updates dropped, it catches up by sync', { peer: id, dropped })
        })
      }
    }
  }
}
