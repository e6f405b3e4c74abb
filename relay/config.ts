/**
 * Relay configuration: flags, environment variables and their defaults, in
 * one table so `--help`, validation and docs cannot drift apart.
 */
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { MAX_RECORD_BYTES } from '../shared/constants.ts'
import { DEFAULT_MAX_DISK_BYTES, DEFAULT_MAX_ROOM_BYTES, DEFAULT_MAX_ROOM_RECORDS, DEFAULT_MAX_ROOMS } from './room-quota.ts'
import { DEFAULT_MAX_PENDING_PER_IP, DEFAULT_MAX_SOCKETS_PER_IP } from './socket-guard.ts'
import { DEFAULT_MAX_PROVIDERS, DEFAULT_PROVIDERS_PER_PEER } from './dht-guard.ts'

/** The package's own build, wherever the relay is started from (npx, systemd, a clone). */
const DEFAULT_WEB_DIR = fileURLToPath(new URL('../dist', import.meta.url))

export interface RelayConfig {
  /** HTTP port for the web app, /health and /roomkv.json. 0 = any free port. */
  port: number
  /** libp2p WebSockets port. 0 = any free port. */
  p2pPort: number
  /** Interface to bind both listeners to. */
  host: string
  /** Identity key and records live here. */
  dataDir: string
  /** Multiaddrs others must dial to reach this relay (behind NAT or a proxy). */
  announce: string[]
  /** Other relays to join into one DHT. */
  bootstrap: string[]
  /** Folder with the built web app. */
  webDir: string
  /** Most simultaneous connections. */
  maxConnections: number
  /** Most circuit-relay reservations held at once. */
  maxReservations: number
  /** STUN/TURN URLs handed to pages for WebRTC (none: same host and LAN only). */
  iceServers: string[]
  /** PEM certificate and key: serve HTTPS and libp2p over wss. Both or neither. */
  tlsCert: string
  tlsKey: string
  /** Most simultaneous connections from one IP address. */
  maxConnectionsPerIp: number
  /** Longest life of one relayed circuit, seconds. */
  circuitDuration: number
  /** Most bytes one relayed circuit may carry (both directions together). */
  circuitBytes: number
  /** Largest record accepted, bytes (at most the protocol cap). */
  maxRecordBytes: number
  /** Most records one room may keep on this relay. */
  maxRoomRecords: number
  /** Most record bytes one room may keep on this relay. */
  maxRoomBytes: number
  /** Most record bytes all rooms together may keep on this relay. */
  maxDiskBytes: number
  /** Most rooms this relay keeps records of. */
  maxRooms: number
  /** DHT requests one peer may make a minute. */
  dhtRequestsPerMinute: number
  /** DHT messages one peer may send a minute (each request on any stream). */
  dhtMessagesPerMinute: number
  /** DHT messages one peer may send at once before the per-minute rate applies. */
  dhtMessageBurst: number
  /** DHT messages one IP may send a minute, all its peers together. */
  dhtMessagesPerMinutePerIp: number
  /** DHT messages one IP may send at once. */
  dhtMessageBurstPerIp: number
  /** Provider records kept for one provider peer (oldest evicted beyond). */
  dhtProvidersPerPeer: number
  /** Provider records kept in total (least recently announced evicted beyond). */
  dhtMaxProviders: number
  /** Write budget of one peer and of one IP: cost units (record bytes + 256 per record) a second. */
  writeBytesPerSecond: number
  /** What one peer or IP may write at once after a quiet spell, cost units. */
  writeBurstBytes: number
  /** Replication sessions (rooms) one peer may hold open at once. */
  maxRoomsPerPeer: number
  /** Sync requests one peer may make a minute. */
  syncsPerMinute: number
  /** Milliseconds from TCP accept to a completed WebSocket upgrade on the libp2p port. */
  handshakeTimeoutMs: number
  /** Milliseconds from an open WebSocket to a libp2p connection (Noise + yamux). */
  upgradeTimeoutMs: number
  /** Most open sockets from one IP on the libp2p port (raised to max-connections-per-ip + max-pending-per-ip). */
  maxSocketsPerIp: number
  /** Most connections from one IP in the libp2p upgrade at once. */
  maxPendingPerIp: number
  /** Most connections in the libp2p upgrade at once, all IPs together. */
  maxPendingConnections: number
  /** Largest WebSocket message accepted on the libp2p port, bytes. */
  maxWsMessageBytes: number
  /** Log lines as text or one JSON object per line. */
  logFormat: 'text' | 'json'
  /** Least severe level that is logged. */
  logLevel: 'error' | 'warn' | 'info' | 'debug'
}

