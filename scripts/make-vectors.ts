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
import { AckResult, ReplicateFrame, SyncRequest } from '../shared/proto/protocol.ts'
import { Payload, RecordBody, SignedRecord } from '../shared/proto/record.ts'
import { encodeValue, recordIdOf, sealRecord } from '../shared/record.ts'
import { deriveRoomKeys, keyIdFor } from '../shared/room-keys.ts'

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
  /** nonce || AES-256-GCM(encryptionKey, nonce, aad = "roomkv/v1/payload\0" || roomId || keyId, payload) || tag. */
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
  /** `ReplicateFrame` (/roomkv/replicate/1.0.0) or `SyncRequest` (/roomkv/sync/1.0.0). */
  message: 'ReplicateFrame' | 'SyncRequest'
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
  const digest = (r: RecordVector): { keyId: string, recordId: string } => ({ keyId: r.keyId, recordId: r.recordId.slice(0, 16) })
  const sync = (name: string, description: string, have: RecordVector[], more: boolean): FrameVector => {
    const entries = have.map(digest)
    const encoding = SyncRequest.encode({ roomId, have: entries.map(e => ({ keyId: bytes(e.keyId), recordId: bytes(e.recordId) })), more })
    const fields: Record<string, unknown> = { roomId: hex(roomId), have: entries }
    if (more) fields.more = true
    return { name, description, message: 'SyncRequest', fields, encoding: hex(encoding), frame: frame(encoding) }
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
      { error: 'ERR_WRONG_ROOM' }, { error: 'ERR_WRONG_ROOM' }),
    sync('sync-request-chunk-1', 'A digest sent in two SyncRequest frames (the reference cuts at 16,384 entries; any chunk size up to that is valid): first chunk, more = true.',
      [value], true),
    sync('sync-request-chunk-2', 'Second and last chunk of the same digest: room_id repeated, more omitted (false).',
      [record('expiring')], false)
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
    frames: makeFrames(keys.roomId, records, peerMultihash)
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
