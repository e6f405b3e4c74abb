/**
 * The relay's libp2p node: WebSockets listener, circuit-relay-v2 server,
 * identify (+push), ping, the roomkv DHT in server mode and the room
 * protocols, all over one record store.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Datastore } from 'interface-datastore'
import type { PrivateKey } from '@libp2p/interface'
import { DHT_PROTOCOL, minute } from '../shared/constants.ts'
import { dhtSelectors, dhtValidators } from '../shared/dht-key.ts'
import { forgetDhtPeer } from '../shared/dht-routing.ts'
import { roomProtocol, type RoomProtocol, type RoomProtocolInit } from '../shared/protocol/room-protocol.ts'
import type { RelayConfig } from './config.ts'

export type RelayServices = {
  identify: unknown
  identifyPush: unknown
  ping: unknown
  relay: CircuitRelayService
  dht: KadDHT
  rooms: RoomProtocol
}

export interface RelayNodeInit {
  config: RelayConfig
  privateKey: PrivateKey
  datastore: Datastore
  rooms: RoomProtocolInit
}

export async function createRelayNode ({ config, privateKey, datastore, rooms }: RelayNodeInit): Promise<Libp2p<RelayServices>> {
  const node = await createLibp2p({
    privateKey,
    datastore,
    addresses: {
      listen: [`/ip4/${config.host}/tcp/${config.p2pPort}/ws`],
      announce: config.announce
    },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: config.maxConnections
    },
    services: {
      identify: identify(),
      // Without identify-push the relay never learns a tab's /p2p-circuit
      // address after its reservation, and the DHT cannot route to tabs.
      identifyPush: identifyPush(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: config.maxReservations,
          // Defaults: 2 min and 128 KiB per relayed connection; enough for
          // the WebRTC handshake, which is all tabs need it for.
          reservationTtl: 30 * minute
        }
      }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        // Auto mode ignores circuit addresses; the relay must always serve.
        clientMode: false,
        // The default mapper drops private addresses, including loopback and
        // every circuit address through a private relay: keep them.
        peerInfoMapper: passthroughMapper,
        validators: dhtValidators,
        selectors: dhtSelectors
      }),
      rooms: roomProtocol(rooms)
    }
  })
  // A reservation slot is otherwise held until it expires, long after the tab
  // is gone; free it as soon as the peer disconnects.
  node.addEventListener('peer:disconnect', (evt) => {
    node.services.relay.reservations.delete(evt.detail)
    forgetDhtPeer(node.services.dht, evt.detail)
  })
  return node
}
