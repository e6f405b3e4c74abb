/**
 * Keeps the peer connected to a relay: tries the relays in the order given
 * (each with its addresses, each with a timeout), takes a reservation on the
 * one that answers, falls back to the next when it is unreachable, and
 * retries forever with a short, jittered backoff so a relay that comes back
 * is used again within ~2 s. After every reconnect the reservation is taken
 * again (js-libp2p does not renew a reservation lost with its connection).
 * It says at every moment what it is doing, and per relay why it is not
 * connected.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { second } from './constants.ts'
import { errorCode, RelayUnreachableError } from './errors.ts'
import type { JoinTimeline } from './join-phases.ts'
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

/** One relay as this peer sees it (for diagnostics). */
export interface RelayState {
  /** The relay's peer id ('' for a relay whose /roomkv.json did not answer: `addrs` holds its URL). */
  id: string
  /** Its addresses, in dial order. */
  addrs: string[]
  /**
   * idle: not tried (an earlier relay is in use); connecting; connected (no
   * reservation yet); reserved (others can reach us through it);
   * unreachable (the last attempt failed, see `error`).
   */
  state: 'idle' | 'connecting' | 'connected' | 'reserved' | 'unreachable'
  /** The address of the open connection. */
  address?: string
  /** Last failure in words, e.g. `unreachable at /dns/x/tcp/443/tls/ws (ERR_TIMEOUT)`. */
  error?: string
  /** Stable code of the last failure. */
  errorCode?: string
  /** Failed attempts since the last success. */
  failures: number
  /** When the connection opened (ms since epoch). */
  connectedAt?: number
  /** When the reservation was taken or renewed (ms since epoch). */
  reservedAt?: number
}

export interface RelayConnectionInit {
  node: RoomNode
  /** Relay addresses in preference order; several addresses of one relay stay together. */
  addrs: Multiaddr[]
  /** Timeout of one dial. @default 8 s */
  dialTimeout?: number
  /** Timeout of taking a reservation on a connected relay. @default 8 s */
  reserveTimeout?: number
  /** First wait after a round in which every relay failed. @default 250 ms */
  minBackoff?: number
  /**
   * Longest wait between rounds (doubling from minBackoff, each wait drawn
   * between half and all of it). Low, so a restarted relay is used again
   * within ~2 s of its return; a refused dial to a dead host costs little.
   * @default 1.5 s
   */
  maxBackoff?: number
  /** A connection without a reservation after this is reported. @default 10 s */
  reservationTimeout?: number
  /**
   * The first reservation is taken once this resolves (the room session
   * heard the member list) or after reserveDelayMax, whichever is first.
   * @default none: at once
   */
  reserveAfter?: () => Promise<void>
  /** @default 500 ms */
  reserveDelayMax?: number
  onStatus(status: RelayStatus): void
  /** Records relayConnected and reserved. @default none */
  timeline?: JoinTimeline
}

export interface RelayConnection {
  relays(): PeerId[]
  status(): RelayStatus
  /** Every relay with its state, in preference order. */
  relayStates(): RelayState[]
  /** More relay addresses (e.g. a fallback relay's, fetched later), tried after the known ones. */
  add(addrs: Multiaddr[]): void
  /** A relay known only by its URL that could not be asked for its addresses: listed as unreachable. */
  addUnreachable(url: string, reason: string, code: string): void
  /** Resolves once a relay is connected (or rejects after `timeout`). */
  connected(timeout: number): Promise<void>
  stop(): void
}

interface Relay {
  id: PeerId
  addrs: Multiaddr[]
  state: RelayState
}

/** Relays and addresses per relay kept (a hostile /roomkv.json could list thousands). */
const MAX_RELAYS = 16
const MAX_ADDRS_PER_RELAY = 8

const idOf = (ma: Multiaddr): string | undefined => ma.getComponents().findLast(c => c.name === 'p2p')?.value

