import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { describe, expect, test } from 'vitest'
import type { Libp2p } from '@libp2p/interface'
import { ADDRESS_EVENTS, cacheOwnAddresses } from './own-addresses.ts'

const relay = '/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWSfNDWqrBu2LxGMY1VK9FFeZk9qgbiarmd5UXQ2wpw8Kk'

/** A node whose address list the test sets, counting how often it is computed. */
function fakeNode () {
  const events = new EventTarget()
  const state = { addrs: [] as Multiaddr[], computed: 0 }
  const node = {
    getMultiaddrs: () => { state.computed++; return [...state.addrs] },
    addEventListener: events.addEventListener.bind(events),
    removeEventListener: events.removeEventListener.bind(events),
    dispatch: (type: string) => events.dispatchEvent(new Event(type))
  }
  return { node: node as typeof node & Pick<Libp2p, 'getMultiaddrs' | 'addEventListener' | 'removeEventListener'>, state }
}

describe('cacheOwnAddresses', () => {
  test('computes the list once until an address event, then sees the new addresses', () => {
    let clock = 0
    const { node, state } = fakeNode()
    cacheOwnAddresses(node, { now: () => clock })
    expect(node.getMultiaddrs()).toEqual([])
    for (let i = 0; i < 10; i++) node.getMultiaddrs()
    expect(state.computed).toBe(1)
    for (const [i, type] of ADDRESS_EVENTS.entries()) {
      state.addrs = [multiaddr(`${relay}/p2p-circuit`), ...Array.from({ length: i }, () => multiaddr(`${relay}/p2p-circuit/webrtc`))]
      node.dispatch(type)
      expect(node.getMultiaddrs().map(String)).toEqual(state.addrs.map(String))
      expect(state.computed).toBe(i + 2)
    }
    // Other events leave the list alone.
    node.dispatch('connection:open')
    node.getMultiaddrs()
    expect(state.computed).toBe(ADDRESS_EVENTS.length + 1)
  })

  test('a list older than maxAge is computed again without any event', () => {
    let clock = 0
    const { node, state } = fakeNode()
    cacheOwnAddresses(node, { now: () => clock, maxAge: 100 })
    node.getMultiaddrs()
    state.addrs = [multiaddr(`${relay}/p2p-circuit`)]
    clock = 100
    expect(node.getMultiaddrs()).toEqual([]) // still within maxAge
    clock = 101
    expect(node.getMultiaddrs().map(String)).toEqual([`${relay}/p2p-circuit`])
    expect(state.computed).toBe(2)
  })

  test('callers get their own array; restore puts the original method back', () => {
    const { node, state } = fakeNode()
    state.addrs = [multiaddr(`${relay}/p2p-circuit`)]
    const { restore } = cacheOwnAddresses(node)
    node.getMultiaddrs().pop()
    expect(node.getMultiaddrs()).toHaveLength(1)
    restore()
    node.getMultiaddrs()
    node.getMultiaddrs()
    expect(state.computed).toBe(3)
  })
})
