/**
 * Relay capacity: how many concurrent client connections one relay process
 * holds and what they cost in resident memory. For each N, a fresh relay
 * (raised limits) and N minimal libp2p clients spread over worker
 * processes (bench/clients.ts). See bench/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startRelayProcess } from '../e2e/harness.ts'
import { pollUntil, relayHealth, relayMetrics, sleep } from './seed.ts'

/** Relay flags for the Node-side benchmarks: no limit below what the bench itself does. */
export const RAISED_LIMITS = [
  '--max-connections', '2000', '--max-connections-per-ip', '2000', '--max-reservations', '2000',
  '--pushes-per-minute', '100000', '--dht-requests-per-minute', '100000', '--syncs-per-minute', '10000'
]

const CLIENTS = fileURLToPath(new URL('./clients.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface CapacityRound {
  clients: number
  workers: number
  /** Relay connections per /health once all clients reported ready (after waiting up to 15 s for >= N). */
  held: number
  /** Clients whose own relay connection was still open when asked, after the RSS reading. */
  heldByClients: number
  failedClients: number
  /** From spawning the workers until every worker reported ready. */
  connectMs: number
  rssBeforeBytes: number
  rssWithClientsBytes: number
  /** (rssWithClients - rssBefore) / held. */
  rssPerConnectionBytes: number
  /** roomkv_connections{transport="websockets"} with the clients connected. */
  wsConnectionsMetric: number
  /** /health ok after the clients closed, and the connections left then. */
  healthyAfter: boolean
  connectionsAfter: number
  /** Sum of the workers' RSS (client side, not the relay). */
  workersRssBytes: number
  errors: Record<string, number>
  error?: string
}

interface Worker {
  child: ChildProcess
  ready: Promise<{ connected: number, failed: number, ms: number, rssBytes: number, errors: Record<string, number> }>
  messages: Array<Record<string, any>>
  next(type: string, timeout: number): Promise<Record<string, any>>
  exited: Promise<void>
}

const workers = new Set<ChildProcess>()
process.once('exit', () => { for (const child of workers) child.kill('SIGKILL') })

/** Kill every worker still running (used on errors and at the end of the bench). */
export function killWorkers (): void {
  for (const child of workers) child.kill('SIGKILL')
}

function startWorker (addr: string, count: number, concurrency: number): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', CLIENTS, addr, String(count), String(concurrency)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, DEBUG: '' }
  })
  workers.add(child)
  const exited = new Promise<void>(resolve => child.once('exit', () => { workers.delete(child); resolve() }))
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
  const messages: Array<Record<string, any>> = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      messages.push(JSON.parse(line))
      for (const w of waiters) w()
    } catch {}
  })
  const next = async (type: string, timeout: number): Promise<Record<string, any>> => {
    const seen = messages.length
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = messages.slice(seen).find(m => m.type === type) ?? (type === 'ready' ? messages.find(m => m.type === 'ready') : undefined)
        if (found != null) { done(); resolve(found) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`clients worker: no "${type}" in ${timeout} ms${stderr !== '' ? `; stderr: ${stderr}` : ''}`)) }, timeout)
      const onExit = (): void => { done(); reject(new Error(`clients worker exited before "${type}"${stderr !== '' ? `; stderr: ${stderr}` : ''}`)) }
      const done = (): void => { clearTimeout(timer); waiters.delete(check); child.off('exit', onExit) }
      waiters.add(check)
      child.once('exit', onExit)
      check()
    })
  }
  return { child, messages, next, exited, ready: next('ready', 180_000) as any }
}

async function stopWorker (worker: Worker, timeout = 30_000): Promise<void> {
  if (worker.child.exitCode != null || worker.child.signalCode != null) return
  worker.child.stdin?.write('close\n')
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), timeout)
  await worker.exited
  clearTimeout(timer)
}

const rssOf = (metrics: Map<string, number>): number => metrics.get('process_resident_memory_bytes') ?? Number.NaN

