/**
 * Node integration: the relay's DHT against a hostile client (issue 7 item 6).
 * A stock libp2p node opens streams on the roomkv DHT protocol and writes
 * kad-dht protobuf messages itself: thousands of requests on one stream,
 * provider floods, foreign namespaces, forged records. Each against a real
 * relay process on loopback, with a legitimate room member beside it.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { Libp2pRecord } from '@libp2p/record'
import { pbStream } from '@libp2p/utils'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { health, metric, metricsText } from './relay-observe.ts'
import { openRoom } from '../../cli/node-peer.ts'
import { DHT_PROTOCOL, MiB } from '../../shared/constants.ts'
import { dhtKeyFor } from '../../shared/dht-key.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { sealRecord } from '../../shared/record-js.ts'
import { deriveRoomKeys, keyIdFor, newRoomSecret } from '../../shared/room-keys.ts'
import type { RoomClient } from '../../shared/room-client.ts'
import { prng } from '../../shared/test-support.ts'
// kad-dht does not export its wire codec; the test speaks the protocol itself.
import { Message, MessageType } from '../../node_modules/@libp2p/kad-dht/dist/src/message/dht.js'

/** Attackers and members opened by a test; all closed in afterAll. */
const attackers: Libp2p[] = []
const members: RoomClient[] = []

/**
 * A stock libp2p node connected to the relay. Connect attackers one at a
 * time (the relay admits few handshakes per IP at once), then open their DHT
 * streams together: kad-dht drops a stream idle for 10 s.
 */
async function attacker (relay: RelayProcess): Promise<Libp2p> {
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // An attacker does not care how busy the relay is; libp2p's monitor would
    // close the connection when the flooded relay answers pings late.
    connectionMonitor: { enabled: false },
    services: { identify: identify() }
  })
  attackers.push(node)
  await node.dial(await relayAddr(relay), { signal: AbortSignal.timeout(20_000) })
  return node
}

async function member (link: string): Promise<RoomClient> {
  const client = await openRoom(link)
  members.push(client)
  await client.relay.connected(15_000)
  return client
}

async function relayAddr (relay: RelayProcess): Promise<ReturnType<typeof multiaddr>> {
  return multiaddr((await (await fetch(`${relay.url}/roomkv.json`)).json()).multiaddrs[0])
}

interface DhtStream {
  read(options?: { signal?: AbortSignal }): Promise<Message>
  write(message: Message, options?: { signal?: AbortSignal }): Promise<void>
  writeV(messages: Message[], options?: { signal?: AbortSignal }): Promise<void>
}

/** One DHT stream from `node` to the relay, speaking kad-dht's framing. */
async function dhtStream (node: Libp2p, relay: RelayProcess): Promise<DhtStream> {
  const stream = await node.dialProtocol(await relayAddr(relay), DHT_PROTOCOL)
  const messages: DhtStream = pbStream(stream, { maxDataLength: 4 * MiB }).pb(Message) as any
  // multistream-select finishes lazily, on the first read, and gives up after
  // 10 s: an attacker that only writes (ADD_PROVIDER has no answer) reads once.
  await messages.write(message(MessageType.PING), { signal: AbortSignal.timeout(10_000) })
  await messages.read({ signal: AbortSignal.timeout(10_000) })
  return messages
}

/** Awaits `promise`, naming the step in the error if it fails. */
async function step<T> (name: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise
  } catch (err: any) {
    throw new Error(`${name}: ${err?.error?.message ?? err?.message ?? String(err)}`)
  }
}

const message = (type: MessageType, init: Partial<Message> = {}): Message => ({ type, closer: [], providers: [], clusterLevel: 0, ...init })

/**
 * Sends up to `count` requests on ONE stream, each awaiting its answer;
 * returns how many were answered before the relay reset the stream.
 */
async function requestsAnswered (node: Libp2p, relay: RelayProcess, count: number, next: (i: number) => Message): Promise<number> {
  return await answeredOn(await dhtStream(node, relay), count, next)
}

async function answeredOn (messages: DhtStream, count: number, next: (i: number) => Message): Promise<number> {
  let answered = 0
  try {
    for (let i = 0; i < count; i++) {
      await messages.write(next(i), { signal: AbortSignal.timeout(10_000) })
      await messages.read({ signal: AbortSignal.timeout(10_000) })
      answered++
    }
  } catch {}
  return answered
}

/** A legitimate member writes a key and a second member reads it back over the DHT, timed. */
async function legitimatePutGet (writer: RoomClient, reader: RoomClient, key: string): Promise<number> {
  const started = Date.now()
  const put = await writer.session.put(key, { at: started }, { quorum: 1 })
  expect(put.storedOn.length).toBeGreaterThanOrEqual(1)
  const entry = await reader.session.get(key, { network: true })
  expect(entry?.value).toEqual({ at: started })
  return Date.now() - started
}

