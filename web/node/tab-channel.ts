/**
 * Same-origin tabs share writes over BroadcastChannel before (and besides)
 * the network, as y-webrtc does: instant, and works with no relay at all.
 * Every message is a signed record and goes through the normal merge, so a
 * bad message is rejected like one from the network.
 */
import { logger } from '@libp2p/logger'
import type { RoomSession } from '../../shared/room.ts'

const log = logger('roomkv:tab-channel')

export function linkSameOriginTabs (session: RoomSession): () => void {
  if (typeof BroadcastChannel === 'undefined') return () => {}
  const channel = new BroadcastChannel(`roomkv:${session.roomId}`)
  channel.onmessage = (event: MessageEvent) => {
    if (!(event.data instanceof Uint8Array)) return
    session.ingest(event.data).catch((err) => { log('record from another tab rejected: %e', err) })
  }
  const stop = session.onWrite((record) => { channel.postMessage(record) })
  return () => {
    stop()
    channel.close()
  }
}
