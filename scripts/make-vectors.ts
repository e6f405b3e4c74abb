/**
 * Writes docs/test-vectors.json: room keys, link, key id, DHT key and full
 * record bytes for fixed inputs, so other implementations (and future
 * versions of this one) can check they produce exactly the same bytes.
 * Ed25519 signatures are deterministic and every nonce is fixed, so the
 * output never changes unless the protocol does.
 *
 *   npx tsx scripts/make-vectors.ts           # (re)write the file
 *   npx tsx scripts/make-vectors.ts --check   # exit 1 if the file is stale
 *
 * shared/vectors.test.ts checks the file against the code.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ed25519 } from '@noble/curves/ed25519.js'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { concat, toString } from 'uint8arrays'
import * as varint from 'uint8-varint'
import { dhtKeyFor } from '../shared/dht-key.ts'
import { formatRoomCode, formatRoomLink } from '../shared/link.ts'
import { AckResult, ReplicateFrame, SignalMessage, SyncQuery, SyncReply, type SyncRange } from '../shared/proto/protocol.ts'
import { gcm } from '@noble/ciphers/aes.js'
import { signalSigningBytes } from '../shared/signal/signal-message.ts'
import { Payload, RecordBody, SignedRecord } from '../shared/proto/record.ts'
import { encodeValue, payloadAad, recordIdOf } from '../shared/record.ts'
import { sealRecord } from '../shared/record-js.ts'
import { deriveRoomKeys, keyIdFor } from '../shared/room-keys.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import { boundBefore, fingerprintOfIds, itemKey, itemsFrom, type SyncItems } from '../shared/sync/items.ts'
import { openingRanges, reconcile, type ReconcileLimits } from '../shared/sync/reconcile.ts'

const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')
const range = (start: number, length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => start + i)

export const ORIGIN = 'http://127.0.0.1:8080'
/** 2026-01-01T00:00:00Z */
export const WALL = 1_767_225_600_000

export interface VectorInput {
  key: string
  /** Absent for a tombstone. */
  value?: unknown
  deleted: boolean
  clock: { wall: number, counter: number }
  writer: string
  expiresAt: number
  /** Record ids (hex) this write supersedes. */
  replaces: string[]
  /** Newest version seen per writer. */
  seen?: Array<{ writer: string, clock: { wall: number, counter: number } }>
  /** The 12-byte AES-GCM nonce (hex). Fixed for reproducibility; never reuse a nonce in real use. */
  nonce: string
}

export interface RecordVector {
  name: string
  description: string
  input: VectorInput
  /** HMAC-SHA256(nameKey, UTF-8 key). */
  keyId: string
  /** The DHT key as UTF-8 text. */
  dhtKey: string
  /** Payload protobuf (plaintext inside `sealed`). */
  payload: string
  /** The payload's AEAD associated data (format 2): "roomkv/v2/payload\0" || the body without its `sealed` field. */
  aad: string
  /** nonce || AES-256-GCM(encryptionKey, nonce, aad, payload) || tag. */
  sealed: string
  /** RecordBody protobuf: the signed bytes (after the "roomkv/v1/record\0" prefix). */
  body: string
  /** Ed25519(signingSeed, "roomkv/v1/record\0" || body). */
  signature: string
  /** SignedRecord protobuf: the full record as stored and sent. */
  record: string
  /** SHA-256(body)[0..16]. */
  recordId: string
}

/**
 * One stream message: its fields (bytes as hex, enums by name, defaults
 * omitted), its protobuf encoding, and the frame on the stream
 * (unsigned-varint length, then the message).
 */
export interface FrameVector {
  name: string
  description: string
  /** `ReplicateFrame` (/roomkv/replicate/1.0.0); sync messages are in `sync`. */
  message: 'ReplicateFrame'
  fields: Record<string, unknown>
  /** The canonical protobuf encoding of `fields`. */
  encoding: string
  /** varint(len(encoding)) || encoding: the bytes on the stream. */
  frame: string
}

export interface TestVectors {
  description: string
  generator: string
  room: {
    secret: string
    signingSeed: string
    roomKey: string
    encryptionKey: string
    nameKey: string
    signalKey: string
    roomId: string
    roomIdText: string
    origin: string
    roomCode: string
    roomLink: string
  }
  records: RecordVector[]
  /** A peer id used in `delivered`: Ed25519 key from a fixed seed, as text and as multihash bytes. */
  peer: {
    seed: string
    publicKey: string
    /** Identity multihash: 00 24 || PublicKey protobuf (08 01 12 20 || publicKey). */
    multihash: string
    peerId: string
  }
  frames: FrameVector[]
  sync: SyncVectors
  signal: SignalVector
}

