/**
 * A room member in Node that connects to other members over WebRTC, as a
 * tab does (node-datachannel stands in for the browser's RTCPeerConnection):
 * for tests of member handling (who dials, who leaves) with real libp2p
 * nodes. Run as a script it joins the link given and prints its peer id,
 * then stays until killed: a child process that can be SIGKILLed is a tab
 * that crashed (no goodbye, its UDP just stops).
 *
 *   node --import tsx test/node/webrtc-member.ts <link> <relay url>
 */
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { dhtDatastore } from '../../shared/dht-datastore.ts'
import { forgetDhtPeer } from '../../shared/dht-routing.ts'
import { CONNECTION_MONITOR, roomkvServices } from '../../shared/node-services.ts'
import { memoryRecordStorage } from '../../shared/record-store.ts'
import { relayReservations } from '../../shared/relay-reservations.ts'
import { createRoomSignalling } from '../../shared/signal/room-signalling.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { joinRoom, type NodeFactoryInit, type RoomClient } from '../../shared/room-client.ts'
import type { RoomNode } from '../../shared/room.ts'
import type { Connection, PeerId } from '@libp2p/interface'
import { listedMembers } from '../../web/node/listed-members.ts'

// The room session dials members over WebRTC only where the platform has it.
;(globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection ??= RTCPeerConnection

/** WebRTC dials this member made, by remote peer id (one RTCPeerConnection each). */
export interface WebRtcMember {
  client: RoomClient
  /** Outbound WebRTC connections opened so far, by remote peer id. */
  webrtcDials: Map<string, number>
  /** Peers a WebRTC dial was tried to (succeeded or not), in order. */
  webrtcDialTargets: string[]
  /** The same tries with when each started and whether a WebRTC connection to that peer was open then. */
  webrtcDialLog: Array<{ peer: string, at: number, whileOpen: boolean }>
  /** Member lists relays sent this member, in order. */
  memberLists: string[][]
  /** Relayed (circuit) connections opened, either way, by remote peer id. */
  relayedConnections: Map<string, number>
  /** Every sync this member ran, in the order they ended: with whom, when, records received, whether it succeeded. */
  syncs: Array<{ peer: string, started: number, ended: number, received: number, ok: boolean }>
  /** Records handed to this member's store by any path (syncs, pushes, live writes), duplicates included. */
  merged: { records: number }
}

export interface WebRtcMemberOptions {
  /** Signal WebRTC dials through the relay's room session, as tabs do (false: over a circuit only, as before signalling existed). @default true */
  signals?: boolean
}

export async function joinWebRtcMember (link: string, relayUrl: string, options: WebRtcMemberOptions = {}): Promise<WebRtcMember> {
  const webrtcDials = new Map<string, number>()
  const relayedConnections = new Map<string, number>()
  const webrtcDialTargets: string[] = []
  const webrtcDialLog: WebRtcMember['webrtcDialLog'] = []
  const syncs: WebRtcMember['syncs'] = []
  const merged = { records: 0 }
  const memberLists: string[][] = []
  const createNode = async (init: NodeFactoryInit): Promise<RoomNode> => {
    // The tab's dial gate (web/node/browser-node.ts): no second WebRTC
    // connection from kad-dht to a listed member whose turn it is to dial.
    let created: { peerId: PeerId, getConnections(peer?: PeerId): Connection[] } | undefined
    const members = listedMembers({
      self: () => (created as { peerId: PeerId }).peerId,
      connections: (peer) => created?.getConnections(peer) ?? [],
      onRoomPeer: init.onRoomPeer
    })
    const privateKey = await generateKeyPair('Ed25519')
    const signalling = options.signals === false ? undefined : createRoomSignalling(privateKey)
    const node = await createLibp2p({
      privateKey,
      addresses: { listen: ['/webrtc'] },
      transports: [webSockets(), webRTC({ rtcConfiguration: { iceServers: [] }, signaling: signalling?.channels }), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      connectionMonitor: CONNECTION_MONITOR,
      streamMuxers: [yamux()],
      connectionGater: {
        denyDialMultiaddr: (ma) => created != null && members.mustWait(ma)
      },
      datastore: dhtDatastore(new MemoryDatastore(), init.store),
      services: {
        ...roomkvServices({ store: init.store, onRoomPeer: init.onRoomPeer, takesSignals: signalling != null }),
        reservations: relayReservations(),
        ...(signalling != null ? { signals: () => signalling.channels } : {})
      }
    })
    created = node
    node.addEventListener('connection:open', (evt) => { members.opened(evt.detail) })
    node.services.rooms.replication.onMembers(members.listed)
    signalling?.attach(node as unknown as RoomNode)
    const rooms = node.services.rooms
    const sync = rooms.sync.bind(rooms)
    rooms.sync = async (peer, roomId, options) => {
      const started = Date.now()
      let received = 0
      let ok = false
      try {
        const result = await sync(peer, roomId, options)
        received = result.received
        ok = true
        return result
      } finally {
        syncs.push({ peer: peer.toString(), started, ended: Date.now(), received, ok })
      }
    }
    const mergeMany = init.store.mergeMany.bind(init.store)
    init.store.mergeMany = async (records, options) => {
      merged.records += records.length
      return await mergeMany(records, options)
    }
    node.addEventListener('peer:disconnect', (evt) => { forgetDhtPeer(node.services.dht, evt.detail) })
    node.services.rooms.replication.onMembers((_from, _room, members) => { memberLists.push(members.map(p => p.toString())) })
    const dial = node.dial.bind(node)
    node.dial = async (target, options) => {
      for (const ma of Array.isArray(target) ? target : [target]) {
        const text = ma.toString()
        if (!text.includes('/webrtc')) continue
        const peer = text.slice(text.lastIndexOf('/p2p/') + 5)
        webrtcDialTargets.push(peer)
        const whileOpen = node.getConnections().some(c => c.remotePeer.toString() === peer && c.status === 'open' && c.remoteAddr.toString().includes('/webrtc'))
        webrtcDialLog.push({ peer, at: Date.now(), whileOpen })
      }
      return dial(target, options)
    }
    node.addEventListener('connection:open', (evt) => {
      const connection = evt.detail
      const remote = connection.remoteAddr.toString()
      if (remote.includes('/p2p-circuit') && !remote.includes('/webrtc')) relayedConnections.set(connection.remotePeer.toString(), (relayedConnections.get(connection.remotePeer.toString()) ?? 0) + 1)
      if (connection.direction !== 'outbound' || !connection.remoteAddr.toString().includes('/webrtc')) return
      const id = connection.remotePeer.toString()
      webrtcDials.set(id, (webrtcDials.get(id) ?? 0) + 1)
    })
    return node as unknown as RoomNode
  }
  const client = await joinRoom({ link, relayUrl, storage: memoryRecordStorage(), writer: `member-${randomBytes(6).toString('hex')}`, createNode })
  return { client, webrtcDials, webrtcDialTargets, webrtcDialLog, memberLists, relayedConnections, syncs, merged }
}

if (process.argv[1]?.endsWith('webrtc-member.ts') === true) {
  const [link, relayUrl] = process.argv.slice(2)
  const { client } = await joinWebRtcMember(link, relayUrl)
  process.stdout.write(`peer id: ${client.node.peerId.toString()}\n`)
  // Stays until the test kills it.
  setInterval(() => {}, 60_000)
}
