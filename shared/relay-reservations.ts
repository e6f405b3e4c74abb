/**
 * Circuit-relay reservations on the relays we were told about, taken the
 * moment a relay connection is up and taken again after every reconnect.
 *
 * Why not libp2p's `/p2p-circuit` listen address: it finds relays by waiting
 * for identify to report the hop protocol and then starts a random walk over
 * the DHT (CPU and queries a joining tab does not need), and once a relay
 * restarts it never reserves on it again (a failed dial puts the relay in a
 * "previously invalid" filter for good). Listening on
 * `<relay address>/p2p-circuit` reserves on that relay directly; listening
 * again on the same listener after a reconnect renews the reservation.
 */
import { logger } from '@libp2p/logger'
import type { Listener, PeerId } from '@libp2p/interface'
import type { TransportManager } from '@libp2p/interface-internal'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { RelayUnreachableError } from './errors.ts'

const log = logger('roomkv:relay-reservations')

export interface RelayReservations {
  /**
   * Take (or renew) a reservation on the relay at `relayAddr` (which must
   * end in /p2p/<relay id>). Connects to it if needed. Rejects when the
   * relay refuses or does not answer before `signal` fires.
   */
  reserve(relayAddr: Multiaddr, signal: AbortSignal): Promise<void>
  /** Whether we hold a reservation on `relay` (our circuit address through it is listed). */
  has(relay: PeerId): boolean
  /** When the reservation held on `relay` was taken or last renewed (ms since epoch). */
  reservedAt(relay: PeerId): number | undefined
}

export interface RelayReservationsComponents {
  transportManager: TransportManager
}

class Reservations implements RelayReservations {
  readonly #components: RelayReservationsComponents
  /** One circuit listener per relay id, reused for every renewal. */
  readonly #listeners = new Map<string, Listener>()
  readonly #pending = new Map<string, Promise<void>>()
  readonly #reservedAt = new Map<string, number>()

  constructor (components: RelayReservationsComponents) {
    this.#components = components
  }

  async reserve (relayAddr: Multiaddr, signal: AbortSignal): Promise<void> {
    const relay = relayAddr.getComponents().findLast(c => c.name === 'p2p')?.value
    if (relay == null) throw new RelayUnreachableError(`Relay address ${relayAddr.toString()} names no peer id`)
    signal.throwIfAborted()
    // Two callers at once (a reconnect and a timer) share one attempt.
    const pending = this.#pending.get(relay)
    if (pending != null) return abortable(pending, signal)
    const attempt = this.#reserve(relay, multiaddr(`${relayAddr.toString()}/p2p-circuit`))
      .finally(() => { this.#pending.delete(relay) })
    this.#pending.set(relay, attempt)
    return abortable(attempt, signal)
  }

  async #reserve (relay: string, circuit: Multiaddr): Promise<void> {
    const listener = this.#listeners.get(relay)
    if (listener != null) {
      // Same listener again: circuit-relay-v2 skips the request while the
      // reservation it holds is alive, and makes a new one otherwise.
      log('renewing reservation on %s', relay)
      await listener.listen(circuit)
      this.#reservedAt.set(relay, Date.now())
      return
    }
    const before = new Set(this.#components.transportManager.getListeners())
    log('reserving on %s', relay)
    try {
      await this.#components.transportManager.listen([circuit])
    } finally {
      // A listen that failed (relay down) still leaves its listener behind: reuse it next time.
      const created = this.#components.transportManager.getListeners().find(l => !before.has(l))
      if (created != null) this.#listeners.set(relay, created)
    }
    this.#reservedAt.set(relay, Date.now())
  }

  has (relay: PeerId): boolean {
    const listener = this.#listeners.get(relay.toString())
    return listener != null && listener.getAddrs().length > 0
  }

  reservedAt (relay: PeerId): number | undefined {
    return this.has(relay) ? this.#reservedAt.get(relay.toString()) : undefined
  }
}

async function abortable<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // The attempt goes on (it is shared); its failure must not go unhandled.
    promise.catch(() => {})
    throw signal.reason
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}

/** The libp2p service factory (`services: { reservations: relayReservations() }`). */
export function relayReservations (): (components: RelayReservationsComponents) => RelayReservations {
  return (components) => new Reservations(components)
}
