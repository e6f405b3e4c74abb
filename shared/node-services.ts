/**
 * The libp2p services every roomkv node runs, relay, tab or Node peer alike:
 * identify (+push), ping, the roomkv DHT in server mode and the room
 * protocols. One definition so the three cannot drift apart.
 */
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHTInit } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { DHT_PROTOCOL, second } from './constants.ts'
import { createDhtValidators, dhtSelectors, type DhtValidatorsInit } from './dht-key.ts'
import { roomProtocol, type RoomProtocolInit } from './protocol/room-protocol.ts'

/** Hooks a host (the relay) adds to the DHT; tabs and Node peers pass none. */
export interface RoomkvDhtInit extends DhtValidatorsInit {
  /**
   * Sees every inbound DHT message before kad-dht handles it (patched-in
   * kad-dht option); throwing refuses it and resets the stream.
   */
  onInboundMessage?: KadDHTInit['onInboundMessage']
}

export function roomkvServices (rooms: RoomProtocolInit, dht: RoomkvDhtInit = {}) {
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
      validators: createDhtValidators({ onRejected: dht.onRejected }),
      selectors: dhtSelectors,
      onInboundMessage: dht.onInboundMessage
    }),
    rooms: roomProtocol(rooms)
  }
}

/**
 * A busy peer (a relay merging a large batch, a tab verifying a big sync)
 * answers pings late; do not drop the connection for that.
 */
/**
 * Yamux for every node. A stream's receive window may grow to 1 MiB
 * (default 16 MiB): a reader that pauses (sync catch-up while the store is
 * behind) then holds at most that much more, well below the 4 MiB read
 * buffer past which a stream is aborted.
 */
export const YAMUX_OPTIONS = { streamOptions: { maxStreamWindowSize: 1024 * 1024 } }

export const CONNECTION_MONITOR = { pingInterval: 15 * second, pingTimeout: { minTimeout: 10 * second, maxTimeout: 30 * second } }
