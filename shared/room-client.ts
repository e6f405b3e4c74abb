/**
 * Joins a room from a link: fetches relay addresses from the relay's HTTP
 * server, starts a libp2p node (the caller's: browser or Node), keeps a
 * relay connection and opens the room session.
 */
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { InvalidLinkError, RelayUnreachableError } from './errors.ts'
import { parseRoomLink } from './link.ts'
import { createRecordStore, type RecordStorage, type RecordStore, type RecordStoreInit } from './record-store.ts'
import { deriveRoomKeysAsync } from './room-keys.ts'
import { createRoomSession, type RoomNode, type RoomSession, type RoomStatus } from './room.ts'
import { connectRelays, type RelayConnection, type RelayStatus } from './relay-connection.ts'
import { fetchRelayInfo, type RelayInfo, type RelayJson } from './relay-info.ts'
import { roomDiagnostics, type RoomDiagnostics } from './room-diagnostics.ts'
import { errorCode } from './errors.ts'
import { createJoinTimeline, type JoinPhases } from './join-phases.ts'
import type { PayloadOpener } from './record.ts'

const log = logger('roomkv:client')

export interface NodeFactoryInit {
  store: RecordStore
  /** Relay addresses, in dial order; fallback relays' are appended when they answer (read it at dial time). */
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
  /**
   * Fallback relays (HTTP URLs), tried in order when the first is
   * unreachable, after the link's own `?relay=` list. @default []
   */
  relayUrls?: string[]
  /** Where records are kept (IndexedDB in tabs, disk or memory in Node). */
  storage: RecordStorage
  /** This writer's stable id. */
  writer: string
  createNode(init: NodeFactoryInit): Promise<RoomNode>
  /** /roomkv.json of the relay at `relayUrl`, when the caller already has it (inlined in the page). */
  relayInfo?: RelayJson
  /** Phases that happened before joinRoom was called (e.g. `scriptLoaded`). */
  phases?: JoinPhases
  /**
   * Settings of the record store (createRecordStore): a tab checks
   * signatures in Workers and merges smaller batches (shorter tasks).
   * @default {}
   */
  store?: RecordStoreInit
  /** Where records are decrypted and checked for watch() and list() (a tab: Workers). @default this thread */
  openPayload?: PayloadOpener
  /**
   * Take the first relay reservation only once a relay listed the room's
   * members, or after this many ms: a tab's join then does not share its
   * main thread with the reservation and the address updates it sets off
   * while it dials members (signalled through the session, no reservation
   * needed). A room with nobody else waits the whole time. @default 0: at once
   */
  deferReservation?: number
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
  /**
   * The connectivity doctor's report: relays with state, peers with path
   * and round-trip time (pinged now unless `ping: false`), own addresses,
   * phases, and why there is no direct member. JSON-able.
   */
  diagnostics(options?: { ping?: boolean }): Promise<RoomDiagnostics>
  onStatus(callback: (status: ClientStatus) => void): () => void
  close(): Promise<void>
}

export async function joinRoom (init: JoinRoomInit): Promise<RoomClient> {
  const timeline = createJoinTimeline(init.phases)
  timeline.mark('joinStarted')
  const link = parseRoomLink(init.link)
  // Keys are needed only once the session opens: derive them while the relay
  // info is read and the node starts (WebCrypto works off the main thread).
  const deriving = deriveRoomKeysAsync(link.secret).then((derived) => { timeline.mark('keysDerived'); return derived })
  deriving.catch(() => {}) // awaited below; a join that fails first must not leave it unhandled
  const relayUrl = init.relayUrl ?? (link.origin !== '' ? link.origin : globalThis.location?.origin)
  if (relayUrl == null) throw new InvalidLinkError('The link names no relay and none was given')
  // The first relay's addresses (inlined in the page when it served it) are
  // all a join waits for; fallback relays are asked at the same time and
  // added as they answer. Only when the first fails does the join wait for them.
  const fallbacks = [...new Set([...link.relays, ...(init.relayUrls ?? [])])].filter(url => url !== relayUrl)
  const asked = fallbacks.map(async url => ({ url, info: await fetchRelayInfo(url) }))
  const failed: Array<{ url: string, err: unknown }> = []
  let info: RelayInfo
  try {
    info = await fetchRelayInfo(relayUrl, { inline: init.relayInfo })
  } catch (err) {
    failed.push({ url: relayUrl, err })
    if (fallbacks.length === 0) throw err
    const settled = await Promise.allSettled(asked)
    const first = settled.find(r => r.status === 'fulfilled')
    if (first == null) throw new RelayUnreachableError(`No relay answered: ${[relayUrl, ...fallbacks].join(', ')} (${(err as Error).message})`)
    info = first.value.info
  }
  timeline.mark('relayInfo')
  // The session, once it exists, authenticates its room's records by
  // opening them (no Ed25519 check per record; see RecordAuthenticator).
  const store = createRecordStore(init.storage, { authenticate: (record) => session?.authenticate(record), ...init.store })
  let session: RoomSession | undefined
  // Grows as fallback relays answer: the node trusts (may dial ws:// to) exactly these.
  const relayAddrs = [...info.addrs]
  const node = await init.createNode({
    store,
    relayAddrs,
    iceServers: info.iceServers,
    // Before the session exists there is nobody to tell (and no keys to compare with).
    onRoomPeer: (peer, roomId) => {
      if (session != null && toString(roomId, 'base32') === session.roomId) session.addMember(peer)
    }
  })
  timeline.mark('nodeStarted')
  const watchers = new Set<(status: ClientStatus) => void>()
  const emit = (): void => {
    if (session == null) return
    const status = client.status()
    for (const watcher of watchers) watcher(status)
  }
  const deferReservation = init.deferReservation ?? 0
  const relay = connectRelays({
    node,
    addrs: info.addrs,
    onStatus: emit,
    timeline,
    reserveAfter: deferReservation > 0 ? async () => { await timeline.reached('membersKnown') } : undefined,
    reserveDelayMax: deferReservation
  })
  for (const { url, err } of failed) relay.addUnreachable(url, `relay ${url} did not answer /roomkv.json`, errorCode(err))
  for (const [i, ask] of asked.entries()) {
    ask.then(({ info }) => {
      relayAddrs.push(...info.addrs)
      relay.add(info.addrs)
    }, (err) => {
      relay.addUnreachable(fallbacks[i], `relay ${fallbacks[i]} did not answer /roomkv.json`, errorCode(err))
    })
  }
  // The relay dial is under way; the session (which needs the keys) opens
  // its relay sessions in start(), whenever the connection came up.
  const keys = await deriving
  session = createRoomSession({ node, keys, store, writer: init.writer, relays: () => relay.relays(), timeline, openPayload: init.openPayload })
  const unwatch = session.onStatus(emit)
  const client: RoomClient = {
    session,
    node,
    relay,
    phases: () => timeline.phases(),
    diagnostics: async (options = {}) => roomDiagnostics({ node, session: session as RoomSession, relay, phases: timeline.phases(), ping: options.ping }),
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
