/**
 * Starts a whole relay (identity, stores, libp2p node, HTTP) from a config
 * and stops it cleanly. Used by the CLI, the tests and the benchmarks.
 */
import { join, resolve } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { FsDatastore } from 'datastore-fs'
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { dhtDatastore } from '../shared/dht-datastore.ts'
import { createRecordStore, type RecordStore } from '../shared/record-store.ts'
import { second } from '../shared/constants.ts'
import type { RelayConfig } from './config.ts'
import { startRelayHttp } from './http.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createRelayNode, type RelayServices } from './node.ts'
import { fsRecordStorage } from './record-storage.ts'

const log = logger('roomkv:relay')

export interface Relay {
  node: Libp2p<RelayServices>
  store: RecordStore
  /** http://host:port of the web app. */
  url: string
  port: number
  peerId: string
  multiaddrs(): string[]
  stop(): Promise<void>
}

export async function startRelay (config: RelayConfig): Promise<Relay> {
  const dataDir = resolve(config.dataDir)
  await mkdir(dataDir, { recursive: true })
  const privateKey = await loadOrCreateIdentity(dataDir)
  const store = createRecordStore(await fsRecordStorage(join(dataDir, 'records')))
  const libp2pStore = new FsDatastore(join(dataDir, 'libp2p'))
  await libp2pStore.open()
  const rejected = new Map<string, number>()
  const node = await createRelayNode({
    config,
    privateKey,
    datastore: dhtDatastore(libp2pStore, store),
    rooms: {
      store,
      onRejected: (code) => rejected.set(code, (rejected.get(code) ?? 0) + 1)
    }
  })
  const multiaddrs = (): string[] => node.getMultiaddrs().map(ma => ma.toString())
  const started = Date.now()

  // Several relays form one DHT: keep dialling the others, they may start later or restart.
  const dialBootstrap = (): void => {
    for (const addr of config.bootstrap) {
      const ma = multiaddr(addr)
      const peer = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (peer != null && node.getConnections().some(c => c.remotePeer.toString() === peer)) continue
      node.dial(ma, { signal: AbortSignal.timeout(10 * second) }).then(
        () => log('connected to bootstrap relay %s', addr),
        (err) => log('bootstrap relay %s unreachable: %s', addr, err.message)
      )
    }
  }
  dialBootstrap()
  const bootstrapTimer = config.bootstrap.length > 0 ? setInterval(dialBootstrap, 30 * second) : undefined

  const http = await startRelayHttp({
    host: config.host,
    port: config.port,
    webDir: resolve(config.webDir),
    health: () => ({
      ok: node.status === 'started',
      status: node.status,
      peerId: node.peerId.toString(),
      multiaddrs: multiaddrs(),
      connections: node.getConnections().length,
      reservations: node.services.relay.reservations.size,
      dhtMode: node.services.dht.getMode(),
      rejectedRecords: Object.fromEntries(rejected),
      uptimeSeconds: Math.round((Date.now() - started) / 1000)
    }),
    bootstrap: () => ({
      peerId: node.peerId.toString(),
      multiaddrs: multiaddrs(),
      p2pPort: Number(multiaddrs()[0]?.match(/\/tcp\/(\d+)/)?.[1] ?? config.p2pPort),
      relays: config.bootstrap,
      iceServers: config.iceServers.map(urls => ({ urls }))
    })
  })
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${http.port}`
  log('relay %p up at %s', node.peerId, url)

  let stopping: Promise<void> | undefined
  return {
    node,
    store,
    url,
    port: http.port,
    peerId: node.peerId.toString(),
    multiaddrs,
    stop () {
      stopping ??= (async () => {
        clearInterval(bootstrapTimer)
        http.server.closeAllConnections()
        await new Promise<void>(resolve => http.server.close(() => resolve()))
        await node.stop()
        await store.close()
        await libp2pStore.close()
      })()
      return stopping
    }
  }
}