interface Option {
  flag: string
  env: string
  type: 'string' | 'number' | 'list' | 'urls'
  /** Allowed values, for enumerations. */
  choices?: string[]
  /** Upper bound, for numbers. */
  max?: number
  /** Lower bound, for numbers (beyond "positive"). */
  min?: number
  default: string | number | string[]
  help: string
  key: keyof RelayConfig
}

export const RELAY_OPTIONS: Option[] = [
  { key: 'port', flag: 'port', env: 'ROOMKV_PORT', type: 'number', default: 8080, help: 'HTTP port (web app, /health, /metrics, /roomkv.json); 0 = any free port' },
  { key: 'p2pPort', flag: 'p2p-port', env: 'ROOMKV_P2P_PORT', type: 'number', default: 8081, help: 'libp2p WebSockets port; 0 = any free port' },
  { key: 'host', flag: 'host', env: 'ROOMKV_HOST', type: 'string', default: '127.0.0.1', help: 'interface to listen on (0.0.0.0 for all)' },
  { key: 'dataDir', flag: 'data-dir', env: 'ROOMKV_DATA_DIR', type: 'string', default: '.roomkv/relay', help: 'identity key and records are kept here' },
  { key: 'announce', flag: 'announce', env: 'ROOMKV_ANNOUNCE', type: 'list', default: [], help: 'multiaddr others must dial to reach this relay (repeatable; env: comma-separated)' },
  { key: 'bootstrap', flag: 'bootstrap', env: 'ROOMKV_BOOTSTRAP', type: 'list', default: [], help: 'multiaddr of another relay to join into one DHT (repeatable)' },
  { key: 'webDir', flag: 'web-dir', env: 'ROOMKV_WEB_DIR', type: 'string', default: DEFAULT_WEB_DIR, help: 'built web app to serve (default: dist/ of this package)' },
  { key: 'maxConnections', flag: 'max-connections', env: 'ROOMKV_MAX_CONNECTIONS', type: 'number', default: 1000, help: 'most simultaneous libp2p connections' },
  { key: 'maxReservations', flag: 'max-reservations', env: 'ROOMKV_MAX_RESERVATIONS', type: 'number', default: 512, help: 'most circuit-relay reservations held at once' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'ROOMKV_TLS_CERT', type: 'string', default: '', help: 'PEM certificate: serve the app over HTTPS and libp2p over wss (needs --tls-key)' },
  { key: 'tlsKey', flag: 'tls-key', env: 'ROOMKV_TLS_KEY', type: 'string', default: '', help: 'PEM private key for --tls-cert' },
  { key: 'maxConnectionsPerIp', flag: 'max-connections-per-ip', env: 'ROOMKV_MAX_CONNECTIONS_PER_IP', type: 'number', default: 64, help: 'most simultaneous connections from one IP address' },
  { key: 'circuitDuration', flag: 'circuit-duration', env: 'ROOMKV_CIRCUIT_DURATION', type: 'number', default: 120, help: 'longest life of a relayed circuit, seconds (tabs only need it for the WebRTC handshake)' },
  { key: 'circuitBytes', flag: 'circuit-bytes', env: 'ROOMKV_CIRCUIT_BYTES', type: 'number', default: 131072, help: 'most bytes a relayed circuit may carry' },
  { key: 'maxRecordBytes', flag: 'max-record-bytes', env: 'ROOMKV_MAX_RECORD_BYTES', type: 'number', default: MAX_RECORD_BYTES, max: MAX_RECORD_BYTES, help: `largest record accepted, bytes (at most ${MAX_RECORD_BYTES})` },
  { key: 'maxRoomRecords', flag: 'max-room-records', env: 'ROOMKV_MAX_ROOM_RECORDS', type: 'number', default: DEFAULT_MAX_ROOM_RECORDS, help: 'most keys one room may keep on this relay (each with its current versions)' },
  { key: 'maxRoomBytes', flag: 'max-room-bytes', env: 'ROOMKV_MAX_ROOM_BYTES', type: 'number', default: DEFAULT_MAX_ROOM_BYTES, help: 'most record bytes one room may keep on this relay' },
  { key: 'maxDiskBytes', flag: 'max-disk-bytes', env: 'ROOMKV_MAX_DISK_BYTES', type: 'number', default: DEFAULT_MAX_DISK_BYTES, help: 'most record bytes all rooms together may keep on this relay (the database file is ~10-30% larger)' },
  { key: 'maxRooms', flag: 'max-rooms', env: 'ROOMKV_MAX_ROOMS', type: 'number', default: DEFAULT_MAX_ROOMS, help: 'most rooms this relay keeps records of' },
  { key: 'dhtRequestsPerMinute', flag: 'dht-requests-per-minute', env: 'ROOMKV_DHT_REQUESTS_PER_MINUTE', type: 'number', default: 3000, help: 'DHT requests (streams) one peer may open a minute (messages are limited separately)' },
  // A tab's put is ~2 DHT messages to a relay (FIND_NODE, PUT_VALUE): the
  // burst lets one tab import 10,000 keys at full speed unrefused.
  { key: 'dhtMessagesPerMinute', flag: 'dht-messages-per-minute', env: 'ROOMKV_DHT_MESSAGES_PER_MINUTE', type: 'number', default: 12_000, help: 'DHT messages (requests on any stream) one peer may send a minute' },
  { key: 'dhtMessageBurst', flag: 'dht-message-burst', env: 'ROOMKV_DHT_MESSAGE_BURST', type: 'number', default: 24_000, help: 'DHT messages one peer may send at once before the per-minute rate applies' },
  // Per IP: fresh peer ids are free, addresses are not. Twice a peer's
  // share leaves room for a few tabs behind one NAT.
  { key: 'dhtMessagesPerMinutePerIp', flag: 'dht-messages-per-minute-per-ip', env: 'ROOMKV_DHT_MESSAGES_PER_MINUTE_PER_IP', type: 'number', default: 24_000, help: 'DHT messages one IP may send a minute, all its peers together' },
  { key: 'dhtMessageBurstPerIp', flag: 'dht-message-burst-per-ip', env: 'ROOMKV_DHT_MESSAGE_BURST_PER_IP', type: 'number', default: 48_000, help: 'DHT messages one IP may send at once' },
  // A member provides one CID per room it is in (and one per key it
  // explicitly provides); members re-announce, so eviction heals.
  { key: 'dhtProvidersPerPeer', flag: 'dht-providers-per-peer', env: 'ROOMKV_DHT_PROVIDERS_PER_PEER', type: 'number', default: DEFAULT_PROVIDERS_PER_PEER, help: 'provider records kept for one provider peer; its oldest is evicted beyond this' },
  { key: 'dhtMaxProviders', flag: 'dht-max-providers', env: 'ROOMKV_DHT_MAX_PROVIDERS', type: 'number', default: DEFAULT_MAX_PROVIDERS, help: 'provider records kept in total; the least recently announced is evicted beyond this' },
  // Cost = record bytes + 256 per record. 4 MiB/s is ~8,000 small records a
  // second per address; the burst lets one user import 10,000 keys at once.
  { key: 'writeBytesPerSecond', flag: 'write-bytes-per-second', env: 'ROOMKV_WRITE_BYTES_PER_SECOND', type: 'number', default: 4 * 1024 * 1024, help: 'write budget of one peer and of one IP, bytes a second (each record also costs 256); past it batches wait, then are refused (ERR_RATE_LIMITED)' },
  { key: 'writeBurstBytes', flag: 'write-burst-bytes', env: 'ROOMKV_WRITE_BURST_BYTES', type: 'number', default: 32 * 1024 * 1024, help: 'what one peer or IP may write at once after a quiet spell, bytes' },
  { key: 'maxRoomsPerPeer', flag: 'max-rooms-per-peer', env: 'ROOMKV_MAX_ROOMS_PER_PEER', type: 'number', default: 64, help: 'replication sessions (rooms) one peer may hold open' },
  { key: 'syncsPerMinute', flag: 'syncs-per-minute', env: 'ROOMKV_SYNCS_PER_MINUTE', type: 'number', default: 60, help: 'sync requests one peer may make a minute' },
  { key: 'handshakeTimeoutMs', flag: 'handshake-timeout-ms', env: 'ROOMKV_HANDSHAKE_TIMEOUT_MS', type: 'number', default: 5000, help: 'libp2p port: ms from TCP accept to a completed WebSocket upgrade (idle and slow sockets are dropped)' },
  { key: 'upgradeTimeoutMs', flag: 'upgrade-timeout-ms', env: 'ROOMKV_UPGRADE_TIMEOUT_MS', type: 'number', default: 5000, help: 'libp2p port: ms from an open WebSocket to an encrypted, multiplexed connection' },
  { key: 'maxSocketsPerIp', flag: 'max-sockets-per-ip', env: 'ROOMKV_MAX_SOCKETS_PER_IP', type: 'number', default: DEFAULT_MAX_SOCKETS_PER_IP, help: 'libp2p port: most open sockets from one IP, upgraded or not (at least max-connections-per-ip + max-pending-per-ip)' },
  { key: 'maxPendingPerIp', flag: 'max-pending-per-ip', env: 'ROOMKV_MAX_PENDING_PER_IP', type: 'number', default: DEFAULT_MAX_PENDING_PER_IP, help: 'libp2p port: most connections from one IP still in the handshake (Noise, yamux)' },
  // Sized to the machine: a pending connection costs a Noise handshake
  // (~1-2 ms of CPU) and a few tens of KiB; 32 per core keeps a burst of
  // legitimate reconnects (a relay restart) from being refused.
  { key: 'maxPendingConnections', flag: 'max-pending-connections', env: 'ROOMKV_MAX_PENDING_CONNECTIONS', type: 'number', default: Math.max(64, 32 * availableParallelism()), help: 'libp2p port: most connections still in the handshake, all IPs (default 32 per CPU core, at least 64)' },
  // libp2p (patched, see patches/) packs a write's chunks into WebSocket
  // messages of at most 65537 bytes (one Noise transport message, 65535
  // bytes, with its 2-byte length prefix); ws's own default is 100 MiB. Less
  // than that would refuse legitimate messages.
  { key: 'maxWsMessageBytes', flag: 'max-ws-message-bytes', env: 'ROOMKV_MAX_WS_MESSAGE_BYTES', type: 'number', default: 65537, min: 65537, help: 'libp2p port: largest WebSocket message, bytes (at least 65537: one Noise message, 65535 + 2)' },
  { key: 'logFormat', flag: 'log-format', env: 'ROOMKV_LOG_FORMAT', type: 'string', default: 'text', choices: ['text', 'json'], help: 'log lines as text, or one JSON object per line' },
  { key: 'logLevel', flag: 'log-level', env: 'ROOMKV_LOG_LEVEL', type: 'string', default: 'info', choices: ['error', 'warn', 'info', 'debug'], help: 'least severe level logged' },
  { key: 'iceServers', flag: 'ice-server', env: 'ROOMKV_ICE_SERVERS', type: 'urls', default: [], help: 'STUN/TURN URL given to pages for WebRTC, e.g. stun:stun.example.org:3478 (repeatable)' }
]

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG'
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export function usage (): string {
  const lines = RELAY_OPTIONS.map(o => {
    const def = o.default === DEFAULT_WEB_DIR
      ? '<package>/dist'
      : Array.isArray(o.default) ? (o.default.length === 0 ? 'none' : o.default.join(',')) : o.default === '' ? 'none' : String(o.default)
    return `  --${o.flag.padEnd(24)} ${o.help}\n  ${' '.repeat(26)} env ${o.env}, default ${def}`
  })
  return `Usage: npm start -- [options]   (or: npm run relay -- [options], npx roomkv relay [options])\n\nStarts the roomkv relay: serves the web app, relays circuits, and is an always-on DHT server.\n\nOptions:\n${lines.join('\n')}\n  --help                     show this help\n`
}

