/**
 * Prometheus metrics for `GET /metrics`, with prom-client. libp2p's own
 * metrics (streams and bytes per protocol, including relayed circuit bytes
 * on the hop/stop protocols, DHT internals) come from
 * @libp2p/prometheus-metrics into the same registry; these are roomkv's.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { Connection } from '@libp2p/interface'

export interface RelayMetrics {
  registry: Registry
  recordsAccepted: Counter
  recordsRejected: Counter<'reason'>
  requestsServed: Counter<'kind'>
  requestsRefused: Counter<'kind'>
  fanoutForwarded: Counter
  fanoutDropped: Counter
  relayHopStreams: Counter
  /** DHT provider records evicted by the per-peer or total cap. */
  dhtProvidersEvicted: Counter<'reason'>
  /** Sockets on the libp2p port refused or dropped before becoming a connection. */
  transportRefused: Counter<'reason'>
}

export interface RelayGauges {
  connections(): Connection[]
  /** The relay listens with TLS (wss). */
  tls: boolean
  reservations(): number
  dhtRoutingTableSize(): number
  /** DHT provider records held. */
  dhtProviderRecords?(): number
}

export interface TransportGauges {
  /** Sockets open on the libp2p port, upgraded or not. */
  p2pSockets(): number
  /** Connections in the libp2p upgrade (Noise, yamux) now. */
  pendingConnections(): number
}

export function transportOf (connection: Connection, tls = false): string {
  const addr = connection.remoteAddr.toString()
  // Inbound WebSocket connections are labelled /ws even on a TLS listener.
  if (tls && connection.direction === 'inbound' && addr.endsWith('/ws') && !addr.includes('/p2p-circuit')) return 'websockets-tls'
  if (addr.includes('/p2p-circuit')) return addr.includes('/webrtc') ? 'webrtc' : 'circuit'
  if (addr.includes('/webrtc')) return 'webrtc'
  if (addr.includes('/tls/ws') || addr.includes('/wss')) return 'websockets-tls'
  if (addr.includes('/ws')) return 'websockets'
  return 'other'
}

export function createRelayMetrics (registry = new Registry()): RelayMetrics {
  return {
    registry,
    recordsAccepted: new Counter({ name: 'roomkv_records_accepted_total', help: 'Records that became the newest version of their key', registers: [registry] }),
    recordsRejected: new Counter({ name: 'roomkv_records_rejected_total', help: 'Records and requests refused, by error code', labelNames: ['reason'], registers: [registry] }),
    requestsServed: new Counter({ name: 'roomkv_requests_served_total', help: 'Requests served: push (live update), sync (catch-up session), dht_put, dht_get (record reads/writes through the DHT)', labelNames: ['kind'], registers: [registry] }),
    fanoutForwarded: new Counter({ name: 'roomkv_fanout_forwarded_total', help: 'Records forwarded to room members over their sessions', registers: [registry] }),
    fanoutDropped: new Counter({ name: 'roomkv_fanout_dropped_total', help: 'Records not forwarded to a member that was behind (it catches up by sync)', registers: [registry] }),
    requestsRefused: new Counter({ name: 'roomkv_requests_refused_total', help: 'Requests refused by a rate or connection limit', labelNames: ['kind'], registers: [registry] }),
    relayHopStreams: new Counter({ name: 'roomkv_relay_hop_streams_total', help: 'Circuit-relay hop streams (reservations and relayed circuits) opened', registers: [registry] }),
    dhtProvidersEvicted: new Counter({ name: 'roomkv_dht_providers_evicted_total', help: 'DHT provider records evicted: per_peer (a provider over its cap), total (the store over its cap)', labelNames: ['reason'], registers: [registry] }),
    transportRefused: new Counter({
      name: 'roomkv_transport_refused_total',
      help: 'Sockets on the libp2p port refused or dropped before becoming a connection: sockets_per_ip, pending_per_ip, pending_total, handshake_timeout, invalid_websocket',
      labelNames: ['reason'],
      registers: [registry]
    })
  }
}

/** Gauges read at scrape time, so they cost nothing between scrapes. */
export function registerRelayGauges (metrics: RelayMetrics, gauges: RelayGauges): void {
  const { registry } = metrics
  new Gauge({ // eslint-disable-line no-new
    name: 'roomkv_connections',
    help: 'Open connections by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect () {
      this.reset()
      for (const connection of gauges.connections()) this.inc({ transport: transportOf(connection, gauges.tls) })
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'roomkv_reservations',
    help: 'Circuit-relay reservations held',
    registers: [registry],
    collect () { this.set(gauges.reservations()) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'roomkv_dht_routing_table_peers',
    help: 'Peers in the DHT routing table',
    registers: [registry],
    collect () { this.set(gauges.dhtRoutingTableSize()) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'roomkv_dht_provider_records',
    help: 'DHT provider records held (bounded by --dht-providers-per-peer and --dht-max-providers)',
    registers: [registry],
    collect () { this.set(gauges.dhtProviderRecords?.() ?? 0) }
  })
}

/** The libp2p port's sockets, read at scrape time from the socket guard. */
export function registerTransportGauges (metrics: RelayMetrics, gauges: TransportGauges): void {
  const { registry } = metrics
  new Gauge({ // eslint-disable-line no-new
    name: 'roomkv_p2p_sockets',
    help: 'Sockets open on the libp2p port, upgraded or not',
    registers: [registry],
    collect () { this.set(gauges.p2pSockets()) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'roomkv_pending_connections',
    help: 'Connections in the libp2p upgrade (Noise, yamux) now',
    registers: [registry],
    collect () { this.set(gauges.pendingConnections()) }
  })
}

export interface StorageGauges {
  /** Totals the record storage keeps (exact, in memory). */
  usage(): { records: number, bytes: number, rooms: number }
}

/**
 * The record database: what it holds (read at scrape time) and a counter of
 * rows that could not be read back. Returns the counter for the storage's
 * `onCorrupt` hook.
 */
export function registerStorageMetrics (metrics: RelayMetrics, gauges: StorageGauges): Counter {
  const { registry } = metrics
  const corrupt = new Counter({ name: 'roomkv_corrupt_records_total', help: 'Stored records that could not be read back (reported, then treated as absent)', registers: [registry] })
  const kinds = ['records', 'bytes', 'rooms'] as const
  for (const kind of kinds) {
    new Gauge({ // eslint-disable-line no-new
      name: `roomkv_storage_${kind}`,
      help: { records: 'Keys stored, all rooms', bytes: 'Record bytes stored, all rooms (what --max-disk-bytes counts)', rooms: 'Rooms with stored keys (what --max-rooms counts)' }[kind],
      registers: [registry],
      collect () { this.set(gauges.usage()[kind]) }
    })
  }
  return corrupt
}
