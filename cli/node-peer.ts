/**
 * A roomkv peer in Node: reaches relays over WebSockets exactly like a tab
 * does, and runs the same DHT and room protocols. Used by the tests and the
 * CLI. No WebRTC here: Node peers get live changes through the relay, which
 * forwards pushes to room members, and catch up by sync.
 */
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webSockets } from '@libp2p/websockets'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { dhtDatastore } from '../shared/dht-datastore.ts'
import { forgetDhtPeer } from '../shared/dht-routing.ts'
import { CONNECTION_MONITOR, roomkvServices, YAMUX_OPTIONS } from '../shared/node-services.ts'
import { relayReservations } from '../shared/relay-reservations.ts'
import { joinRoom, type NodeFactoryInit, type RoomClient } from '../shared/room-client.ts'
import { memoryRecordStorage, type RecordStorage } from '../shared/record-store.ts'
import type { RelayJson } from '../shared/relay-info.ts'
import type { RoomNode } from '../shared/room.ts'

export async function createNodePeer (init: NodeFactoryInit): Promise<RoomNode> {
  const node = await createLibp2p({
    // A reservation on the relay makes this peer dialable through it, so its
    // provider records and room membership are usable by others. It is taken
    // on the given relay once connected (shared/relay-reservations.ts), and
    // again after every reconnect.
    addresses: { listen: [] },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    connectionMonitor: CONNECTION_MONITOR,
    streamMuxers: [yamux(YAMUX_OPTIONS)],
    datastore: dhtDatastore(new MemoryDatastore(), init.store),
    services: {
      ...roomkvServices({ store: init.store, onRoomPeer: init.onRoomPeer }),
      reservations: relayReservations()
    }
  })
  node.addEventListener('peer:disconnect', (evt) => { forgetDhtPeer(node.services.dht, evt.detail) })
  return node as unknown as RoomNode
}

export interface OpenRoomOptions {
  /** Relay HTTP URL to use instead of the link's origin. */
  relayUrl?: string
  /** Fallback relays (HTTP URLs), tried in order after the link's own list. @default [] */
  relayUrls?: string[]
  /** @default in-memory storage */
  storage?: RecordStorage
  /** @default a random id per process */
  writer?: string
  /** The first relay's /roomkv.json when already read (the CLI asks for it early). @default asked by the join */
  relayInfo?: RelayJson
}

/** Open a room from Node: the SDK entry point for scripts, tests and the CLI. */
export async function openRoom (link: string, options: OpenRoomOptions = {}): Promise<RoomClient> {
  return joinRoom({
    link,
    relayUrl: options.relayUrl,
    relayUrls: options.relayUrls,
    relayInfo: options.relayInfo,
    storage: options.storage ?? memoryRecordStorage(),
    writer: options.writer ?? `node-${randomBytes(8).toString('hex')}`,
    createNode: createNodePeer
  })
}