/** A sealed WebRTC signal (docs/protocol.md, "Signalling"): an OFFER from `sender` to the `peer` above. */
export interface SignalVector {
  description: string
  signalKey: string
  /** Ed25519 seed of the sender's libp2p key, its peer id and PublicKey protobuf (08 01 12 20 || public key). */
  senderSeed: string
  senderPeerId: string
  senderPublicKeyProtobuf: string
  dial: string
  type: 'OFFER'
  data: string
  signingBytes: string
  signature: string
  /** SignalMessage encoding (the plaintext). */
  message: string
  nonce: string
  aad: string
  /** nonce || AES-256-GCM(signalKey, nonce, aad, message) || tag: ReplicateFrame.signal. */
  sealed: string
  /** ReplicateFrame{signal_peer: receiver multihash, signal: sealed}, framed: what the sender writes to its relay. */
  frame: string
}

/** /roomkv/sync/2.0.0 (docs/protocol.md, "Sync"). Items are key id (32 bytes) || record id (16 bytes), hex. */
export interface SyncVectors {
  description: string
  /** Fingerprint of a set of record ids: SHA-256(sum || count)[0..16]. */
  fingerprints: Array<{
    name: string
    ids: string[]
    /** Sum of the ids as 128-bit little-endian integers, mod 2^128, 16 bytes little-endian. */
    sum: string
    count: number
    fingerprint: string
  }>
  /** The shortest bound between two neighbouring items (a prefix of `at`). */
  bounds: Array<{ below: string, at: string, bound: string }>
  /**
   * One full exchange between an asker and a responder holding the given
   * items, with the given limits: every SyncQuery, and every round header
   * SyncReply (the records frames that follow a header are left out; which
   * records they carry is `askerLacks`).
   */
  exchange: {
    description: string
    roomId: string
    limits: Required<ReconcileLimits>
    asker: string[]
    responder: string[]
    messages: Array<{ from: 'asker' | 'responder', message: 'SyncQuery' | 'SyncReply', encoding: string, frame: string }>
    /** Record ids the asker receives (from the responder's ids ranges and its want). */
    askerLacks: string[]
    /** Record ids the asker pushes back (the responder's need, and the asker's items missing from the responder's ids ranges). */
    responderLacks: string[]
  }
}

const frameOf = (encoding: Uint8Array): string => hex(concat([varint.encode(encoding.length), encoding]))

/** Item i of the sync vectors: key id = SHA-256("key " i), record id = SHA-256("record " i)[0..16]. */
function vectorItem (key: number, record = key): { keyId: Uint8Array, recordId: Uint8Array } {
  const text = new TextEncoder()
  return { keyId: sha256(text.encode(`key ${key}`)), recordId: sha256(text.encode(`record ${record}`)).subarray(0, 16) }
}

