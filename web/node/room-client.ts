/**
 * Joins a room from a link: fetches relay addresses from the relay's HTTP
 * server, starts the tab's libp2p node, keeps a relay connection and opens
 * the room session. The Svelte UI and the e2e tests use only this module.
 */
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import { parseRoomLink } from '../../shared/link.ts'
import { createRecordStore } from '../../shared/record-store.ts'
import { deriveRoomKeys } from '../../shared/room-keys.ts'
import { createRoomSession, type RoomNode, type RoomSession, type RoomStatus } from '../../shared/room.ts'
import { createBrowserNode } from './browser-node.ts'
import { idbRecordStorage } from './idb-storage.ts'
import { connectRelays, type RelayConnection, type RelayStatus } from './relay-connection.ts'
import { fetchRelayInfo } from './relay-info.ts'
import { writerId } from './writer-id.ts'

const log = logger('roomkv:client')

export interface JoinRoomInit {
  /** A room link, `#v1.…` fragment or bare code. */
  link: string
  /** Relay to ask for addresses. @default the link's origin, else the page's origin */
  relayUrl?: string
  /** @default [] (no STUN/TURN: same-host and LAN peers only) */
  iceServers?: RTCIceServer[]
  /** IndexedDB database name. @default 'roomkv' */
  database?: string
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
  onStatus(callback: (status: ClientStatus) => void): () => void
  close(): Promise<void>
}

export async function joinRoom (init: JoinRoomInit): Promise<RoomClient> {
  const link = parseRoomLink(init.link)
  const keys = deriveRoomKeys(link.secret)
  const relayUrl = init.relayUrl ?? (link.origin !== '' ? link.origin : globalThis.location.origin)
  const info = await fetchRelayInfo(relayUrl)
  const store = createRecordStore(idbRecordStorage({ database: init.database }))
  let session: RoomSession | undefined
  const node = await createBrowserNode({
    store,
    relayAddrs: info.addrs,
    iceServers: init.iceServers,
    onRoomPeer: (peer, roomId) => {
      if (toString(roomId, 'base32') === keys.roomIdText) session?.addMember(peer)
    }
  })
  const watchers = new Set<(status: ClientStatus) => void>()
  const emit = (): void => {
    if (session == null) return
    const status = client.status()
    for (const watcher of watchers) watcher(status)
  }
  const relay = connectRelays({ node, addrs: info.addrs, onStatus: emit })
  session = createRoomSession({ node, keys, store, writer: writerId(), relays: () => relay.relays() })
  const unwatch = session.onStatus(emit)
  const client: RoomClient = {
    session,
    node,
    relay,
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
