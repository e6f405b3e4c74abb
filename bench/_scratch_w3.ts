import { startRelayProcess, stopAll } from '../e2e/harness.ts'
import { relayHealth } from './seed.ts'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { RAISED_LIMITS } from './capacity.ts'
process.on('uncaughtException', (e) => console.log('UNCAUGHT', e.name))
const relay = await startRelayProcess({ args: RAISED_LIMITS })
const monitor = process.argv[2] === 'on'
try {
  const h = await relayHealth(relay.url)
  const addr = multiaddr((h.multiaddrs as string[]).find(m => m.includes('/ws/'))!)
  const nodes = []
  let closes = 0
  for (let i = 0; i < 10; i++) {
    const node = await createLibp2p({ connectionMonitor: { enabled: monitor }, transports: [webSockets()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify(), ping: ping() } })
    node.addEventListener('connection:close', () => { closes++ })
    await node.dial(addr)
    nodes.push(node)
  }
  for (let s = 0; s < 9; s++) { await new Promise(r => setTimeout(r, 5000)); console.log((s + 1) * 5, 's relay conns', (await relayHealth(relay.url)).connections, 'client closes', closes) }
} finally { await stopAll(); process.exit(0) }
