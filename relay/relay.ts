/**
 * Starts a whole relay (identity, stores, libp2p node, HTTP) from a config
 * and stops it cleanly. Used by the CLI, the tests and the benchmarks.
 */
import { join, resolve } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { MemoryDatastore } from 'datastore-core'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { dhtDatastore } from '../shared/dht-datastore.ts'
import { createRecordStore, type RecordStore } from '../shared/record-store.ts'
import { second } from '../shared/constants.ts'
import { errorCode, RecordTooLargeError } from '../shared/errors.ts'
import type { RelayConfig } from './config.ts'
import { startRelayHttp } from './http.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createRelayLog, type RelayLog } from './log.ts'
import { createRelayMetrics, registerRelayGauges, registerStorageMetrics } from './metrics.ts'
import { connectionIp, createRelayNode, type RelayServices } from './node.ts'
import { createAdmission } from '../shared/protocol/admission.ts'
import { boundedProviderStore } from './dht-guard.ts'
import { sqliteRecordStorage } from './sqlite-storage.ts'
import { createRoomFanout } from './room-fanout.ts'
import { createFederation } from './federation.ts'

export interface Relay {
  node: Libp2p<RelayServices>
  store: RecordStore
  /** http://host:port of the web app. */
  url: string
  port: number
  peerId: string
  multiaddrs(): string[]
  log: RelayLog
  stop(): Promise<void>
}