export function connectRelays (init: RelayConnectionInit): RelayConnection {
  const { node } = init
  const relays: Relay[] = []
  /** Relays we know only by URL because their /roomkv.json did not answer. */
  const unknown: RelayState[] = []
  const add = (addrs: Multiaddr[]): void => {
    for (const addr of addrs) {
      const id = idOf(addr)
      if (id == null) continue
      let relay = relays.find(r => r.id.toString() === id)
      if (relay == null) {
        if (relays.length >= MAX_RELAYS) continue
        relay = { id: peerIdFromString(id), addrs: [], state: { id, addrs: [], state: 'idle', failures: 0 } }
        relays.push(relay)
      }
      if (relay.addrs.some(a => a.equals(addr)) || relay.addrs.length >= MAX_ADDRS_PER_RELAY) continue
      relay.addrs.push(addr)
      relay.state.addrs.push(addr.toString())
    }
  }
  add(init.addrs)
  const minBackoff = init.minBackoff ?? 250
  const maxBackoff = init.maxBackoff ?? 1.5 * second
  let status: RelayStatus = { phase: 'connecting', attempts: 0, detail: relays.length === 0 ? 'no relay address given' : 'connecting to relay' }
  let stopped = false
  let reservedOnce = false
  let wake: (() => void) | undefined
  const waiters = new Set<() => void>()
  const controller = new AbortController()

  const set = (next: Partial<RelayStatus>): void => {
    status = { ...status, ...next }
    if (status.phase === 'connected' || status.phase === 'reserved') {
      init.timeline?.mark('relayConnected')
      for (const w of waiters) w()
    }
    if (status.phase === 'reserved') init.timeline?.mark('reserved')
    init.onStatus(status)
  }
  const isOpen = (relay: Relay): boolean => node.getConnections(relay.id).some(c => c.status === 'open')
  const current = (): Relay | undefined => relays.find(isOpen)
  const hasReservation = (): boolean => node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
  const refresh = (): void => {
    if (stopped) return
    for (const relay of relays) {
      if ((relay.state.state === 'connected' || relay.state.state === 'reserved') && !isOpen(relay)) {
        relay.state = { ...relay.state, state: 'unreachable', address: undefined, reservedAt: undefined, error: 'connection lost', errorCode: 'ERR_CONNECTION_LOST' }
      }
    }
    if (current() == null) {
      if (status.phase === 'connected' || status.phase === 'reserved') set({ phase: 'connecting', relay: undefined, detail: 'relay connection lost, reconnecting' })
      wake?.()
      return
    }
    // A reservation can go while its relay stays connected (the connection it
    // was made on closed, a second one remains; a refresh failed): say so and
    // renew it now rather than at the next check.
    const reservations = node.services.reservations
    let lost = false
    for (const relay of relays) {
      if (relay.state.state === 'reserved' && reservations != null && !reservations.has(relay.id) && isOpen(relay)) {
        relay.state = { ...relay.state, state: 'connected', reservedAt: undefined }
        lost = true
      }
    }
    if (lost && status.phase === 'reserved' && !relays.some(r => r.state.state === 'reserved')) {
      set({ phase: 'connected', detail: 'relay connected, reservation lost: renewing it' })
    }
    if (lost) wake?.()
    // Without the reservations service the node reserves by itself: its circuit address tells.
    if (reservations == null && hasReservation() && status.phase === 'connected') set({ phase: 'reserved', detail: 'relay connected, reservation held' })
  }
  node.addEventListener('peer:disconnect', refresh)
  node.addEventListener('transport:listening', refresh)
  node.addEventListener('self:peer:update', refresh)

  /** Connect to one relay (any of its addresses) and reserve on it; false when unreachable. */
  const tryRelay = async (relay: Relay): Promise<boolean> => {
    for (const addr of relay.addrs) {
      if (stopped) return false
      relay.state = { ...relay.state, state: 'connecting' }
      set({ phase: 'connecting', attempts: status.attempts + 1, detail: `dialling ${addr.toString()}` })
      try {
        const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(init.dialTimeout ?? 8 * second)])
        const connection = await node.dial(addr, { signal })
        relay.state = { ...relay.state, state: 'connected', address: connection.remoteAddr.toString(), connectedAt: Date.now(), failures: 0, error: undefined, errorCode: undefined }
        set({ phase: 'connected', relay: addr.toString(), detail: 'relay connected, waiting for a reservation' })
      } catch (err) {
        log('relay %a unreachable: %e', addr, err)
        const reason = `relay unreachable at ${addr.toString()} (${errorCode(err)})`
        relay.state = { ...relay.state, state: 'unreachable', failures: relay.state.failures + 1, error: reason, errorCode: errorCode(err) }
        set({ detail: reason })
        continue
      }
      // The first reservation waits for the room's member list (or a
      // moment): the room session, members and WebRTC dials (signalled
      // through the session) are what a join waits on; the reservation only
      // matters for peers that must reach us over a circuit.
      if (init.reserveAfter != null && relay.state.state === 'connected' && !reservedOnce) {
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([init.reserveAfter(), new Promise(resolve => { timer = setTimeout(resolve, init.reserveDelayMax ?? 500) })])
        clearTimeout(timer)
      }
      reservedOnce = true
      if (stopped) return false
      await reserve(relay, addr)
      return true
    }
    return false
  }

  const reserve = async (relay: Relay, addr: Multiaddr): Promise<void> => {
    const reservations = node.services.reservations
    if (reservations == null) {
      // A node that reserves by itself (a `/p2p-circuit` listen address).
      if (hasReservation()) set({ phase: 'reserved', detail: 'relay connected, reservation held' })
      return
    }
    try {
      await reservations.reserve(addr, AbortSignal.any([controller.signal, AbortSignal.timeout(init.reserveTimeout ?? 8 * second)]))
      relay.state = { ...relay.state, state: 'reserved', reservedAt: Date.now() }
      set({ phase: 'reserved', detail: 'relay connected, reservation held' })
    } catch (err) {
      if (stopped) return
      log('reservation on %p failed: %e', relay.id, err)
      const reason = `relay connected but refused a reservation (${errorCode(err)}): others cannot reach this peer through it`
      relay.state = { ...relay.state, error: reason, errorCode: errorCode(err) }
      set({ detail: reason })
    }
  }

  void (async () => {
    let backoff = minBackoff
    while (!stopped) {
      const open = current()
      if (open != null) {
        backoff = minBackoff
        // Connected: wait for a disconnect (or re-check now and then), and
        // renew a reservation that was refused or lost while connected.
        const reservationTimer = setTimeout(() => {
          if (status.phase === 'connected') set({ detail: 'relay connected but gave no reservation (relay full?): others cannot reach this peer' })
        }, init.reservationTimeout ?? 10 * second)
        await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, 5 * second) })
        clearTimeout(reservationTimer)
        wake = undefined
        const still = current()
        if (still != null && node.services.reservations != null && !node.services.reservations.has(still.id) && !stopped) {
          const addr = still.addrs.find(a => still.state.address?.startsWith(a.toString().split('/p2p/')[0])) ?? still.addrs[0]
          await reserve(still, addr)
        }
        continue
      }
      let connected = false
      for (const relay of relays) {
        if (stopped) return
        if (await tryRelay(relay)) { connected = true; break }
      }
      if (connected || stopped) continue
      // Every relay failed this round. Name them all: the first one's
      // reason alone would hide that the others are down too.
      const reasons = [...relays.map(r => r.state.error), ...unknown.map(u => u.error)].filter((e): e is string => e != null)
      const wait = Math.round(backoff * (0.5 + Math.random() / 2))
      set({ phase: 'unreachable', detail: `${reasons.join('; ') || 'no relay address given'}; retrying in ${Math.max(1, Math.round(wait / 1000))} s` })
      await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, wait) })
      wake = undefined
      backoff = Math.min(backoff * 2, maxBackoff)
    }
  })()

  return {
    relays: () => relays.map(r => r.id),
    status: () => status,
    add (addrs) {
      add(addrs)
      // A loop waiting out its backoff tries the new relay now.
      if (current() == null) wake?.()
    },
    addUnreachable (url, reason, code) {
      if (unknown.length < MAX_RELAYS && !unknown.some(u => u.addrs[0] === url)) {
        unknown.push({ id: '', addrs: [url], state: 'unreachable', error: reason, errorCode: code, failures: 1 })
      }
    },
    relayStates: () => [...relays.map(r => ({
      ...r.state,
      // Live: a reservation lost a moment ago is not reported as held.
      state: r.state.state === 'reserved' && node.services.reservations?.has(r.id) === false ? 'connected' as const : r.state.state,
      // The live view: a reservation renewed by libp2p, or lost with its connection.
      reservedAt: node.services.reservations?.reservedAt(r.id) ?? (r.state.state === 'reserved' ? r.state.reservedAt : undefined)
    })), ...unknown],
    connected (timeout) {
      if (current() != null) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(done); reject(new RelayUnreachableError(status.detail)) }, timeout)
        const done = (): void => { clearTimeout(timer); waiters.delete(done); resolve() }
        waiters.add(done)
      })
    },
    stop () {
      stopped = true
      controller.abort()
      wake?.()
      node.removeEventListener('peer:disconnect', refresh)
      node.removeEventListener('transport:listening', refresh)
      node.removeEventListener('self:peer:update', refresh)
      set({ phase: 'stopped', detail: 'stopped' })
    }
  }
}