describe('per-message DHT limits', () => {
  let relay: RelayProcess
  let writer: RoomClient
  let reader: RoomClient
  const PEER_BURST = 500
  const IP_BURST = 4000

  beforeAll(async () => {
    relay = await startRelayProcess({
      args: [
        '--dht-message-burst', String(PEER_BURST), '--dht-messages-per-minute', '60',
        '--dht-message-burst-per-ip', String(IP_BURST), '--dht-messages-per-minute-per-ip', '600'
      ]
    })
    const link = formatRoomLink(relay.url, newRoomSecret())
    writer = await member(link)
    reader = await member(link)
    // Warm both DHTs (kad-dht holds queries until its first self-query).
    await legitimatePutGet(writer, reader, 'warm-up')
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled(members.map(async c => { await c.close() }))
    await Promise.allSettled(attackers.map(async n => { await n.stop() }))
    await relay?.stop()
  })

  test('one stream of 3,000 FIND_NODE, then 3,000 GET_VALUE: refused after the burst, counted, relay serves others', async () => {
    const before = metric(await metricsText(relay), 'roomkv_requests_refused_total', { kind: 'dht' }) ?? 0
    const random = prng(7)
    const randomKey = (): Uint8Array => Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256))
    const findNode = await requestsAnswered(await attacker(relay), relay, 3000, () => message(MessageType.FIND_NODE, { key: randomKey() }))
    const keys = deriveRoomKeys(newRoomSecret())
    const getValue = await requestsAnswered(await attacker(relay), relay, 3000, () => message(MessageType.GET_VALUE, { key: dhtKeyFor(keys.roomId, randomKey()) }))
    // Each peer gets its burst (plus a trickle of refill), then its stream is reset.
    for (const answered of [findNode, getValue]) {
      expect(answered).toBeGreaterThanOrEqual(PEER_BURST - 5)
      expect(answered).toBeLessThan(PEER_BURST + 100)
    }
    const after = metric(await metricsText(relay), 'roomkv_requests_refused_total', { kind: 'dht' }) ?? 0
    expect(after - before).toBeGreaterThanOrEqual(2)
    expect((await health(relay, 1000)).ok).toBe(true)
    expect(await legitimatePutGet(writer, reader, 'after-flood')).toBeLessThan(2000)
  }, 120_000)

  test('fresh peer ids from one IP share the per-IP budget', async () => {
    const before = metric(await metricsText(relay), 'roomkv_requests_refused_total', { kind: 'dht' }) ?? 0
    // 12 peers x 450 requests, each under its own burst, 5,400 together.
    const nodes: Libp2p[] = []
    for (let n = 0; n < 12; n++) nodes.push(await attacker(relay))
    const answered = await Promise.all(nodes.map(async (node, n) =>
      await requestsAnswered(node, relay, 450, (i) => message(MessageType.FIND_NODE, { key: Uint8Array.from({ length: 32 }, (_, j) => (n * 31 + i + j) % 256) }))
    ))
    const total = answered.reduce((a, b) => a + b, 0)
    expect(total).toBeLessThan(12 * 450)
    expect(total).toBeLessThanOrEqual(IP_BURST + 500)
    const after = metric(await metricsText(relay), 'roomkv_requests_refused_total', { kind: 'dht' }) ?? 0
    expect(after - before).toBeGreaterThanOrEqual(1)
    expect((await health(relay, 1000)).ok).toBe(true)
  }, 120_000)
})

