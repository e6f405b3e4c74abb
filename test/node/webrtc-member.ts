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
import { joinRoom, type NodeFactoryInit, type RoomClient } from '../../shared/room-client.ts'
import type { RoomNode } from '../../shared/room.ts'

// The room session dials members over WebRTC only where the platform has it.
;(globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection ??= RTCPeerConnection

/** WebRTC dials this member made, by remote peer id (one RTCPeerConnection each). */
export interface WebRtcMember {
  client: RoomClient
  /** Outbound WebRTC connections opened so far, by remote peer id. */
  webrtcDials: Map<string, number>
  /** Peers a WebRTC dial was tried to (succeeded or not), in order. */
  webrtcDialTargets: string[]
  /** Member lists relays sent this member, in order. */
  memberLists: string[][]
}

export async function joinWebRtcMember (link: string, relayUrl: string): Promise<WebRtcMember> {
  const webrtcDials = new Map<string, number>()
  const webrtcDialTargets: string[] = []
  const memberLists: string[][] = []
  const createNode = async (init: NodeFactoryInit): Promise<RoomNode> => {
    const node = await createLibp2p({
      addresses: { listen: ['/webrtc'] },
      transports: [webSockets(), webRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      connectionMonitor: CONNECTION_MONITOR,
      streamMuxers: [yamux()],
      datastore: dhtDatastore(new MemoryDatastore(), init.store),
      services: {
        ...roomkvServices({ store: init.store, onRoomPeer: init.onRoomPeer }),
        reservations: relayReservations()
      }
    })
    node.addEventListener('peer:disconnect', (evt) => { forgetDhtPeer(node.services.dht, evt.detail) })
    node.services.rooms.replication.onMembers((_from, _room, members) => { memberLists.push(members.map(p => p.toString())) })
    const dial = node.dial.bind(node)
    node.dial = async (target, options) => {
      for (const ma of Array.isArray(target) ? target : [target]) {
        const text = ma.toString()
        if (text.includes('/webrtc')) webrtcDialTargets.push(text.slice(text.lastIndexOf('/p2p/') + 5))
      }
      return dial(target, options)
    }
    node.addEventListener('connection:open', (evt) => {
      const connection = evt.detail
      if (connection.direction !== 'outbound' || !connection.remoteAddr.toString().includes('/webrtc')) return
      const id = connection.remotePeer.toString()
      webrtcDials.set(id, (webrtcDials.get(id) ?? 0) + 1)
    })
    return node as unknown as RoomNode
  }
  const client = await joinRoom({ link, relayUrl, storage: memoryRecordStorage(), writer: `member-${randomBytes(6).toString('hex')}`, createNode })
  return { client, webrtcDials, webrtcDialTargets, memberLists }
}

if (process.argv[1]?.endsWith('webrtc-member.ts') === true) {
  const [link, relayUrl] = process.argv.slice(2)
  const { client } = await joinWebRtcMember(link, relayUrl)
  process.stdout.write(`peer id: ${client.node.peerId.toString()}\n`)
  // Stays until the test kills it.
  setInterval(() => {}, 60_000)
}
