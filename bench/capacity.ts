/**
 * Relay capacity: how many concurrent client connections one relay process
 * holds and what they cost in resident memory. One fresh relay (raised
 * limits); minimal libp2p clients spread over worker processes
 * (bench/clients.ts) are added in steps up to each level. See
 * bench/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startRelayProcess } from '../e2e/harness.ts'
import { pollUntil, relayHealth, relayMetrics, sleep } from './seed.ts'

/** Relay flags for the Node-side benchmarks: no limit below what the bench itself does. */
export const RAISED_LIMITS = [
  '--max-connections', '2000', '--max-connections-per-ip', '2000', '--max-reservations', '2000',
  '--write-bytes-per-second', '1073741824', '--write-burst-bytes', '1073741824', '--dht-requests-per-minute', '100000', '--syncs-per-minute', '10000'
]

const CLIENTS = fileURLToPath(new URL('./clients.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface CapacityLevel {
  clients: number
  /** Relay connections per /health at this level (after waiting up to 15 s for >= clients, then 2 s to settle). */
  held: number
  /** Clients whose own relay connection was open when asked, right after the RSS reading. */
  heldByClients: number
  /** Clients that could not connect in 5 attempts (cumulative). */
  failedClients: number
  /** Time to open this level's additional clients. */
  connectMs: number
  rssBytes: number
  /** (rss - rssBefore) / held. */
  rssPerConnectionBytes: number
  /** roomkv_connections{transport="websockets"} at this level. */
  wsConnectionsMetric: number
}

export interface CapacityResult {
  workers: number
  method: string
  rssBeforeBytes: number
  levels: CapacityLevel[]
  /** /health ok after every client closed, and the connections left then. */
  healthyAfter: boolean
  connectionsAfter: number
  closeMs: number
  /** Sum of the workers' RSS at the highest level (client side, not the relay). */
  workersRssBytes: number
  errors: Record<string, number>
  error?: string
}

interface Worker {
  child: ChildProcess
  next(type: string, timeout: number): Promise<Record<string, any>>
  command(line: string, reply: string, timeout: number): Promise<Record<string, any>>
  exited: Promise<void>
}

const workers = new Set<ChildProcess>()
process.once('exit', () => { for (const child of workers) child.kill('SIGKILL') })

/** Kill every worker still running (used on errors and at the end of the bench). */
export function killWorkers (): void {
  for (const child of workers) child.kill('SIGKILL')
}

function startWorker (addr: string, concurrency: number): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', CLIENTS, addr, String(concurrency)], {
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
      for (const w of [...waiters]) w()
    } catch {}
  })
  let read = 0
  /** The next message of this type not yet consumed. */
  const next = async (type: string, timeout: number): Promise<Record<string, any>> => {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const i = messages.findIndex((m, j) => j >= read && m.type === type)
        if (i >= 0) { read = i + 1; done(); resolve(messages[i]) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`clients worker: no "${type}" in ${timeout} ms${stderr !== '' ? `; stderr: ${stderr}` : ''}`)) }, timeout)
      const onExit = (): void => { done(); reject(new Error(`clients worker exited before "${type}"${stderr !== '' ? `; stderr: ${stderr}` : ''}`)) }
      const done = (): void => { clearTimeout(timer); waiters.delete(check); child.off('exit', onExit) }
      waiters.add(check)
      child.once('exit', onExit)
      check()
    })
  }
  const command = async (line: string, reply: string, timeout: number): Promise<Record<string, any>> => {
    child.stdin?.write(`${line}\n`)
    return next(reply, timeout)
  }
  return { child, next, command, exited }
}

async function stopWorker (worker: Worker, timeout = 30_000): Promise<number> {
  if (worker.child.exitCode != null || worker.child.signalCode != null) return 0
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), timeout)
  const closed = await worker.command('close', 'closed', timeout).catch(() => ({ ms: Number.NaN }))
  await worker.exited
  clearTimeout(timer)
  return Number(closed.ms)
}

const rssOf = (metrics: Map<string, number>): number => metrics.get('process_resident_memory_bytes') ?? Number.NaN

/** Split `n` over `parts` as evenly as possible. */
const split = (n: number, parts: number): number[] => Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0))

/**
 * One fresh relay with raised limits; clients are added in steps up to each
 * level (so 1000 clients are opened once, not 100 + 500 + 1000 times), and
 * at each level the relay's connections and RSS are read. Then every client
 * closes and the relay must still be healthy.
 */
