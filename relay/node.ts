/**
 * The relay's libp2p node: WebSockets listener (wss with --tls-*),
 * circuit-relay-v2 server, identify (+push), ping, the roomkv DHT in server
 * mode and the room protocols, all over one record store, with the limits
 * from the config applied at each layer.
 */
import { readFileSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, RELAY_V2_HOP_CODEC, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { KadDHT } from '@libp2p/kad-dht'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Datastore } from 'interface-datastore'
import type { Connection, MultiaddrConnection, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DHT_PROTOCOL, second } from '../shared/constants.ts'
import { forgetDhtPeer } from '../shared/dht-routing.ts'
import { RateLimitedError } from '../shared/errors.ts'
import { createRateLimiter } from '../shared/rate-limit.ts'
import type { RoomProtocol, RoomProtocolInit } from '../shared/protocol/room-protocol.ts'
import { CONNECTION_MONITOR, roomkvServices, YAMUX_OPTIONS } from '../shared/node-services.ts'
import { createDhtMessageGuard } from './dht-guard.ts'
import type { RelayConfig } from './config.ts'
import type { RelayLog } from './log.ts'
import { registerTransportGauges, type RelayMetrics } from './metrics.ts'
import { createSocketGuard } from './socket-guard.ts'

export type RelayServices = {
  identify: unknown
  identifyPush: unknown
  ping: unknown
  relay: CircuitRelayService
  dht: KadDHT
  rooms: RoomProtocol
}

export interface RelayNodeInit {
  config: RelayConfig
  privateKey: PrivateKey
  datastore: Datastore
  rooms: RoomProtocolInit
  metrics: RelayMetrics
  log: RelayLog
  /** Told about every DHT record (PUT_VALUE or GET answer) a validator or the message guard refuses, by error code. */
  onDhtRecordRejected?(code: string, peer?: string): void
}

/** The IP a connection comes from (limits are charged per address as well as per peer id). */
export function connectionIp (connection: Pick<Connection, 'remoteAddr'>): string | undefined {
  return ipOf(connection.remoteAddr)
}

export function ipOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
}

export async function createRelayNode ({ config, privateKey, datastore, rooms, metrics, log, onDhtRecordRejected }: RelayNodeInit): Promise<Libp2p<RelayServices>> {
  const tls = config.tlsCert !== ''
  let node: Libp2p<RelayServices> | undefined
  // Per-IP socket and pending-connection limits act in the (patched)
  // WebSockets listener, before libp2p's global pending counter.
  const guard = createSocketGuard({
    // Established connections hold a socket too: never refuse a socket the
    // connection limit would have allowed.
    maxSocketsPerIp: Math.max(config.maxSocketsPerIp, config.maxConnectionsPerIp + config.maxPendingPerIp),
    maxPendingPerIp: config.maxPendingPerIp,
    maxPending: config.maxPendingConnections,
    onRefused: (reason, ip) => {
      metrics.transportRefused.inc({ reason })
      log.debug('socket refused', { reason, ip })
    },
    onDropped: (reason, ip) => {
      metrics.transportRefused.inc({ reason })
      log.debug('socket dropped', { reason, ip })
    }
  })
  registerTransportGauges(metrics, { p2pSockets: () => guard.sockets(), pendingConnections: () => guard.pending() })
  const created = await createLibp2p({
    privateKey,
    datastore,
    addresses: {
      listen: [`/ip4/${config.host}/tcp/${config.p2pPort}/${tls ? 'tls/ws' : 'ws'}`],
      announce: config.announce
    },
    transports: [webSockets({
      ...(tls ? { https: { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } } : {}),
      maxPayload: config.maxWsMessageBytes,
      handshakeTimeout: config.handshakeTimeoutMs,
      socketGate: guard
    })],
    connectionEncrypters: [noise()],
    connectionMonitor: CONNECTION_MONITOR,
    streamMuxers: [yamux(YAMUX_OPTIONS)],
    connectionManager: {
      maxConnections: config.maxConnections,
      // libp2p's default (5 new connections per second per host) is about
      // bursts; the steady cap per address is --max-connections-per-ip.
      inboundConnectionThreshold: Math.max(5, Math.ceil(config.maxConnectionsPerIp / 4)),
      // The socket guard enforces the same cap first (and counts refusals);
      // this stays as libp2p's own backstop.
      maxIncomingPendingConnections: config.maxPendingConnections,
      // A silent peer holds a pending slot this long (libp2p default 10 s).
      inboundUpgradeTimeout: config.upgradeTimeoutMs
    },
    connectionGater: {
      denyInboundConnection: (maConn: MultiaddrConnection) => {
        const ip = ipOf(maConn.remoteAddr)
        if (ip == null || node == null) return false
        const open = node.getConnections().filter(c => ipOf(c.remoteAddr) === ip).length
        if (open < config.maxConnectionsPerIp) return false
        metrics.requestsRefused.inc({ kind: 'connection_per_ip' })
        log.warn('connection refused: per-IP limit', { ip, open, limit: config.maxConnectionsPerIp })
        return true
      }
    },
    metrics: prometheusMetrics({ registry: metrics.registry, collectDefaultMetrics: true }),
    services: {
      ...roomkvServices(rooms, {
        // Limits per DHT message, per peer and per IP (a stream carries any
        // number of messages; the middleware below only counts streams).
        onInboundMessage: createDhtMessageGuard({
          perPeerPerMinute: config.dhtMessagesPerMinute,
          perPeerBurst: config.dhtMessageBurst,
          perIpPerMinute: config.dhtMessagesPerMinutePerIp,
          perIpBurst: config.dhtMessageBurstPerIp,
          ipOf: connectionIp,
          onRefused: (reason, connection, error) => {
            if (reason === 'namespace') onDhtRecordRejected?.((error as { code?: string }).code ?? error.name, connection.remotePeer.toString())
            else metrics.requestsRefused.inc({ kind: reason === 'provider_key' ? 'dht_provider_key' : 'dht' })
            log.debug('DHT message refused', { reason, peer: connection.remotePeer.toString(), ip: ipOf(connection.remoteAddr) })
          }
        }),
        onRejected: (code) => { onDhtRecordRejected?.(code) }
      }),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: config.maxReservations,
          reservationTtl: 30 * 60 * second,
          // Tabs need a circuit only for the WebRTC handshake.
          defaultDurationLimit: config.circuitDuration * second,
          defaultDataLimit: BigInt(config.circuitBytes)
        }
      })
    }
  })
  node = created
  // A reservation slot is otherwise held until it expires, long after the tab
  // is gone; free it as soon as the peer disconnects.
  created.addEventListener('peer:disconnect', (evt) => {
    created.services.relay.reservations.delete(evt.detail)
    forgetDhtPeer(created.services.dht, evt.detail)
  })
  const dhtLimit = createRateLimiter({ perMinute: config.dhtRequestsPerMinute, burst: Math.max(20, Math.ceil(config.dhtRequestsPerMinute / 6)) })
  created.use(DHT_PROTOCOL, (stream, connection, next) => {
    if (dhtLimit.take(connection.remotePeer.toString())) {
      next(stream, connection)
      return
    }
    metrics.requestsRefused.inc({ kind: 'dht' })
    stream.abort(new RateLimitedError('DHT request rate exceeded'))
  })
  created.use(RELAY_V2_HOP_CODEC, (stream, connection, next) => {
    metrics.relayHopStreams.inc()
    next(stream, connection)
  })
  return created
}
