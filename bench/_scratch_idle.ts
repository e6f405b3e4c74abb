process.on("uncaughtException", (e: any) => { console.log("UNCAUGHT at", Math.round(performance.now()), e?.name, e?.message) })
import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { newRoomSecret } from '../shared/room-keys.ts'
import { openPeer, closePeers } from './seed.ts'
try {
  const relay = await startRelayProcess()
  const link = formatRoomLink(relay.url, newRoomSecret())
  const w = await openPeer(link, relay.url)
  console.log('connected at', Math.round(performance.now()))
  w.node.addEventListener('connection:close', (e: any) => console.log('conn close at', Math.round(performance.now()), e.detail.remoteAddr.toString()))
  w.node.addEventListener('connection:open', (e: any) => console.log('conn open at', Math.round(performance.now()), e.detail.remoteAddr.toString()))
  await new Promise(r => setTimeout(r, 35000))
  console.log(JSON.stringify(w.status().relay))
} finally { await closePeers(); await stopAll() }
