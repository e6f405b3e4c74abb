process.on("uncaughtException", (e: any) => { console.log("UNCAUGHT", e?.name, e?.message, e?.stack); console.log((globalThis as any).R?.output().split("\n").filter((l: string) => /ping|monitor/.test(l)).slice(0,60).join("\n")) })
process.on("unhandledRejection", (e: any) => { console.log("UNHANDLED", e?.name, e?.message) })
import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { sealMany, pushBatches, openPeer, closePeer, closePeers, pollUntil } from './seed.ts'
try {
  const relay = await startRelayProcess(); (globalThis as any).R = relay
  const secret = newRoomSecret(); const keys = deriveRoomKeys(secret)
  const link = formatRoomLink(relay.url, secret)
  let t = performance.now()
  const recs = sealMany(keys, 10000, 'item/')
  console.log('seal', performance.now() - t)
  const w = await openPeer(link, relay.url)
  t = performance.now()
  for (let i = 0; i < 10; i++) { const t1 = performance.now(); const s = await pushBatches(w, relay.peerId, keys.roomId, recs.slice(i*1000, i*1000+1000)); console.log("batch", i, s, performance.now() - t1) }
  await closePeer(w); console.log(relay.output().split("\n").filter(l => /ping|monitor/.test(l)).slice(0,40).join("\n"))
  for (let run = 0; run < 2; run++) {
    t = performance.now()
    const r = await openPeer(link, relay.url)
    const opened = performance.now() - t
    let n = 0
    const ok = await pollUntil(async () => (n = (await r.session.list()).length) >= 10000, 120000, 100)
    console.log('node', run, ok, n, opened, performance.now() - t)
    await closePeer(r)
  }
} finally { await closePeers(); await stopAll() }
