import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { relayHealth } from './seed.ts'
import { RAISED_LIMITS } from './capacity.ts'
import { spawn } from 'node:child_process'
const relay = await startRelayProcess({ args: RAISED_LIMITS })
try {
  const h = await relayHealth(relay.url)
  const addr = (h.multiaddrs as string[]).find(m => m.includes('/ws/'))!
  const t = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/clients.ts', addr, '25', '2'], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdout.on('data', (d) => { process.stdout.write(`${Math.round(performance.now() - t)} ${d}`); if (String(d).includes('ready')) child.stdin.write('close\n') })
  await new Promise(r => child.once('exit', r))
} finally { await stopAll(); process.exit(0) }
