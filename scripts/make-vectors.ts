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
import { toString } from 'uint8arrays'
import { dhtKeyFor } from '../shared/dht-key.ts'
import { formatRoomCode, formatRoomLink } from '../shared/link.ts'
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
    records
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
