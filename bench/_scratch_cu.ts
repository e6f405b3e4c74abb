process.on('uncaughtException', (e: any) => console.log('UNCAUGHT', e?.name, e?.message))
import { launchBrowser, stopAll } from '../e2e/harness.ts'
import { largeRoomCatchup } from './catchup.ts'
import { closePeers } from './seed.ts'
try {
  const browser = await launchBrowser()
  const t = performance.now()
  const r = await largeRoomCatchup(browser, Number(process.argv[2] ?? 10000), 1, Date.now() + 60000, (l) => console.log(Math.round(performance.now() - t), l))
  console.log(JSON.stringify(r))
} finally { await closePeers(); await stopAll() }
