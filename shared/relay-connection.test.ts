import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { connectRelays, type RelayConnection } from './relay-connection.ts'
import type { RoomNode } from './room.ts'

/**
 * A stand-in for the libp2p node: dials succeed for the addresses in
 * `reachable`, connections can be dropped, reservations are recorded.
 */
function fakeNode () {
  const listeners = new Map<string, Set<(evt: any) => void>>()
  const open = new Map<string, { remoteAddr: Multiaddr }>()
  const reachable = new Set<string>()
  const dialed: string[] = []
  const reserved: string[] = []
  const held = new Set<string>()
  let refuseReservations = false
  const idOf = (ma: Multiaddr): string => ma.getComponents().findLast(c => c.name === 'p2p')?.value as string
  const node = {
    dial: async (ma: Multiaddr) => {
      dialed.push(ma.toString())
      if (!reachable.has(ma.toString())) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })
      const connection = { remoteAddr: ma, status: 'open' }
      open.set(idOf(ma), connection)
      return connection
    },
    getConnections: (peer?: PeerId) => {
      if (peer == null) return [...open.values()].map(c => ({ ...c, status: 'open' }))
      const c = open.get(peer.toString())
      return c == null ? [] : [{ ...c, status: 'open' }]
    },
    getMultiaddrs: () => [...held].map(id => multiaddr(`/ip4/127.0.0.1/tcp/1/ws/p2p/${id}/p2p-circuit`)),
    addEventListener: (name: string, fn: (evt: any) => void) => {
      if (!listeners.has(name)) listeners.set(name, new Set())
      listeners.get(name)?.add(fn)
    },
    removeEventListener: (name: string, fn: (evt: any) => void) => { listeners.get(name)?.delete(fn) },
    services: {
      reservations: {
        reserve: async (ma: Multiaddr) => {
          reserved.push(ma.toString())
          if (refuseReservations) throw Object.assign(new Error('no reservation'), { code: 'ERR_NO_RESERVATION' })
          held.add(idOf(ma))
        },
        has: (peer: PeerId) => held.has(peer.toString()),
        reservedAt: (peer: PeerId) => held.has(peer.toString()) ? Date.now() : undefined
      }
    }
  }
  return {
    node: node as unknown as RoomNode,
    reachable,
    dialed,
    reserved,
    refuse (value: boolean) { refuseReservations = value },
    /** The reservation goes while the connection stays (its listener says so, as libp2p's does). */
    loseReservation (id: string) {
      held.delete(id)
      for (const fn of listeners.get('transport:listening') ?? []) fn({})
    },
    /** The relay drops us: connection and reservation gone. */
    drop (id: string) {
      open.delete(id)
      held.delete(id)
      for (const fn of listeners.get('peer:disconnect') ?? []) fn({ detail: id })
    }
  }
}