export async function relayCapacity (levels: number[], workerCount: number, log: (line: string) => void, deadline: number): Promise<CapacityResult> {
  const relay = await startRelayProcess({ args: RAISED_LIMITS })
  const running: Worker[] = []
  const result: CapacityResult = {
    workers: workerCount,
    method: `one fresh relay process (${RAISED_LIMITS.join(' ')}); minimal libp2p clients (WebSockets + noise + yamux + identify + ping, no DHT, connection monitor off on the client side) in ${workerCount} worker processes (bench/clients.ts), 2 dials in flight per worker, up to 5 attempts per client; clients added in steps up to each level; relay RSS = process_resident_memory_bytes from /metrics, held = /health connections`,
    rssBeforeBytes: Number.NaN,
    levels: [],
    healthyAfter: false,
    connectionsAfter: Number.NaN,
    closeMs: Number.NaN,
    workersRssBytes: 0,
    errors: {}
  }
  try {
    const health = await relayHealth(relay.url)
    const addr = (health.multiaddrs as string[]).find(ma => ma.includes('/ws/'))
    if (addr == null) throw new Error(`relay announces no ws multiaddr: ${JSON.stringify(health.multiaddrs)}`)
    // libp2p accepts 10 pending (not yet upgraded) inbound connections at once: stay below.
    for (let i = 0; i < workerCount; i++) running.push(startWorker(addr, 2))
    await Promise.all(running.map(async w => await w.next('started', 60_000)))
    await sleep(2000) // let the fresh process settle before the baseline
    result.rssBeforeBytes = rssOf(await relayMetrics(relay.url))

    let open = 0
    for (const level of levels) {
      if (Date.now() > deadline) {
        log(`capacity: skipping ${level} clients (time budget)`)
        break
      }
      const started = performance.now()
      const parts = split(level - open, workerCount)
      const ready = await Promise.all(running.map(async (w, i) => await w.command(`open ${parts[i]}`, 'ready', 240_000)))
      open = level
      const connectMs = Math.round(performance.now() - started)
      let connections = 0
      await pollUntil(async () => (connections = (await relayHealth(relay.url)).connections) >= level, 15_000, 250)
      await sleep(2000) // let identify and the last upgrades finish
      const metrics = await relayMetrics(relay.url)
      const rssBytes = rssOf(metrics)
      const held = Math.min(connections, (await relayHealth(relay.url)).connections)
      const counts = await Promise.all(running.map(async w => await w.command('count', 'held', 30_000)))
      result.workersRssBytes = ready.reduce((sum, r) => sum + Number(r.rssBytes), 0)
      for (const r of counts) for (const [k, v] of Object.entries(r.errors ?? {})) result.errors[k] = Math.max(result.errors[k] ?? 0, Number(v))
      const row: CapacityLevel = {
        clients: level,
        held,
        heldByClients: counts.reduce((sum, c) => sum + Number(c.connected), 0),
        failedClients: ready.reduce((sum, r) => sum + Number(r.failed), 0),
        connectMs,
        rssBytes,
        rssPerConnectionBytes: held > 0 ? Math.round((rssBytes - result.rssBeforeBytes) / held) : Number.NaN,
        wsConnectionsMetric: metrics.get('roomkv_connections{transport="websockets"}') ?? 0
      }
      result.levels.push(row)
      log(`capacity ${level}: relay holds ${row.held} (clients see ${row.heldByClients}, ${row.failedClients} failed), +${parts.reduce((a, b) => a + b, 0)} opened in ${connectMs} ms, relay RSS ${mib(result.rssBeforeBytes)} -> ${mib(rssBytes)} MiB (${(row.rssPerConnectionBytes / 1024).toFixed(0)} KiB/connection)`)
    }

    const t0 = performance.now()
    await Promise.all(running.map(async w => { await stopWorker(w) }))
    result.closeMs = Math.round(performance.now() - t0)
    await pollUntil(async () => (await relayHealth(relay.url)).connections === 0, 20_000, 250)
    const final = await relayHealth(relay.url)
    result.connectionsAfter = final.connections
    result.healthyAfter = final.ok
    log(`capacity: clients closed in ${result.closeMs} ms; relay ${final.ok ? 'healthy' : 'NOT healthy'}, ${final.connections} connections left`)
  } catch (err: any) {
    result.error = err.message
    log(`capacity failed: ${err.message}`)
  } finally {
    for (const w of running) w.child.kill('SIGKILL')
    await Promise.all(running.map(async w => { await w.exited }))
    await relay.stop()
  }
  return result
}

export const mib = (bytes: number): string => Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(1) : '-'
