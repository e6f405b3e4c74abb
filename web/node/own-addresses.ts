/**
 * A tab's own addresses, computed once per change instead of once per call.
 *
 * `node.getMultiaddrs()` rebuilds the list in libp2p's address manager each
 * time (transport listeners, verification metadata, filters, a new multiaddr
 * per address with our peer id appended). The room status reads it for every
 * status it makes (relay events, connection events, the UI, the bench probe),
 * which added up to tens of ms of main-thread time during a join. Our
 * addresses change only when a transport starts or stops listening (a relay
 * reservation, the WebRTC listener on top of it) or the peer record is
 * updated, and libp2p announces each of those with an event: the list is
 * kept until the next one.
 */
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Events after which the address list is computed again. */
export const ADDRESS_EVENTS = ['transport:listening', 'transport:close', 'self:peer:update'] as const

export interface OwnAddressesInit {
  /**
   * Longest a list is served without any event, in case some path changes
   * addresses silently (none is known in libp2p 3.3).
   * @default 1000 ms
   */
  maxAge?: number
  /** Clock, for tests. @default Date.now */
  now?: () => number
}

type AddressNode = Pick<Libp2p, 'getMultiaddrs' | 'addEventListener' | 'removeEventListener'>

/**
 * Replaces `node.getMultiaddrs` with a cached copy (each call still gets its
 * own array). Register before anything that reads addresses on the same
 * events, so those readers see the new list. Returns the node, and an undo.
 */
export function cacheOwnAddresses<N extends AddressNode> (node: N, init: OwnAddressesInit = {}): { node: N, restore: () => void } {
  const maxAge = init.maxAge ?? 1000
  const now = init.now ?? Date.now
  const compute = node.getMultiaddrs.bind(node)
  let cached: Multiaddr[] | undefined
  let at = 0
  const invalidate = (): void => { cached = undefined }
  for (const type of ADDRESS_EVENTS) node.addEventListener(type, invalidate)
  node.getMultiaddrs = () => {
    if (cached == null || now() - at > maxAge) {
      cached = compute()
      at = now()
    }
    return [...cached]
  }
  const restore = (): void => {
    for (const type of ADDRESS_EVENTS) node.removeEventListener(type, invalidate)
    node.getMultiaddrs = compute
  }
  return { node, restore }
}
