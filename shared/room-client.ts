/**
 * Joins a room from a link: fetches relay addresses from the relay's HTTP
 * server, starts a libp2p node (the caller's: browser or Node), keeps a
 * relay connection and opens the room session.
 */
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { InvalidLinkError } from './errors.ts'
import { parseRoomLink } from './link.ts'
import { createRecordStore, type RecordStorage, type RecordStore } from './record-store.ts'
import { deriveRoomKeysAsync } from './room-keys.ts'
import { createRoomSession, type RoomNode, type RoomSession, type RoomStatus } from './room.ts'
import { connectRelays, type RelayConnection, type RelayStatus } from './relay-connection.ts'
import { fetchRelayInfo, type RelayJson } from './relay-info.ts'
import { createJoinTimeline, type JoinPhases } from './join-phases.ts'

const log = logger('roomkv:client')

export interface NodeFactoryInit {
  store: RecordStore
  /** Relay addresses, in dial order. */
  relayAddrs: Multiaddr[]
  /** ICE servers offered by the relay operator. */
  iceServers: Array<{ urls: string }>
  onRoomPeer(peer: PeerId, roomId: Uint8Array): void
}

export interface JoinRoomInit {
  /** A room link, `#v1.…` fragment or bare code. */
  link: string
  /** Relay to ask for addresses. @default the link's origin, else the page's origin */
  relayUrl?: string
  /** Where records are kept (IndexedDB in tabs, disk or memory in Node). */
  storage: RecordStorage
  /** This writer's stable id. */
  writer: string
  createNode(init: NodeFactoryInit): Promise<RoomNode>
  /** /roomkv.json of the relay at `relayUrl`, when the caller already has it (inlined in the page). */
  relayInfo?: RelayJson
  /** Phases that happened before joinRoom was called (e.g. `scriptLoaded`). */
  phases?: JoinPhases
}

export interface ClientStatus {
  peerId: string
  relay: RelayStatus
  room: RoomStatus
}

export interface RoomClient {
  session: RoomSession
  node: RoomNode
  relay: RelayConnection
  status(): ClientStatus
  /** When each join step happened (ms since navigation start in a tab, process start in Node). */
  phases(): JoinPhases
  onStatus(callback: (status: ClientStatus) => void): () => void
  close(): Promise<void>
}

export async function joinRoom (init: JoinRoomInit): Promise<RoomClient> {
  const timeline = createJoinTimeline(init.phases)
  timeline.mark('joinStarted')
  const link = parseRoomLink(init.link)
  const keys = await deriveRoomKeysAsync(link.secret)
  timeline.mark('keysDerived')
  const relayUrl = init.relayUrl ?? (link.origin !== '' ? link.origin : globalThis.location?.origin)
  if (relayUrl == null) throw new InvalidLinkError('The link names no relay and none was given')
  const info = await fetchRelayInfo(relayUrl, { inline: init.relayInfo })
  timeline.mark('relayInfo')
  const store = createRecordStore(init.storage)
  let session: RoomSession | undefined
  const node = await init.createNode({
    store,
    relayAddrs: info.addrs,
    iceServers: info.iceServers,
    onRoomPeer: (peer, roomId) => {
      if (toString(roomId, 'base32') === keys.roomIdText) session?.addMember(peer)
    }
  })
  timeline.mark('nodeStarted')
  const watchers = new Set<(status: ClientStatus) => void>()
  const emit = (): void => {
    if (session == null) return
    const status = client.status()
    for (const watcher of watchers) watcher(status)
  }
  const relay = connectRelays({ node, addrs: info.addrs, onStatus: emit, timeline })
  session = createRoomSession({ node, keys, store, writer: init.writer, relays: () => relay.relays(), timeline })
  const unwatch = session.onStatus(emit)
  const client: RoomClient = {
    session,
    node,
    relay,
    phases: () => timeline.phases(),
    status: () => ({ peerId: node.peerId.toString(), relay: relay.status(), room: (session as RoomSession).status() }),
    onStatus (callback) {
      watchers.add(callback)
      return () => { watchers.delete(callback) }
    },
    async close () {
      unwatch()
      relay.stop()
      await session?.close()
      await node.stop()
      await store.close()
    }
  }
  await session.start()
  log('joined room %s as %p', keys.roomIdText, node.peerId)
  return client
}