async function relayAddr (port: number): Promise<{ id: string, addr: Multiaddr }> {
  const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  return { id, addr: multiaddr(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${id}`) }
}

const until = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 500; i++) {
    if (check()) return
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  throw new Error(`never: ${what}`)
}

let connection: RelayConnection | undefined
afterEach(() => { connection?.stop() })

describe('connectRelays', () => {
  it('falls back to the next relay when the first is unreachable, and names the dead one', async () => {
    const fake = fakeNode()
    const dead = await relayAddr(1001)
    const live = await relayAddr(1002)
    fake.reachable.add(live.addr.toString())
    connection = connectRelays({ node: fake.node, addrs: [dead.addr, live.addr], onStatus: () => {}, minBackoff: 10, maxBackoff: 20 })
    await connection.connected(2000)
    await until(() => connection?.status().phase === 'reserved', 'reserved')
    expect(fake.dialed.slice(0, 2)).toEqual([dead.addr.toString(), live.addr.toString()])
    expect(fake.reserved).toEqual([live.addr.toString()])
    const [first, second] = connection.relayStates()
    expect(first).toMatchObject({ id: dead.id, state: 'unreachable', errorCode: 'ECONNREFUSED', failures: 1 })
    expect(first.error).toContain(dead.addr.toString())
    expect(second).toMatchObject({ id: live.id, state: 'reserved', failures: 0, address: live.addr.toString() })
    expect(second.reservedAt).toBeGreaterThan(0)
  })

  it('reconnects after the relay drops the connection and takes the reservation again', async () => {
    const fake = fakeNode()
    const relay = await relayAddr(1003)
    fake.reachable.add(relay.addr.toString())
    connection = connectRelays({ node: fake.node, addrs: [relay.addr], onStatus: () => {}, minBackoff: 10, maxBackoff: 20 })
    await until(() => connection?.status().phase === 'reserved', 'first reservation')
    // The relay goes away and comes back.
    fake.reachable.delete(relay.addr.toString())
    fake.drop(relay.id)
    await until(() => connection?.status().phase === 'unreachable', 'unreachable while down')
    expect(connection.relayStates()[0].state).toBe('unreachable')
    fake.reachable.add(relay.addr.toString())
    await until(() => connection?.status().phase === 'reserved' && fake.reserved.length === 2, 'second reservation')
    expect(fake.reserved).toEqual([relay.addr.toString(), relay.addr.toString()])
    expect(connection.relayStates()[0]).toMatchObject({ state: 'reserved', failures: 0 })
  })

  it('renews a reservation lost while the relay stays connected, at once, and never reports it held meanwhile', async () => {
    const fake = fakeNode()
    const relay = await relayAddr(1005)
    fake.reachable.add(relay.addr.toString())
    const phases: string[] = []
    connection = connectRelays({ node: fake.node, addrs: [relay.addr], onStatus: (s) => { phases.push(s.phase) }, minBackoff: 10, maxBackoff: 20 })
    await until(() => connection?.status().phase === 'reserved', 'first reservation')
    fake.refuse(true)
    fake.loseReservation(relay.id)
    expect(connection.status().phase).toBe('connected')
    expect(connection.relayStates()[0].state).toBe('connected')
    // Renewed well before the 5 s re-check: the loss woke the loop.
    await until(() => fake.reserved.length === 2, 'renewal tried')
    expect(connection.relayStates()[0]).toMatchObject({ state: 'connected', errorCode: 'ERR_NO_RESERVATION' })
    expect(phases).toContain('reserved')
    expect(phases.slice(-1)).toEqual(['connected'])
  })

  it('takes the first reservation once reserveAfter resolves, or after reserveDelayMax at the latest', async () => {
    const fake = fakeNode()
    const relay = await relayAddr(1006)
    fake.reachable.add(relay.addr.toString())
    let release = (): void => {}
    const after = new Promise<void>(resolve => { release = resolve })
    connection = connectRelays({ node: fake.node, addrs: [relay.addr], onStatus: () => {}, reserveAfter: async () => { await after }, reserveDelayMax: 10_000 })
    await connection.connected(2000)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(fake.reserved).toEqual([])
    release()
    await until(() => connection?.status().phase === 'reserved', 'reserved after the release')
    connection.stop()

    const slow = fakeNode()
    slow.reachable.add(relay.addr.toString())
    connection = connectRelays({ node: slow.node, addrs: [relay.addr], onStatus: () => {}, reserveAfter: async () => await new Promise<void>(() => {}), reserveDelayMax: 100 })
    await connection.connected(2000)
    expect(slow.reserved).toEqual([]) // connected, still waiting
    await until(() => connection?.status().phase === 'reserved', 'reserved after the longest wait, though reserveAfter never resolves')
  })

  it('stays connected and says why when the relay refuses a reservation', async () => {
    const fake = fakeNode()
    const relay = await relayAddr(1004)
    fake.reachable.add(relay.addr.toString())
    fake.refuse(true)
    connection = connectRelays({ node: fake.node, addrs: [relay.addr], onStatus: () => {}, minBackoff: 10, maxBackoff: 20 })
    await until(() => connection?.relayStates()[0].errorCode === 'ERR_NO_RESERVATION', 'refusal recorded')
    expect(connection.status().phase).toBe('connected')
    expect(connection.status().detail).toMatch(/refused a reservation \(ERR_NO_RESERVATION\)/)
  })

  it('reports every relay when all are down, and uses one added later', async () => {
    const fake = fakeNode()
    const a = await relayAddr(1005)
    const b = await relayAddr(1006)
    connection = connectRelays({ node: fake.node, addrs: [a.addr], onStatus: () => {}, minBackoff: 10, maxBackoff: 20 })
    connection.addUnreachable('http://relay-b.example', 'relay http://relay-b.example did not answer /roomkv.json', 'ERR_RELAY_UNREACHABLE')
    await until(() => connection?.status().phase === 'unreachable', 'unreachable')
    expect(connection.status().detail).toContain(a.addr.toString())
    expect(connection.status().detail).toContain('relay-b.example')
    await expect(connection.connected(50)).rejects.toMatchObject({ code: 'ERR_RELAY_UNREACHABLE' })
    fake.reachable.add(b.addr.toString())
    connection.add([b.addr])
    await until(() => connection?.status().phase === 'reserved', 'reserved on the added relay')
    expect(connection.relays().map(String)).toEqual([a.id, b.id])
  })
})
