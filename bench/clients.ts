/**
 * Worker for the relay capacity benchmark (bench/capacity.ts):
 *
 *   node --import tsx bench/clients.ts <relay ws multiaddr> <dial concurrency>
 *
 * Opens minimal libp2p clients (WebSockets + noise + yamux + identify +
 * ping; no DHT, no room protocols), each with its own peer id and its own
 * connection to the relay, and holds them. Commands on stdin, one a line:
 *
 *   open <k>   open k more clients   -> {"type":"ready","connected":n,"failed":n,"ms":n,"rssBytes":n,"errors":{...}}
 *   count      -> {"type":"held","connected":n}: clients whose relay connection is open
 *   close      stop every client and exit -> {"type":"closed","ms":n}
 *
 * Also {"type":"started"} once loaded and {"type":"progress",...} while
 * opening. If stdin ends (the bench died) or the worker outlives
 * its deadline, it exits at once: it never outlives the bench.
 */
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'

const [addr, concurrencyArg] = process.argv.slice(2)
const concurrency = Math.max(1, Number(concurrencyArg ?? 2))
const DIAL_ATTEMPTS = 5
const DIAL_TIMEOUT = 20_000
const LIFETIME = 8 * 60_000

if (addr == null) {
  process.stderr.write('usage: clients.ts <relay ws multiaddr> [dial concurrency]\n')
  process.exit(2)
}

const send = (message: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(message)}\n`) }
const nodes: Libp2p[] = []
const errors = new Map<string, number>()
let stopping = false

// Never outlive the bench.
setTimeout(() => { process.exit(3) }, LIFETIME).unref()
process.stdin.on('end', () => { process.exit(0) })
// libp2p may report errors from event listeners; a worker only counts them.
process.on('uncaughtException', (err) => { errors.set(`uncaught: ${err.name}`, (errors.get(`uncaught: ${err.name}`) ?? 0) + 1) })
process.on('unhandledRejection', (err: any) => { errors.set(`unhandled: ${err?.name}`, (errors.get(`unhandled: ${err?.name}`) ?? 0) + 1) })

const relay = multiaddr(addr)
const relayPeer = relay.getComponents().find(c => c.name === 'p2p')?.value

async function openClient (): Promise<boolean> {
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The relay pings every client (its own connection monitor); the clients
    // need not ping back: it only costs CPU in the worker.
    connectionMonitor: { enabled: false },
    services: { identify: identify(), ping: ping() }
  })
  nodes.push(node)
  for (let attempt = 1; attempt <= DIAL_ATTEMPTS && !stopping; attempt++) {
    try {
      await node.dial(relay, { signal: AbortSignal.timeout(DIAL_TIMEOUT) })
      return true
    } catch (err: any) {
      const name = `dial: ${err.name ?? 'Error'}`
      errors.set(name, (errors.get(name) ?? 0) + 1)
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
  return false
}

const held = (): number => nodes.filter(n => n.getConnections().some(c => c.remotePeer.toString() === relayPeer && c.status === 'open')).length

let connected = 0
let failed = 0

/** Open `count` more clients, `concurrency` dials at a time. */
async function openMore (count: number): Promise<void> {
  const started = performance.now()
  let next = 0
  const progress = setInterval(() => { send({ type: 'progress', connected, failed }) }, 2000)
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && !stopping) {
      next++
      if (await openClient().catch(() => false)) connected++
      else failed++
    }
  }))
  clearInterval(progress)
  send({ type: 'ready', connected, failed, ms: Math.round(performance.now() - started), rssBytes: process.memoryUsage().rss, errors: Object.fromEntries(errors) })
}

send({ type: 'started' })
const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const [command, arg] = line.trim().split(/\s+/)
  if (command === 'open') await openMore(Number(arg))
  if (command === 'count') send({ type: 'held', connected: held(), errors: Object.fromEntries(errors) })
  if (command === 'close') {
    stopping = true
    const t0 = performance.now()
    // Stop in small groups: closing 250 nodes at once floods the relay with FINs at the same instant.
    for (let i = 0; i < nodes.length; i += 50) {
      await Promise.allSettled(nodes.slice(i, i + 50).map(async n => { await n.stop() }))
    }
    send({ type: 'closed', ms: Math.round(performance.now() - t0) })
    process.exit(0)
  }
}
