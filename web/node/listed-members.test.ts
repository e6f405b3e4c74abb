import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId } from '@libp2p/interface'
import { describe, expect, test, vi } from 'vitest'
import { listedMembers } from './listed-members.ts'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
/** Two peers, the first sorting before the second (dialTurn: the first dials). */
const ordered = async (): Promise<[PeerId, PeerId]> => {
  const [x, y] = [await newPeer(), await newPeer()]
  return x.toString() < y.toString() ? [x, y] : [y, x]
}
const conn = (peer: PeerId, extra: Partial<Connection> = {}): Connection =>
  ({ remotePeer: peer, status: 'open', direction: 'inbound', limits: undefined, ...extra }) as unknown as Connection
const relay = (): string => '/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWSfNDWqrBu2LxGMY1VK9FFeZk9qgbiarmd5UXQ2wpw8Kk'
const webrtcTo = (peer: PeerId) => multiaddr(`${relay()}/p2p-circuit/webrtc/p2p/${peer.toString()}`)
const roomId = new Uint8Array([1, 2, 3])

describe('listed members', () => {
  test('an unlimited connection to a listed member reports it at once; limited ones and strangers do not', async () => {
    const [self, member] = await ordered()
    const stranger = await newPeer()
    const onRoomPeer = vi.fn()
    const members = listedMembers({ self: () => self, connections: () => [], onRoomPeer })
    members.opened(conn(member))
    expect(onRoomPeer).not.toHaveBeenCalled() // not listed yet
    members.listed(stranger, roomId, [member, self])
    members.opened(conn(member, { limits: { seconds: 120 } } as Partial<Connection>))
    members.opened(conn(stranger))
    expect(onRoomPeer).not.toHaveBeenCalled()
    members.opened(conn(member))
    expect(onRoomPeer).toHaveBeenCalledWith(member, roomId)
  })

  test('a member already directly connected when listed is reported by the listing', async () => {
    const [self, member] = await ordered()
    const onRoomPeer = vi.fn()
    const members = listedMembers({ self: () => self, connections: (p) => p.equals(member) ? [conn(member)] : [], onRoomPeer })
    members.listed(self, roomId, [member])
    expect(onRoomPeer).toHaveBeenCalledWith(member, roomId)
  })

  test('a WebRTC dial waits while it is the listed member\'s turn, and only then', async () => {
    const [first, last] = await ordered()
    vi.useFakeTimers()
    try {
      let inbound = false
      // We sort last: the member (sorting first) dials us.
      const late = listedMembers({ self: () => last, connections: () => inbound ? [conn(first, { limits: { seconds: 120 } } as Partial<Connection>)] : [], onRoomPeer: () => {}, grace: 1000 })
      expect(late.mustWait(webrtcTo(first))).toBe(false) // not listed: nothing to wait for
      late.listed(first, roomId, [first])
      expect(late.mustWait(webrtcTo(first))).toBe(true)
      expect(late.mustWait(multiaddr(relay()))).toBe(false) // not WebRTC
      vi.advanceTimersByTime(1001)
      expect(late.mustWait(webrtcTo(first))).toBe(false)
      inbound = true // its circuit to us is open: its handshake gets twice the head start
      expect(late.mustWait(webrtcTo(first))).toBe(true)
      vi.advanceTimersByTime(1000)
      expect(late.mustWait(webrtcTo(first))).toBe(false)
      // We sort first: our turn, never held back.
      const early = listedMembers({ self: () => first, connections: () => [], onRoomPeer: () => {}, grace: 1000 })
      early.listed(first, roomId, [last])
      expect(early.mustWait(webrtcTo(last))).toBe(false)
    } finally {
      vi.useRealTimers()
    }
  })
})
