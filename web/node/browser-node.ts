/**
 * The tab's libp2p node. No Svelte here: the UI only sees `RoomClient`.
 *
 * WebSockets to the relay, a circuit-relay reservation so others can reach
 * us, then direct WebRTC to room members (relayed circuits are limited to
 * 2 min / 128 KiB and kad-dht does not run over them).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { tabNoiseCrypto } from './noise-crypto.ts'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { generateKeyPair, privateKeyFromRaw } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { concat } from 'uint8arrays'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { dhtDatastore } from '../../shared/dht-datastore.ts'
import { forgetDhtPeer } from '../../shared/dht-routing.ts'
import { CONNECTION_MONITOR, roomkvServices, YAMUX_OPTIONS } from '../../shared/node-services.ts'
import type { RecordStore } from '../../shared/record-store.ts'
import { relayReservations } from '../../shared/relay-reservations.ts'
import { createRoomSignalling } from '../../shared/signal/room-signalling.ts'
import { listedMembers } from './listed-members.ts'
import type { RoomNode } from '../../shared/room.ts'

export interface BrowserNodeInit {
  store: RecordStore
  /** Relay addresses we trust for ws:// dials (loopback and LAN relays in development). */
  relayAddrs: Multiaddr[]
  /** ICE servers for WebRTC. Tests pass []; real deployments pass their STUN/TURN. @default [] */
  iceServers?: RTCIceServer[]
  onRoomPeer(peer: PeerId, roomId: Uint8Array): void
}

const log = logger('roomkv:browser-node')

/**
 * A fresh Ed25519 peer key from WebCrypto. libp2p's own generateKeyPair uses
 * noble in browsers, whose first use builds precomputed tables: ~130 ms of
 * main thread on the join path (signing already goes through WebCrypto).
 * Undefined where WebCrypto has no Ed25519: libp2p then makes the key.
 */
async function webCryptoPeerKey (): Promise<PrivateKey | undefined> {
  try {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']) as CryptoKeyPair
    const [pkcs8, publicKey] = await Promise.all([
      crypto.subtle.exportKey('pkcs8', pair.privateKey),
      crypto.subtle.exportKey('raw', pair.publicKey)
    ])
    // PKCS#8 of an Ed25519 key ends with the 32-byte seed; libp2p keeps seed || public key.
    const seed = new Uint8Array(pkcs8).subarray(-32)
    return privateKeyFromRaw(concat([seed, new Uint8Array(publicKey)]))
  } catch (err) {
    log('no WebCrypto Ed25519, libp2p generates the peer key: %e', err)
    return undefined
  }
}

export async function createBrowserNode (init: BrowserNodeInit): Promise<RoomNode> {
  // Read at dial time: fallback relays' addresses are appended to the list as they answer.
  const trusted = (): string[] => init.relayAddrs.map(ma => ma.toString().split('/p2p/')[0])
  // The connection gater below runs once the node exists.
  let created: Libp2p | undefined
  const members = listedMembers({
    self: () => (created as Libp2p).peerId,
    connections: (peer) => created?.getConnections(peer) ?? [],
    onRoomPeer: init.onRoomPeer
  })
  const privateKey = await webCryptoPeerKey() ?? await generateKeyPair('Ed25519')
  // WebRTC dials are signalled through the relays' room sessions where a
  // relay passes signals on (one relay hop each way instead of a relayed
  // connection with Noise and a muxer first); over a circuit otherwise.
  const signalling = createRoomSignalling(privateKey)
  const signals = signalling.channels
  const node = await createLibp2p({
    privateKey,
    addresses: {
      // /webrtc: accept WebRTC handshakes signalled over a relay circuit. The
      // circuit reservation itself is taken on the given relays as soon as
      // one is connected (shared/relay-reservations.ts), not by libp2p's
      // relay discovery, which waits for identify and walks the DHT.
      listen: ['/webrtc']
    },
    transports: [
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: init.iceServers ?? [] }, signaling: signals }),
      circuitRelayTransport()
    ],
    // X25519 keys by the Montgomery ladder: no ~40 ms base-point tables at start (noise-crypto.ts).
    connectionEncrypters: [noise({ crypto: tabNoiseCrypto() })],
    connectionMonitor: CONNECTION_MONITOR,
    streamMuxers: [yamux(YAMUX_OPTIONS)],
    connectionGater: {
      // The browser default refuses ws:// and private addresses, which is
      // every relay in development. Allow exactly the relays we were given.
      denyDialMultiaddr: (ma) => {
        // A second RTCPeerConnection to a member whose own dial is on its way (kad-dht's, see listed-members.ts).
        if (created != null && members.mustWait(ma)) return true
        const text = ma.toString()
        if (trusted().some(prefix => text.startsWith(prefix))) return false
        return text.includes('/ws/') || text.endsWith('/ws')
      }
    },
    // Records of every room this tab serves go to IndexedDB via the record store.
    datastore: dhtDatastore(new MemoryDatastore(), init.store),
    services: {
      ...roomkvServices({ store: init.store, onRoomPeer: init.onRoomPeer, takesSignals: true }),
      reservations: relayReservations(),
      signals: () => signals
    }
  })
  created = node
  node.addEventListener('peer:disconnect', (evt) => { forgetDhtPeer(node.services.dht, evt.detail) })
  node.addEventListener('connection:open', (evt) => { members.opened(evt.detail) })
  node.services.rooms.replication.onMembers(members.listed)
  signalling.attach(node as unknown as RoomNode)
  return node as unknown as RoomNode
}
