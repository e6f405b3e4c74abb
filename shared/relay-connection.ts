/**
 * Keeps the tab connected to a relay: tries each known address with a
 * timeout, falls back to the next, backs off and retries forever, and says
 * at every moment what it is doing and why it is not connected.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { second } from './constants.ts'
import { errorCode, RelayUnreachableError } from './errors.ts'
import type { RoomNode } from './room.ts'

const log = logger('roomkv:relay-connection')

export type RelayPhase = 'connecting' | 'connected' | 'reserved' | 'unreachable' | 'stopped'

export interface RelayStatus {
  phase: RelayPhase
  /** The relay address in use, if connected. */
  relay?: string
  attempts: number
  /** Why we are not connected or not reserved, in words. */
  detail: string
}

export interface RelayConnectionInit {
  node: RoomNode
  addrs: Multiaddr[]
  /** @default 8 s */
  dialTimeout?: number
  /** Longest wait between rounds of attempts. @default 15 s */
  maxBackoff?: number
  /** A connection without a reservation after this is reported. @default 10 s */
  reservationTimeout?: number
  onStatus(status: RelayStatus): void
}

export interface RelayConnection {
  relays(): PeerId[]
  status(): RelayStatus
  /** Resolves once a relay is connected (or rejects after `timeout`). */
  connected(timeout: number): Promise<void>
  stop(): void
}

export function connectRelays (init: RelayConnectionInit): RelayConnection {
  const { node, addrs } = init
  const relayIds = [...new Set(addrs.map(ma => ma.getComponents().find(c => c.name === 'p2p')?.value).filter((v): v is string => v != null))]
    .map(id => peerIdFromString(id))
  let status: RelayStatus = { phase: 'connecting', attempts: 0, detail: 'connecting to relay' }
  let stopped = false
  let wake: (() => void) | undefined
  const waiters = new Set<() => void>()

  const set = (next: Partial<RelayStatus>): void => {
    status = { ...status, ...next }
    if (status.phase === 'connected' || status.phase === 'reserved') for (const w of waiters) w()
    init.onStatus(status)
  }
  const isConnected = (): boolean => relayIds.some(id => node.getConnections(id).some(c => c.status === 'open'))
  const hasReservation = (): boolean => node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
  const refresh = (): void => {
    if (stopped) return
    if (!isConnected()) {
      if (status.phase === 'connected' || status.phase === 'reserved') set({ phase: 'connecting', relay: undefined, detail: 'relay connection lost, reconnecting' })
      wake?.()
      return
    }
    if (hasReservation()) set({ phase: 'reserved', detail: 'relay connected, reservation held' })
  }
  node.addEventListener('peer:disconnect', refresh)
  node.addEventListener('self:peer:update', refresh)

  void (async () => {
    let backoff = 1 * second
    while (!stopped) {
      if (isConnected()) {
        await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, 5 * second) })
        continue
      }
      for (const addr of addrs) {
        if (stopped) return
        set({ phase: 'connecting', attempts: status.attempts + 1, detail: `dialling ${addr.toString()}` })
        try {
          await node.dial(addr, { signal: AbortSignal.timeout(init.dialTimeout ?? 8 * second) })
          backoff = 1 * second
          set({ phase: hasReservation() ? 'reserved' : 'connected', relay: addr.toString(), detail: hasReservation() ? 'relay connected, reservation held' : 'relay connected, waiting for a reservation' })
          const reservationTimer = setTimeout(() => {
            if (status.phase === 'connected') set({ detail: 'relay connected but gave no reservation (relay full?): others cannot reach this tab' })
          }, init.reservationTimeout ?? 10 * second)
          await new Promise<void>(resolve => { wake = () => { clearTimeout(reservationTimer); resolve() } })
          break
        } catch (err) {
          log('relay %a unreachable: %e', addr, err)
          set({ detail: `relay unreachable at ${addr.toString()} (${errorCode(err)})` })
        }
      }
      if (!isConnected() && !stopped) {
        set({ phase: 'unreachable', detail: `${status.detail}; retrying in ${Math.round(backoff / 1000)} s` })
        await new Promise(resolve => setTimeout(resolve, backoff))
        backoff = Math.min(backoff * 2, init.maxBackoff ?? 15 * second)
      }
    }
  })()

  return {
    relays: () => relayIds,
    status: () => status,
    connected (timeout) {
      if (isConnected()) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(done); reject(new RelayUnreachableError(status.detail)) }, timeout)
        const done = (): void => { clearTimeout(timer); waiters.delete(done); resolve() }
        waiters.add(done)
      })
    },
    stop () {
      stopped = true
      wake?.()
      node.removeEventListener('peer:disconnect', refresh)
      node.removeEventListener('self:peer:update', refresh)
      set({ phase: 'stopped', detail: 'stopped' })
    }
  }
}