describe('DHT provider store, namespaces and forged records', () => {
  let relay: RelayProcess
  let link: string
  const MAX_PROVIDERS = 3000

  beforeAll(async () => {
    relay = await startRelayProcess({ args: ['--dht-providers-per-peer', '1000', '--dht-max-providers', String(MAX_PROVIDERS)] })
    link = formatRoomLink(relay.url, newRoomSecret())
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled(members.map(async c => { await c.close() }))
    await Promise.allSettled(attackers.map(async n => { await n.stop() }))
    await relay?.stop()
  })

  test('22,000 ADD_PROVIDER for random CIDs from 5 peers: store bounded, evictions counted, members still found', async () => {
    const rssBefore = metric(await metricsText(relay), 'process_resident_memory_bytes') ?? 0
    const random = prng(11)
    const addr = await relayAddr(relay)
    // One flooder at a time: the relay handles one message per stream at a
    // time anyway, and a stream left idle 10 s is dropped by kad-dht.
    for (let n = 0; n < 5; n++) {
      const node = await attacker(relay)
      const messages = await step(`flooder ${n}: stream`, dhtStream(node, relay))
      const self = { id: node.peerId.toMultihash().bytes, multiaddrs: [addr.bytes] }
      for (let batch = 0; batch < 11; batch++) {
        const batchMessages: Message[] = []
        for (let i = 0; i < 400; i++) {
          const digest = await sha256.digest(Uint8Array.from({ length: 16 }, () => Math.floor(random() * 256)))
          batchMessages.push(message(MessageType.ADD_PROVIDER, { key: digest.bytes, providers: [self] }))
        }
        await step(`flooder ${n}: batch ${batch}`, messages.writeV(batchMessages, { signal: AbortSignal.timeout(60_000) }))
      }
      // ADD_PROVIDER has no answer: a PING answered means all were handled.
      await step(`flooder ${n}: ping`, messages.write(message(MessageType.PING), { signal: AbortSignal.timeout(60_000) }))
      await step(`flooder ${n}: pong`, messages.read({ signal: AbortSignal.timeout(60_000) }))
    }

    const text = await metricsText(relay)
    const held = metric(text, 'roomkv_dht_provider_records')
    expect(held).toBeDefined()
    expect(held).toBeLessThanOrEqual(MAX_PROVIDERS)
    expect(metric(text, 'roomkv_dht_providers_evicted_total', { reason: 'per_peer' })).toBeGreaterThanOrEqual(5 * (4400 - 1000))
    expect(metric(text, 'roomkv_dht_providers_evicted_total', { reason: 'total' })).toBeGreaterThanOrEqual(5 * 1000 - MAX_PROVIDERS)
    // RSS is reported, not asserted: the flood's garbage (yamux buffers,
    // decoded messages) raises it long before V8 collects; the gauge above is
    // what proves the store bounded.
    console.log(`RSS after 22,000 ADD_PROVIDER: +${Math.round(((metric(text, 'process_resident_memory_bytes') ?? 0) - rssBefore) / MiB)} MiB, ${held} provider records held`)
    expect((await health(relay, 1000)).ok).toBe(true)

    // A member announcing itself after the flood is found by another within 2 s.
    const a = await member(link)
    const b = await member(link)
    expect((await a.session.provide('shared-key')).peers).toBeGreaterThanOrEqual(1)
    const started = Date.now()
    const found = await b.session.findProviders('shared-key', { timeout: 2000 })
    expect(found).toContain(a.node.peerId.toString())
    expect(Date.now() - started).toBeLessThan(2000)
  }, 180_000)

  test('PUT_VALUE under /pk/ is refused and counted', async () => {
    const node = await attacker(relay)
    const key = await generateKeyPair('Ed25519')
    const pkKey = new Uint8Array([...new TextEncoder().encode('/pk/'), ...key.publicKey.toMultihash().bytes])
    const record = new Libp2pRecord(pkKey, publicKeyToProtobuf(key.publicKey), new Date()).serialize()
    const answered = await requestsAnswered(node, relay, 1, () => message(MessageType.PUT_VALUE, { key: pkKey, record }))
    expect(answered).toBe(0)
    expect((await health(relay, 1000)).rejectedRecords.ERR_DHT_UNSUPPORTED_KEY).toBeGreaterThanOrEqual(1)
    expect(metric(await metricsText(relay), 'roomkv_records_rejected_total', { reason: 'ERR_DHT_UNSUPPORTED_KEY' })).toBeGreaterThanOrEqual(1)
  }, 60_000)

  test('a forged record sent by PUT_VALUE shows in /health rejectedRecords and /metrics', async () => {
    const node = await attacker(relay)
    const keys = deriveRoomKeys(newRoomSecret())
    const forged = sealRecord(keys, { key: 'colour', value: 'forged', clock: { wall: Date.now(), counter: 0 }, writer: 'hostile-dht' })
    forged[forged.length - 1] ^= 0x01 // last byte is inside the signature
    const dhtKey = dhtKeyFor(keys.roomId, keyIdFor(keys, 'colour'))
    const record = new Libp2pRecord(dhtKey, forged, new Date()).serialize()
    const answered = await requestsAnswered(node, relay, 1, () => message(MessageType.PUT_VALUE, { key: dhtKey, record }))
    expect(answered).toBe(0)
    expect((await health(relay, 1000)).rejectedRecords.ERR_BAD_SIGNATURE).toBeGreaterThanOrEqual(1)
    expect(metric(await metricsText(relay), 'roomkv_records_rejected_total', { reason: 'ERR_BAD_SIGNATURE' })).toBeGreaterThanOrEqual(1)
  }, 60_000)
})