function makeSync (roomId: Uint8Array): SyncVectors {
  const idOf = (n: number): Uint8Array => sha256(new TextEncoder().encode(`record ${n}`)).subarray(0, 16)
  const ff = new Uint8Array(16).fill(0xff)
  const fingerprintCase = (name: string, ids: Uint8Array[]): SyncVectors['fingerprints'][number] => {
    const flat = concat(ids)
    let sum = 0n
    for (const id of ids) sum = (sum + BigInt('0x' + hex(Uint8Array.from(id).reverse()))) % (1n << 128n)
    const sumBytes = Uint8Array.from(Buffer.from(sum.toString(16).padStart(32, '0'), 'hex')).reverse()
    return { name, ids: ids.map(hex), sum: hex(sumBytes), count: ids.length, fingerprint: hex(fingerprintOfIds(flat, 0, ids.length)) }
  }
  const fingerprints = [
    fingerprintCase('empty', []),
    fingerprintCase('one', [idOf(0)]),
    fingerprintCase('three', [idOf(0), idOf(1), idOf(2)]),
    fingerprintCase('carry-and-wrap: ff..ff + 02 00..00 = 01 00..00 mod 2^128', [ff, Uint8Array.from({ length: 16 }, (_, i) => i === 0 ? 2 : 0)])
  ]

  const pair = (a: { keyId: Uint8Array, recordId: Uint8Array }, b: { keyId: Uint8Array, recordId: Uint8Array }): SyncVectors['bounds'][number] => {
    const items = itemsFrom([a, b])
    return { below: hex(itemKey(items, 0)), at: hex(itemKey(items, 1)), bound: hex(boundBefore(items, 1)) }
  }
  const sameKey = vectorItem(5)
  const bounds = [
    pair(vectorItem(1), vectorItem(2)),
    pair(sameKey, { keyId: sameKey.keyId, recordId: idOf(99) })
  ]

  // Asker: items 0..39. Responder: items 2..41, and item 10 with another
  // record (a second head of key 10). Limits are the defaults.
  const limits: Required<ReconcileLimits> = { branching: 16, idsThreshold: 32, maxRanges: 1024, maxIds: 8192 }
  const askerInput = Array.from({ length: 40 }, (_, i) => vectorItem(i))
  const responderInput = [...Array.from({ length: 40 }, (_, i) => vectorItem(i + 2)), vectorItem(10, 1010)]
  const asker = itemsFrom(askerInput)
  const responder = itemsFrom(responderInput)
  const messages: SyncVectors['exchange']['messages'] = []
  const askerLacks = new Set<string>()
  const responderLacks = new Set<string>()
  const idHex = (items: SyncItems, i: number): string => hex(items.ids.subarray(i * 16, i * 16 + 16))
  const query = (ranges: SyncRange[], want: Uint8Array[]): void => {
    const encoding = SyncQuery.encode({ roomId, ranges, want: concat(want) })
    messages.push({ from: 'asker', message: 'SyncQuery', encoding: hex(encoding), frame: frameOf(encoding) })
  }
  let ranges = openingRanges(asker, limits)
  query(ranges, [])
  for (let round = 1; ; round++) {
    const step = reconcile(responder, ranges, limits)
    for (const i of step.theyLack) askerLacks.add(idHex(responder, i))
    for (const id of step.iLack) responderLacks.add(hex(id))
    const encoding = SyncReply.encode({ ranges: step.ranges, need: concat(step.iLack), records: [], last: step.theyLack.length === 0, error: '', total: round === 1 ? responder.count : 0 })
    messages.push({ from: 'responder', message: 'SyncReply', encoding: hex(encoding), frame: frameOf(encoding) })
    const next = reconcile(asker, step.ranges, limits)
    for (const i of next.theyLack) responderLacks.add(idHex(asker, i))
    for (const id of next.iLack) askerLacks.add(hex(id))
    if (!next.open) {
      query([], next.iLack)
      if (next.iLack.length > 0) {
        // The responder's header for the last query: no ranges, records follow.
        const last = SyncReply.encode({ ranges: [], need: new Uint8Array(0), records: [], last: false, error: '', total: 0 })
        messages.push({ from: 'responder', message: 'SyncReply', encoding: hex(last), frame: frameOf(last) })
      }
      break
    }
    query(next.ranges, next.iLack)
    ranges = next.ranges
  }
  return {
    description: 'Sync (range-based set reconciliation) vectors: fingerprints, bounds, and one full exchange. Items: key id = SHA-256("key " n), record id = SHA-256("record " n)[0..16], n in decimal ASCII.',
    fingerprints,
    bounds,
    exchange: {
      description: 'Asker holds items 0..39; responder holds items 2..41 and a second head of key 10 (record 1010). The asker opens with 16 fingerprint ranges; the responder lists its ids where they differ; the asker learns the rest and ends with its want.',
      roomId: hex(roomId),
      limits,
      asker: Array.from({ length: asker.count }, (_, i) => hex(itemKey(asker, i))),
      responder: Array.from({ length: responder.count }, (_, i) => hex(itemKey(responder, i))),
      messages,
      askerLacks: [...askerLacks].sort(),
      responderLacks: [...responderLacks].sort()
    }
  }
}