/** One round: fresh relay, N clients over `workerCount` processes, measure, close, check health. */
export async function capacityRound (clients: number, workerCount: number, log: (line: string) => void): Promise<CapacityRound> {
  const relay = await startRelayProcess({ args: RAISED_LIMITS })
  const running: Worker[] = []
  const round: CapacityRound = {
    clients,
    workers: workerCount,
    held: 0,
    heldByClients: 0,
    failedClients: 0,
    connectMs: Number.NaN,
    rssBeforeBytes: Number.NaN,
    rssWithClientsBytes: Number.NaN,
    rssPerConnectionBytes: Number.NaN,
    wsConnectionsMetric: Number.NaN,
    healthyAfter: false,
    connectionsAfter: Number.NaN,
    workersRssBytes: 0,
    errors: {}
  }
  try {
    const health = await relayHealth(relay.url)
    const addr = (health.multiaddrs as string[]).find(ma => ma.includes('/ws/'))
    if (addr == null) throw new Error(`relay announces no ws multiaddr: ${JSON.stringify(health.multiaddrs)}`)
    await sleep(2000) // let the fresh process settle before the baseline
    round.rssBeforeBytes = rssOf(await relayMetrics(relay.url))

    const started = performance.now()
    // libp2p accepts 10 pending (not yet upgraded) inbound connections at once: stay below.
    const perWorker = Array.from({ length: workerCount }, (_, i) => Math.floor(clients / workerCount) + (i < clients % workerCount ? 1 : 0))
    for (const count of perWorker) running.push(startWorker(addr, count, 2))
    const ready = await Promise.all(running.map(async w => await w.ready))
    round.connectMs = Math.round(performance.now() - started)
    round.failedClients = ready.reduce((sum, r) => sum + r.failed, 0)
    round.workersRssBytes = ready.reduce((sum, r) => sum + r.rssBytes, 0)
    for (const r of ready) for (const [k, v] of Object.entries(r.errors)) round.errors[k] = (round.errors[k] ?? 0) + v
    let connections = 0
    await pollUntil(async () => (connections = (await relayHealth(relay.url)).connections) >= clients, 15_000, 250)
    round.held = connections
    await sleep(2000) // let identify and the last upgrades finish
    const metrics = await relayMetrics(relay.url)
    round.rssWithClientsBytes = rssOf(metrics)
    round.wsConnectionsMetric = metrics.get('roomkv_connections{transport="websockets"}') ?? 0
    round.held = Math.min(round.held, (await relayHealth(relay.url)).connections)
    round.rssPerConnectionBytes = round.held > 0 ? Math.round((round.rssWithClientsBytes - round.rssBeforeBytes) / round.held) : Number.NaN
    const counts = await Promise.all(running.map(async w => { w.child.stdin?.write('count\n'); return await w.next('held', 15_000) }))
    round.heldByClients = counts.reduce((sum, c) => sum + Number(c.connected), 0)
    for (const c of counts) for (const [k, v] of Object.entries(c.errors ?? {})) round.errors[k] = Math.max(round.errors[k] ?? 0, Number(v))
    log(`capacity ${clients}: relay holds ${round.held} connections (clients see ${round.heldByClients}), connected in ${round.connectMs} ms, RSS ${mib(round.rssBeforeBytes)} -> ${mib(round.rssWithClientsBytes)} MiB`)

    await Promise.all(running.map(async w => { await stopWorker(w) }))
    let after = Number.NaN
    await pollUntil(async () => (after = (await relayHealth(relay.url)).connections) === 0, 20_000, 250)
    const final = await relayHealth(relay.url)
    round.connectionsAfter = final.connections
    round.healthyAfter = final.ok
  } catch (err: any) {
    round.error = err.message
    log(`capacity ${clients} failed: ${err.message}`)
  } finally {
    for (const w of running) w.child.kill('SIGKILL')
    await Promise.all(running.map(async w => { await w.exited }))
    await relay.stop()
  }
  return round
}

export const mib = (bytes: number): string => Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(1) : '-'
