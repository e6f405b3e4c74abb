import { stopAll } from '../e2e/harness.ts'
import { capacityRound, killWorkers } from './capacity.ts'
const n = Number(process.argv[2] ?? 100)
try {
  const t = performance.now()
  const r = await capacityRound(n, 4, (l) => console.log(l))
  console.log(JSON.stringify(r), Math.round(performance.now() - t))
} finally { killWorkers(); await stopAll() }
