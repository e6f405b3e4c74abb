process.on('uncaughtException', (e: any) => console.log('UNCAUGHT', e?.name, e?.message))
process.on('unhandledRejection', (e: any) => console.log('UNHANDLED', e?.name, e?.message))
import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { RAISED_LIMITS } from './capacity.ts'
import { replication, pushThroughput } from './nodes.ts'
import { closePeers } from './seed.ts'
const which = process.argv[2]
try {
  const relay = await startRelayProcess({ args: RAISED_LIMITS })
  const t = performance.now()
  const log = (l: string) => console.log(Math.round(performance.now() - t), l)
  if (which === 'rep') console.log(JSON.stringify(await replication(relay.url, relay.peerId, 500, 16, 90_000, log), null, 1))
  if (which === 'tp') console.log(JSON.stringify(await pushThroughput(relay.url, relay.peerId, 8, 400, 4, 10_000, log), null, 1))
  console.log('total', Math.round(performance.now() - t))
} finally { await closePeers(); await stopAll() }
