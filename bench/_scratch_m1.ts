import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { sealMany, pushBatches, openPeer, closePeers, relayMetrics } from './seed.ts'
try {
  const relay = await startRelayProcess()
  const secret = newRoomSecret(); const keys = deriveRoomKeys(secret)
  const link = formatRoomLink(relay.url, secret)
  const recs = sealMany(keys, 3000, 'item/')
  const w = await openPeer(link, relay.url)
  for (let i = 0; i < 3; i++) {
    const m0 = await relayMetrics(relay.url); const t1 = performance.now()
    const s = await pushBatches(w, relay.peerId, keys.roomId, recs.slice(i*1000, i*1000+1000))
    const el = performance.now() - t1; const m1 = await relayMetrics(relay.url)
    console.log("batch", i, s, Math.round(el), 'relay cpu s', (m1.get('process_cpu_seconds_total')! - m0.get('process_cpu_seconds_total')!).toFixed(2), 'user', (m1.get('process_cpu_user_seconds_total')! - m0.get('process_cpu_user_seconds_total')!).toFixed(2))
  }
} finally { await closePeers(); await stopAll() }