/** Replication and sync messages built from the record vectors. */
function makeFrames (roomId: Uint8Array, records: RecordVector[], peerMultihash: Uint8Array): FrameVector[] {
  const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))
  const record = (name: string): RecordVector => {
    const r = records.find(r => r.name === name)
    if (r == null) throw new Error(`unknown vector ${name}`)
    return r
  }
  const frame = (encoding: Uint8Array): string => hex(concat([varint.encode(encoding.length), encoding]))
  const replicate = (name: string, description: string, fields: Record<string, unknown>, frame_: Partial<ReplicateFrame>): FrameVector => {
    const encoding = ReplicateFrame.encode({ roomId: new Uint8Array(0), seq: 0, records: [], delivered: [], ack: 0, results: [], error: '', ...frame_ })
    return { name, description, message: 'ReplicateFrame', fields, encoding: hex(encoding), frame: frame(encoding) }
  }
  const value = record('value')
  return [
    replicate('replicate-hello', 'First frame of the opener of a session: the room id, nothing else.',
      { roomId: hex(roomId) }, { roomId }),
    replicate('replicate-batch', 'Batch 1 of a sender: the "value" record; the sender also sent it to `peer` itself, so a relay does not forward it there.',
      { seq: 1, records: [value.record], delivered: [hex(peerMultihash)] }, { seq: 1, records: [bytes(value.record)], delivered: [peerMultihash] }),
    replicate('replicate-ack', 'Answer to a batch 2 of three records: the first stored, the second already held, the third refused by the relay quota. STORED is the enum default (0), so its AckResult is empty.',
      { ack: 2, results: [{ status: 'STORED' }, { status: 'KNOWN' }, { status: 'REFUSED', code: 'ERR_ROOM_FULL' }] },
      { ack: 2, results: [{ status: AckResult.Status.STORED, code: '' }, { status: AckResult.Status.KNOWN, code: '' }, { status: AckResult.Status.REFUSED, code: 'ERR_ROOM_FULL' }] }),
    replicate('replicate-batch-refused', 'Answer to batch 3 when the structural pre-check found a record that does not parse: the whole batch is refused, no results.',
      { ack: 3, error: 'ERR_INVALID_RECORD' }, { ack: 3, error: 'ERR_INVALID_RECORD' }),
    replicate('replicate-session-refused', 'The acceptor\'s only frame when it does not serve the room named in the hello; it then closes the stream.',
      { error: 'ERR_WRONG_ROOM' }, { error: 'ERR_WRONG_ROOM' })
  ]
}

export function makeVectors (): TestVectors {
  const secret = range(0x00, 32)
  const keys = deriveRoomKeys(secret)

  const specs: Array<{ name: string, description: string, input: Omit<VectorInput, 'replaces'>, replaces: string[] }> = [
    {
      name: 'value',
      description: 'A plain value write.',
      input: { key: 'greeting', value: { text: 'hello' }, deleted: false, clock: { wall: WALL, counter: 7 }, writer: 'writer-1', expiresAt: 0, nonce: hex(range(0xa0, 12)) },
      replaces: []
    },
    {
      name: 'tombstone',
      description: 'A deletion of the same key, later on the same writer\'s clock; the payload value is empty.',
      input: { key: 'greeting', deleted: true, clock: { wall: WALL, counter: 8 }, writer: 'writer-1', expiresAt: 0, nonce: hex(range(0xb0, 12)) },
      replaces: []
    },
    {
      name: 'expiring',
      description: 'A value with a TTL: expires one hour after its clock.',
      input: { key: 'session', value: 'token-123', deleted: false, clock: { wall: WALL, counter: 0 }, writer: 'writer-1', expiresAt: WALL + 3_600_000, nonce: hex(range(0xc0, 12)) },
      replaces: []
    },
    {
      name: 'replaces',
      description: 'A write by another writer that supersedes the "value" vector (replaces holds its record id, seen its writer and clock).',
      input: { key: 'greeting', value: ['hello', 'again', 1, null], deleted: false, clock: { wall: WALL + 1000, counter: 0 }, writer: 'writer-2', expiresAt: 0, seen: [{ writer: 'writer-1', clock: { wall: WALL, counter: 7 } }], nonce: hex(range(0xd0, 12)) },
      replaces: ['value']
    }
  ]

  const records: RecordVector[] = []
  for (const spec of specs) {
    const replaces = spec.replaces.map(name => {
      const target = records.find(r => r.name === name)
      if (target == null) throw new Error(`unknown vector ${name}`)
      return target.recordId
    })
    const input: VectorInput = { ...spec.input, replaces }
    const bytes = sealRecord(keys, {
      key: input.key,
      value: input.value,
      deleted: input.deleted,
      clock: input.clock,
      writer: input.writer,
      expiresAt: input.expiresAt,
      replaces: input.replaces.map(id => Uint8Array.from(Buffer.from(id, 'hex'))),
      seen: input.seen,
      nonce: Uint8Array.from(Buffer.from(input.nonce, 'hex'))
    })
    const signed = SignedRecord.decode(bytes)
    const body = RecordBody.decode(signed.body)
    const keyId = keyIdFor(keys, input.key)
    records.push({
      name: spec.name,
      description: spec.description,
      input,
      keyId: hex(keyId),
      dhtKey: new TextDecoder().decode(dhtKeyFor(keys.roomId, keyId)),
      payload: hex(Payload.encode({ name: input.key, value: input.deleted ? '' : encodeValue(input.value) })),
      aad: hex(payloadAad(keys.roomId, body)),
      sealed: hex(body.sealed),
      body: hex(signed.body),
      signature: hex(signed.signature),
      record: hex(bytes),
      recordId: hex(recordIdOf(signed.body))
    })
  }

  // A fixed Ed25519 peer id for `delivered` (identity multihash of its public key protobuf).
  const peerSeed = range(0x40, 32)
  const peerPublicKey = ed25519.getPublicKey(peerSeed)
  const peerMultihash = concat([Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]), peerPublicKey])

  return {
    description: 'roomkv v1 test vectors: fixed inputs and the exact bytes they must produce. All byte strings are lowercase hex.',
    generator: 'npx tsx scripts/make-vectors.ts',
    room: {
      secret: hex(secret),
      signingSeed: hex(keys.signingSeed),
      roomKey: hex(keys.roomKey),
      encryptionKey: hex(keys.encryptionKey),
      nameKey: hex(keys.nameKey),
      signalKey: hex(keys.signalKey),
      roomId: hex(keys.roomId),
      roomIdText: keys.roomIdText,
      origin: ORIGIN,
      roomCode: formatRoomCode(secret),
      roomLink: formatRoomLink(ORIGIN, secret)
    },
    records,
    peer: {
      seed: hex(peerSeed),
      publicKey: hex(peerPublicKey),
      multihash: hex(peerMultihash),
      peerId: peerIdFromMultihash(Digest.decode(peerMultihash)).toString()
    },
    frames: makeFrames(keys.roomId, records, peerMultihash),
    sync: makeSync(keys.roomId),
    signal: makeSignal(keys, peerMultihash)
  }
}

