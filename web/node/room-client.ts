/**
 * Joins a room from this tab: browser libp2p node, IndexedDB storage and the
 * profile's writer id. The Svelte UI and the e2e tests use only this module.
 */
import { joinRoom, type RoomClient } from '../../shared/room-client.ts'
import type { RelayJson } from '../../shared/relay-info.ts'
import { parseRoomLink } from '../../shared/link.ts'
import { createBrowserNode } from './browser-node.ts'
import { cacheOwnAddresses } from './own-addresses.ts'
import { idbRecordStorage } from './idb-storage.ts'
import { linkSameOriginTabs } from './tab-channel.ts'
import { createCryptoPool } from './crypto-pool.ts'
import { writerId } from './writer-id.ts'

export type { ClientStatus, RoomClient } from '../../shared/room-client.ts'

/** This module was evaluated: the app's JS is loaded and running (the first join phase). */
const scriptLoaded = performance.now()

export interface JoinTabRoomInit {
  /** A room link, `#v1.…` fragment or bare code. */
  link: string
  /** Relay to ask for addresses. @default the link's origin, else the page's origin */
  relayUrl?: string
  /** Fallback relays (HTTP URLs), tried in order after the link's own `?relay=` list. @default [] */
  relayUrls?: string[]
  /** @default the relay's `--ice-server` list; [] = same host and LAN peers only */
  iceServers?: RTCIceServer[]
  /** IndexedDB database name. @default 'roomkv' */
  database?: string
}

/** The relay inlines its /roomkv.json into the page it serves: use it when joining through that relay. */
function inlineRelayInfo (relayUrl: string | undefined, link: string): RelayJson | undefined {
  try {
    // The same relay joinRoom will use: the given URL, else the link's origin, else this page's.
    const origin = parseRoomLink(link).origin
    const target = relayUrl ?? (origin !== '' ? origin : location.origin)
    if (target !== location.origin) return undefined
    const text = document.getElementById('roomkv-relay')?.textContent
    return text == null || text === '' ? undefined : JSON.parse(text)
  } catch {
    return undefined
  }
}

export async function joinTabRoom (init: JoinTabRoomInit): Promise<RoomClient> {
  const cryptoPool = createCryptoPool()
  let client: RoomClient
  try {
    client = await joinRoom({
      link: init.link,
      relayUrl: init.relayUrl,
      relayUrls: init.relayUrls,
      relayInfo: inlineRelayInfo(init.relayUrl, init.link),
      storage: idbRecordStorage({
        database: init.database,
        createWriter: () => new Worker(new URL('./idb-writer-worker.ts', import.meta.url), { type: 'module', name: 'roomkv-idb-writer' })
      }),
      writer: writerId(),
      phases: { scriptLoaded },
      // Batches of 128: one batch's merge, write and listeners stay a short task.
      store: { verifySignature: cryptoPool.verify, maxBatch: 128 },
      openPayload: cryptoPool.open,
      // A tab's join is bound by its main thread: the reservation (only for
      // peers that reach us over a circuit) waits until the members are known.
      deferReservation: 500,
      // Addresses cached per change before the relay and the session listen to
      // the node: their room statuses read them on every event.
      createNode: async (node) => cacheOwnAddresses(await createBrowserNode({ ...node, iceServers: init.iceServers ?? node.iceServers })).node
    })
  } catch (err) {
    cryptoPool.close()
    throw err
  }
  const unlink = linkSameOriginTabs(client.session)
  const close = client.close.bind(client)
  return { ...client, close: async () => { unlink(); await close(); cryptoPool.close() } }
}