export async function startRelay (config: RelayConfig, log: RelayLog = createRelayLog({ format: config.logFormat, level: config.logLevel })): Promise<Relay> {
  const dataDir = resolve(config.dataDir)
  await mkdir(dataDir, { recursive: true })
  const privateKey = await loadOrCreateIdentity(dataDir)
  const metrics = createRelayMetrics()
  // Gauges read the storage at scrape time, after it is open.
  const corruptRecords = registerStorageMetrics(metrics, { usage: () => storage.usage() })
  const storage = await sqliteRecordStorage({
    path: join(dataDir, 'records.sqlite'),
    // Data dirs of relays before the database: imported once, then renamed.
    migrateFrom: join(dataDir, 'records'),
    maxRoomRecords: config.maxRoomRecords,
    maxRoomBytes: config.maxRoomBytes,
    maxDiskBytes: config.maxDiskBytes,
    maxRooms: config.maxRooms,
    log,
    onCorrupt: () => { corruptRecords.inc() }
  })
  // Stored bytes that no longer decode are hidden (and replaced by the next
  // merge of the key); say so rather than skip them silently.
  const fullStore = createRecordStore(storage, {
    onCorrupt: (bytes) => {
      corruptRecords.inc()
      log.warn('stored record does not decode; hidden until the key is written again', { bytes: bytes.length })
    }
  })
  const tooLarge = (bytes: Uint8Array): Error => new RecordTooLargeError(`Record is ${bytes.length} bytes; this relay keeps at most ${config.maxRecordBytes}`)
  // This relay's own record size cap (at most the protocol's), before any parsing.
  const store: RecordStore = {
    ...fullStore,
    merge: async (bytes, options) => {
      if (bytes.length > config.maxRecordBytes) throw tooLarge(bytes)
      return fullStore.merge(bytes, options)
    },
    mergeMany: async (records, options) => {
      const sizes = records.map(r => (r instanceof Uint8Array ? r : r.bytes).length)
      const merged = await fullStore.mergeMany(records.filter((_, i) => sizes[i] <= config.maxRecordBytes), options)
      let next = 0
      return records.map((r, i) => sizes[i] > config.maxRecordBytes ? tooLarge(r instanceof Uint8Array ? r : r.bytes) : merged[next++])
    }
  }
  // libp2p's own state (peer store, provider records) stays in memory: the
  // peer store writes on every new stream, and on disk those writes queued
  // behind record writes long enough for pings to time out and connections
  // to drop. Identity and room records are what must survive; members
  // re-announce provider records every few minutes.
  // Provider records (anyone's ADD_PROVIDER) are bounded per peer and in total.
  const libp2pStore = boundedProviderStore(new MemoryDatastore(), {
    maxPerPeer: config.dhtProvidersPerPeer,
    maxTotal: config.dhtMaxProviders,
    onEvicted: (reason) => { metrics.dhtProvidersEvicted.inc({ reason }) }
  })
  const rejected = new Map<string, number>()
  const reject = (code: string, peer?: string): void => {
    rejected.set(code, (rejected.get(code) ?? 0) + 1)
    metrics.recordsRejected.inc({ reason: code })
    log.debug('rejected', { code, peer })
  }
  store.onRecord(() => { metrics.recordsAccepted.inc() })
  let running: Libp2p<RelayServices> | undefined
  const fanout = createRoomFanout({
    replication: () => running?.services.rooms.replication,
    log,
    onDropped: (n) => { metrics.fanoutDropped.inc(n) },
    onForwarded: (n) => { metrics.fanoutForwarded.inc(n) }
  })
  // Relays joined with --bootstrap become members of each other's rooms.
  const federation = createFederation({
    relays: config.bootstrap,
    replication: () => running?.services.rooms.replication,
    sync: async (peer, roomId, signal) => running?.services.rooms.sync(peer, roomId, { signal }),
    connected: (peer) => running?.getConnections(peer).some(c => c.status === 'open') === true,
    log
  })
  const reads = createAdmission({
    unitsPerSecond: 4 * config.writeBytesPerSecond,
    burst: 4 * config.writeBurstBytes,
    maxWait: 10_000,
    ipOf: connectionIp,
    onLimited: (kind) => { metrics.requestsRefused.inc({ kind: kind === 'refused' ? 'sync_bytes' : 'sync_paced' }) }
  })
  // Write budget per peer and per IP, charged per record and per byte.
  const admission = createAdmission({
    unitsPerSecond: config.writeBytesPerSecond,
    burst: config.writeBurstBytes,
    ipOf: connectionIp,
    onLimited: (kind) => { metrics.requestsRefused.inc({ kind: kind === 'refused' ? 'write' : 'write_paced' }) }
  })
  const node = await createRelayNode({
    config,
    privateKey,
    metrics,
    log,
    // kad-dht validates DHT records before the datastore below sees them.
    onDhtRecordRejected: (code, peer) => { reject(code, peer) },
    datastore: dhtDatastore(libp2pStore, {
      ...store,
      // Records refused through the DHT are counted like pushed ones.
      merge: async (bytes, options) => {
        try {
          return await store.merge(bytes, options)
        } catch (err) {
          reject(errorCode(err))
          throw err
        }
      }
    }, { onRecord: (access) => { metrics.requestsServed.inc({ kind: access }) } }),
    rooms: {
      store,
      admit: admission.admit,
      // Catch-up bytes served, per peer and per IP: joining a 100,000-key room
      // (~40 MB) fits the burst; the same IP asking again and again is paced.
      admitRead: reads.admit,
      // A record that fails its signature check cost a verification: charge 16 KiB for it.
      penalize: (peer, connection, bad) => { admission.penalize(peer, connection, bad * 16 * 1024) },
      maxSessionsPerPeer: config.maxRoomsPerPeer,
      // Newcomers learn the room's members with the answer to their hello and dial at once.
      announceMembers: true,
      // Members signal their WebRTC dials through us (sealed: we only pass them on).
      passSignals: true,
      syncsPerMinute: config.syncsPerMinute,
      ipOf: connectionIp,
      onRejected: (code, peer) => { reject(code, peer.toString()) },
      onServed: (kind) => { metrics.requestsServed.inc({ kind }) },
      onPushed: (peer, roomId, records, delivered) => { fanout.forward(peer, roomId, records, delivered) },
      onRoomPeer: (peer, roomId) => { federation.onRoomPeer(peer, roomId) }
    }
  })
  running = node
  node.addEventListener('peer:connect', (evt) => { federation.onRelayConnected(evt.detail) })
  registerRelayGauges(metrics, {
    connections: () => node.getConnections(),
    tls: config.tlsCert !== '',
    reservations: () => node.services.relay.reservations.size,
    dhtRoutingTableSize: () => (node.services.dht as unknown as { routingTable?: { size: number } }).routingTable?.size ?? 0,
    dhtProviderRecords: () => libp2pStore.providerRecords
  })
  let storesOpen = true
  const multiaddrs = (): string[] => node.getMultiaddrs().map(ma => ma.toString())
  const started = Date.now()

  // Several relays form one DHT: keep dialling the others, they may start later or restart.
  const dialBootstrap = (): void => {
    for (const addr of config.bootstrap) {
      const ma = multiaddr(addr)
      const peer = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (peer != null && node.getConnections().some(c => c.remotePeer.toString() === peer)) continue
      node.dial(ma, { signal: AbortSignal.timeout(10 * second) }).then(
        () => { log.info('connected to bootstrap relay', { addr }) },
        (err) => { log.warn('bootstrap relay unreachable', { addr, error: err.message }) }
      )
    }
  }
  // TTL: reads hide expired versions at once; this takes them off the disk.
  const pruneTimer = setInterval(() => {
    store.prune().then(
      (dropped) => { if (dropped > 0) log.info('expired records removed', { dropped }) },
      (err) => { log.warn('pruning expired records failed', { error: err.message }) }
    )
  }, 10 * 60 * second)
  pruneTimer.unref()
  dialBootstrap()
  const bootstrapTimer = config.bootstrap.length > 0 ? setInterval(dialBootstrap, 30 * second) : undefined

  const http = await startRelayHttp({
    host: config.host,
    port: config.port,
    webDir: resolve(config.webDir),
    tls: config.tlsCert !== '' ? { cert: config.tlsCert, key: config.tlsKey } : undefined,
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    health: () => ({
      ok: node.status === 'started' && storesOpen,
      status: node.status,
      datastore: storesOpen ? 'open' : 'closed',
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
  const url = `${config.tlsCert !== '' ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${http.port}`

  let stopping: Promise<void> | undefined
  return {
    node,
    store,
    url,
    port: http.port,
    peerId: node.peerId.toString(),
    multiaddrs,
    log,
    stop () {
      stopping ??= (async () => {
        clearInterval(bootstrapTimer)
        clearInterval(pruneTimer)
        http.server.closeAllConnections()
        await new Promise<void>(resolve => http.server.close(() => resolve()))
        await node.stop()
        storesOpen = false
        await store.close()
      })()
      return stopping
    }
  }
}
