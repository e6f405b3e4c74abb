/**
 * The libp2p services every roomkv node runs, relay, tab or Node peer alike:
 * identify (+push), ping, the roomkv DHT in server mode and the room
 * protocols. One definition so the three cannot drift apart.
 */
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { DHT_PROTOCOL, second } from './constants.ts'
import { dhtSelectors, dhtValidators } from './dht-key.ts'
import { roomProtocol, type RoomProtocolInit } from './protocol/room-protocol.ts'

export function roomkvServices (rooms: RoomProtocolInit) {
  return {
    identify: identify(),
    // Without identify-push the relay never learns a tab's /p2p-circuit
    // address after its reservation, and the DHT cannot route to tabs.
    identifyPush: identifyPush(),
    ping: ping(),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      // Auto mode ignores circuit addresses, leaving tabs as clients: room
      // members must hold records, and relays must always serve.
      clientMode: false,
      // The default mapper drops private addresses, including loopback and
      // every circuit address through a private relay: keep them.
      peerInfoMapper: passthroughMapper,
      validators: dhtValidators,
      selectors: dhtSelectors
    }),
    rooms: roomProtocol(rooms)
  }
}

/**
 * A busy peer (a relay merging a large batch, a tab verifying a big sync)
 * answers pings late; do not drop the connection for that.
 */
export const CONNECTION_MONITOR = { pingInterval: 15 * second, pingTimeout: { minTimeout: 10 * second, maxTimeout: 30 * second } }
