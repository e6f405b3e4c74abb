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
const relay = await startRelayProcess({ args: RAISED_LIMITS })
try {
  const h = await relayHealth(relay.url)
  const addr = multiaddr((h.multiaddrs as string[]).find(m => m.includes('/ws/'))!)
  for (let i = 0; i < 5; i++) {
    let t = performance.now()
    const node = await createLibp2p({ transports: [webSockets()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify(), ping: ping() } })
    const c = performance.now() - t; t = performance.now()
    await node.dial(addr)
    console.log('create', Math.round(c), 'dial', Math.round(performance.now() - t))
  }
} finally { await stopAll(); process.exit(0) }
