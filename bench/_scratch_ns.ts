process.on('uncaughtException', (e: any) => console.log('UNCAUGHT', e?.name, e?.message))
import { launchBrowser, startRelayProcess, stopAll } from '../e2e/harness.ts'
import { killWorkers, RAISED_LIMITS, relayCapacity } from './capacity.ts'
import { prepareCatchup } from './catchup.ts'
import { pushThroughput, replication } from './nodes.ts'
import { closePeers } from './seed.ts'
const t = performance.now()
const log = (l: string) => console.log(Math.round((performance.now() - t) / 1000), l)
try {
  const browser = await launchBrowser()
  const room = await prepareCatchup(browser, 10000, log, { tab: 120_000, node: 120_000 })
  await room.run()
  const relay = await startRelayProcess({ args: RAISED_LIMITS })
  const r = await replication(relay.url, relay.peerId, 500, 16, 90_000, log)
  log(JSON.stringify({ ...r, method: undefined }))
  await pushThroughput(relay.url, relay.peerId, 8, 250, 4, 10_000, log)
  await closePeers(); await relay.stop()
  await relayCapacity([100, 500, 1000], 2, log, Date.now() + 300_000)
  await room.close()
  log('done')
} finally { await closePeers(); killWorkers(); await stopAll() }