function makeSignal (keys: ReturnType<typeof deriveRoomKeys>, receiver: Uint8Array): SignalVector {
  const senderSeed = range(0x60, 32)
  const senderPublicKeyProtobuf = concat([Uint8Array.from([0x08, 0x01, 0x12, 0x20]), ed25519.getPublicKey(senderSeed)])
  const senderMultihash = concat([Uint8Array.from([0x00, 0x24]), senderPublicKeyProtobuf])
  const dial = 0x0102030405060708n
  const data = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 00:11:22:33\r\n'
  const signingBytes = signalSigningBytes(receiver, dial, SignalMessage.Type.OFFER, data)
  const signature = ed25519.sign(signingBytes, senderSeed)
  const message = SignalMessage.encode({ from: senderPublicKeyProtobuf, to: receiver, dial, type: SignalMessage.Type.OFFER, data, signature })
  const nonce = range(0x70, 12)
  const aad = concat([new TextEncoder().encode('roomkv/v1/signal'), keys.roomId])
  const sealed = concat([nonce, gcm(keys.signalKey, nonce, aad).encrypt(message)])
  const frame = ReplicateFrame.encode({ roomId: new Uint8Array(0), seq: 0, records: [], delivered: [], ack: 0, results: [], error: '', members: [], query: 0, want: [], reply: 0, signalPeer: receiver, signal: sealed, signals: false })
  return {
    description: 'An SDP offer sealed for the `peer` vector by the sender below, in the room above.',
    signalKey: hex(keys.signalKey),
    senderSeed: hex(senderSeed),
    senderPeerId: peerIdFromMultihash(Digest.decode(senderMultihash)).toString(),
    senderPublicKeyProtobuf: hex(senderPublicKeyProtobuf),
    dial: dial.toString(16).padStart(16, '0'),
    type: 'OFFER',
    data,
    signingBytes: hex(signingBytes),
    signature: hex(signature),
    message: hex(message),
    nonce: hex(nonce),
    aad: hex(aad),
    sealed: hex(sealed),
    frame: frameOf(frame)
  }
}

export const VECTORS_PATH = fileURLToPath(new URL('../docs/test-vectors.json', import.meta.url))

function main (): void {
  const text = `${JSON.stringify(makeVectors(), null, 2)}\n`
  if (process.argv.includes('--check')) {
    let current = ''
    try {
      current = readFileSync(VECTORS_PATH, 'utf8')
    } catch {}
    if (current !== text) {
      console.error(`${VECTORS_PATH} is out of date: run npx tsx scripts/make-vectors.ts`)
      process.exit(1)
    }
    console.log(`${VECTORS_PATH} is up to date`)
    return
  }
  writeFileSync(VECTORS_PATH, text)
  console.log(`wrote ${VECTORS_PATH}`)
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) main()
