/**
 * Signal channels wired to a room node: sealed signals go out through the
 * relay's replication session, come in from it, and only relays that list
 * SIGNAL_CAPABILITY in identify are used. Made before the node (the WebRTC
 * transport takes the channels at creation), attached once it exists.
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { SIGNAL_CAPABILITY } from '../constants.ts'
import { ProtocolError } from '../errors.ts'
import type { RoomNode } from '../room.ts'
import { createSignalChannels, type SignalChannels, type SignalChannelsInit } from './signal-channels.ts'

export interface RoomSignalling {
  channels: SignalChannels
  /** The node exists: signals travel through its replication sessions from now on. */
  attach(node: RoomNode): void
}

export function createRoomSignalling (privateKey: PrivateKey, options: Omit<SignalChannelsInit, 'privateKey' | 'send' | 'relayTakesSignals'> = {}): RoomSignalling {
  let attached: RoomNode | undefined
  const channels = createSignalChannels({
    ...options,
    privateKey,
    send: async (relay, roomId, to, sealed) => {
      if (attached == null) throw new ProtocolError('Signalling before the node exists')
      await attached.services.rooms.replication.signal(relay, roomId, to, sealed)
    },
    relayTakesSignals: async (relay) => {
      try {
        return (await (attached as unknown as Libp2p).peerStore.get(relay)).protocols.includes(SIGNAL_CAPABILITY)
      } catch {
        return false // not identified (yet): dial over a circuit
      }
    }
  })
  return {
    channels,
    attach (node) {
      attached = node
      node.services.rooms.replication.onSignal((relay, roomId, peer, sealed, error) => { channels.received(relay, roomId, peer, sealed, error) })
    }
  }
}