/** Parse argv and env into a validated config; throws ConfigError with a clear message. */
export function parseConfig (argv: string[], env: NodeJS.ProcessEnv = process.env): RelayConfig | 'help' {
  const options: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = { help: { type: 'boolean' } }
  for (const o of RELAY_OPTIONS) options[o.flag] = { type: 'string', multiple: o.type === 'list' || o.type === 'urls' }
  let values: Record<string, any>
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values
  } catch (err: any) {
    throw new ConfigError(err.message)
  }
  if (values.help === true) return 'help'
  const config: Record<string, unknown> = {}
  for (const o of RELAY_OPTIONS) {
    const raw: string | string[] | undefined = values[o.flag] ?? env[o.env]
    if (raw == null || raw === '') {
      config[o.key] = o.default
      continue
    }
    if (o.type === 'list' || o.type === 'urls') {
      const list = (Array.isArray(raw) ? raw : raw.split(',')).map(s => s.trim()).filter(Boolean)
      for (const item of list) {
        if (o.type === 'urls') {
          if (!/^(stun|stuns|turn|turns):[^\s]+$/.test(item)) throw new ConfigError(`--${o.flag}: "${item}" is not a stun:/turn: URL`)
          continue
        }
        try {
          multiaddr(item)
        } catch {
          throw new ConfigError(`--${o.flag}: "${item}" is not a multiaddr`)
        }
      }
      config[o.key] = list
    } else if (o.type === 'number') {
      const n = Number(raw)
      if (!Number.isInteger(n) || n < 0 || (o.flag.endsWith('port') ? n > 65535 : n < 1)) {
        throw new ConfigError(`--${o.flag}: "${raw}" is not a valid ${o.flag.endsWith('port') ? 'port (0-65535)' : 'positive integer'}`)
      }
      if (o.max != null && n > o.max) throw new ConfigError(`--${o.flag}: ${n} is above the maximum ${o.max}`)
      if (o.min != null && n < o.min) throw new ConfigError(`--${o.flag}: ${n} is below the minimum ${o.min}`)
      config[o.key] = n
    } else {
      const value = String(raw)
      if (o.choices != null && !o.choices.includes(value)) throw new ConfigError(`--${o.flag}: "${value}" is not one of ${o.choices.join(', ')}`)
      config[o.key] = value
    }
  }
  if ((config.tlsCert === '') !== (config.tlsKey === '')) throw new ConfigError('--tls-cert and --tls-key go together: give both or neither')
  if (config.tlsCert !== '') {
    try {
      createSecureContext({ cert: readFileSync(String(config.tlsCert)), key: readFileSync(String(config.tlsKey)) })
    } catch (err: any) {
      throw new ConfigError(`--tls-cert/--tls-key: cannot use ${config.tlsCert} and ${config.tlsKey}: ${err.message}`)
    }
  }
  if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(String(config.host)) || String(config.host).split('.').some(n => Number(n) > 255)) {
    throw new ConfigError(`--host: "${config.host}" must be an IPv4 address such as 127.0.0.1 or 0.0.0.0`)
  }
  return config as unknown as RelayConfig
}

export function defaultConfig (overrides: Partial<RelayConfig> = {}): RelayConfig {
  const config = parseConfig([], {}) as RelayConfig
  return { ...config, ...overrides }
}
