import { stopAll } from '../e2e/harness.ts'
import { relayCapacity, killWorkers } from './capacity.ts'
const w = Number(process.argv[2] ?? 4)
try {
  const t = performance.now()
  const r = await relayCapacity([100, 500, 1000], w, (l) => console.log(Math.round(performance.now() - t), l), Date.now() + 300_000)
  console.log(JSON.stringify(r), Math.round(performance.now() - t))
} finally { killWorkers(); await stopAll() }
