import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { rejectionCode } from '../test-support.ts'
import { deriveRoomKeys } from '../room-keys.ts'
import { createSignalChannels, type SignalChannel, type SignalChannels, type SignalChannelsInit } from './signal-channels.ts'

const keys = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))

const codeOf = rejectionCode

/** Two members and a fake relay that passes sealed bytes on (or refuses with `refuse`). */
async function pair (options: Partial<SignalChannelsInit> & { refuse?: string } = {}): Promise<{ a: SignalChannels, b: SignalChannels, aId: PeerId, bId: PeerId, relay: PeerId, sent: Uint8Array[], incoming: Array<{ channel: SignalChannel, peer: PeerId }> }> {
  const [aKey, bKey, relayKey] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const aId = peerIdFromPrivateKey(aKey)
  const bId = peerIdFromPrivateKey(bKey)
  const relay = peerIdFromPrivateKey(relayKey)
  const sent: Uint8Array[] = []
  const nodes: Record<string, SignalChannels> = {}
  const make = (key: typeof aKey, self: PeerId): SignalChannels => createSignalChannels({
    privateKey: key,
    ...options,
    send: async (via, roomId, to, sealed) => {
      expect(via.equals(relay)).toBe(true)
      sent.push(sealed)
      // Delivered later, as over a network.
      setTimeout(() => {
        if (options.refuse != null) nodes[self.toString()].received(relay, roomId, to, new Uint8Array(0), options.refuse)
        else nodes[to.toString()].received(relay, roomId, self, sealed, '')
      }, 1)
    }
  })
  const a = nodes[aId.toString()] = make(aKey, aId)
  const b = nodes[bId.toString()] = make(bKey, bId)
  a.addRoom(keys)
  b.addRoom(keys)
  const incoming: Array<{ channel: SignalChannel, peer: PeerId }> = []
  b.onIncoming((channel, peer) => { incoming.push({ channel, peer }) })
  return { a, b, aId, bId, relay, sent, incoming }
}

describe('signal channels', () => {
  it('carries a dial\'s offer, answer and candidates in order, both ways', async () => {
    const { a, b, aId, bId, relay, incoming } = await pair()
    expect(await a.open(bId)).toBeUndefined() // no relay listed b yet
    a.route(bId, keys.roomId, relay)
    const out = await a.open(bId)
    expect(out).toBeDefined()
    await out!.write({ type: 'SDP_OFFER', data: 'offer' })
    for (let i = 0; i < 5; i++) void out!.write({ type: 'ICE_CANDIDATE', data: `c${i}` })
    await expect.poll(() => incoming.length).toBe(1)
    expect(incoming[0].peer.equals(aId)).toBe(true)
    const inbound = incoming[0].channel
    expect(await inbound.read()).toEqual({ type: 'SDP_OFFER', data: 'offer' })
    for (let i = 0; i < 5; i++) expect(await inbound.read()).toEqual({ type: 'ICE_CANDIDATE', data: `c${i}` })
    await inbound.write({ type: 'SDP_ANSWER', data: 'answer' })
    expect(await out!.read()).toEqual({ type: 'SDP_ANSWER', data: 'answer' })
    await out!.close()
    await inbound.close()
    expect(a.dropped).toEqual({})
    expect(b.dropped).toEqual({})
  })

  it('says while a peer\'s dial to us is under way (its offer came), and not after it is over', async () => {
    const { a, b, aId, bId, relay, incoming } = await pair()
    a.route(bId, keys.roomId, relay)
    expect(b.incomingFrom(aId)).toBe(false)
    const out = await a.open(bId)
    // Our own dial is not an incoming one.
    expect(a.incomingFrom(bId)).toBe(false)
    await out!.write({ type: 'SDP_OFFER', data: 'offer' })
    await expect.poll(() => incoming.length).toBe(1)
    expect(b.incomingFrom(aId)).toBe(true)
    expect(b.incomingFrom(relay)).toBe(false)
    await incoming[0].channel.close()
    expect(b.incomingFrom(aId)).toBe(false)
    await out!.close()
  })

  it('gives a dial up when nothing comes back in time, and dials that peer over a circuit for a while', async () => {
    const { a, bId, relay } = await pair({ answerTimeout: 50 })
    a.route(bId, keys.roomId, relay)
    const out = await a.open(bId)
    // Nothing is written, so b never hears of the dial and nothing comes back.
    expect(await codeOf(out!.read())).toBe('ERR_TIMEOUT')
    expect(await a.open(bId)).toBeUndefined()
  })

  it('fails the dial with the relay\'s refusal', async () => {
    const { a, bId, relay } = await pair({ refuse: 'ERR_NO_SESSION' })
    a.route(bId, keys.roomId, relay)
    const out = await a.open(bId)
    const reading = out!.read()
    await out!.write({ type: 'SDP_OFFER', data: 'offer' })
    expect(await codeOf(reading)).toBe('ERR_NO_SESSION')
    expect(await a.open(bId)).toBeUndefined()
  })

  it('tells the other side when a dial is given up', async () => {
    const { a, bId, relay, incoming } = await pair()
    a.route(bId, keys.roomId, relay)
    const out = await a.open(bId)
    await out!.write({ type: 'SDP_OFFER', data: 'offer' })
    await expect.poll(() => incoming.length).toBe(1)
    const inbound = incoming[0].channel
    await inbound.read()
    const waiting = inbound.read()
    out!.abort(new Error('gave up'))
    expect(await codeOf(waiting)).toBe('ERR_PROTOCOL')
  })

  it('uses no relay that does not pass signals on', async () => {
    const { a, bId, relay } = await pair({ relayTakesSignals: async () => false })
    a.route(bId, keys.roomId, relay)
    expect(await a.open(bId)).toBeUndefined()
  })

  it('drops signals of rooms it is not in, and sealed bytes that do not open', async () => {
    const { a, b, bId, relay, incoming, sent } = await pair()
    const other = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0xff - i))
    a.addRoom(other)
    a.route(bId, other.roomId, relay)
    const out = await a.open(bId)
    await out!.write({ type: 'SDP_OFFER', data: 'offer' })
    await expect.poll(() => b.dropped.ERR_WRONG_ROOM).toBe(1)
    b.received(relay, keys.roomId, peerIdFromPrivateKey(await generateKeyPair('Ed25519')), sent[0], '')
    await expect.poll(() => b.dropped.ERR_BAD_SIGNAL).toBe(1)
    expect(incoming).toHaveLength(0)
    void a
  })
})
