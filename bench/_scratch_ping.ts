process.on("uncaughtException", (e: any) => { console.log("UNCAUGHT", e?.name, e?.message) })
import { peerIdFromString } from '@libp2p/peer-id'
import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { sealMany, pushBatches, openPeer, closePeers } from './seed.ts'
try {
  const relay = await startRelayProcess()
  const secret = newRoomSecret(); const keys = deriveRoomKeys(secret)
  const link = formatRoomLink(relay.url, secret)
  const recs = sealMany(keys, 2000, 'item/')
  const w = await openPeer(link, relay.url)
  const rid = peerIdFromString(relay.peerId)
  const t0 = performance.now()
  let done = false
  const pinger = (async () => { while (!done) { const t = performance.now(); try { const r = await (w.node.services as any).ping.ping(rid, { signal: AbortSignal.timeout(15000) }); console.log('ping at', Math.round(t - t0), 'took', Math.round(performance.now() - t), 'rtt', r) } catch (e: any) { console.log('ping fail', Math.round(t - t0), e.name, e.message) } await new Promise(r => setTimeout(r, 1000)) } })()
  await new Promise(r => setTimeout(r, 5000)); for (let i = 0; i < 1; i++) { const t1 = performance.now(); const s = await pushBatches(w, relay.peerId, keys.roomId, recs.slice(i*1000, i*1000+1000)); console.log("batch", i, s, Math.round(performance.now() - t1)) }
  done = true; await pinger
} finally { await closePeers(); await stopAll() }
