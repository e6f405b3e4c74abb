/**
 * docs/test-vectors.json (written by scripts/make-vectors.ts) against the
 * code, and against independent implementations from node:crypto, so a
 * change to the wire format cannot slip through unnoticed.
 */
import { createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync, verify as nodeVerify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPrivateKey } from '@libp2p/peer-id'
import { openSignal, sealSignal, SignalMessage, signalSigningBytes } from './signal/signal-message.ts'
import { encode as lpEncode } from 'it-length-prefixed'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { fromString, toString } from 'uint8arrays'
import { MAX_REPLICATE_FRAME_BYTES, MAX_REPLICATE_RECORDS, MAX_SYNC_QUERY_BYTES } from './constants.ts'
import { dhtKeyFor, parseDhtKey } from './dht-key.ts'
import { formatRoomCode, formatRoomLink, parseRoomLink } from './link.ts'
import { AckResult, ReplicateFrame, SyncQuery, SyncReply } from './proto/protocol.ts'
import { boundBefore, fingerprintOfIds, itemsFrom, type SyncItems } from './sync/items.ts'
import { checkRanges, openingRanges, reconcile } from './sync/reconcile.ts'
import { Payload, RecordBody, SignedRecord } from './proto/record.ts'
import { recordIdOf, verifyRecord } from './record.ts'
import { openRecord, sealRecord } from './record-js.ts'
import { deriveRoomKeys, keyIdFor } from './room-keys.ts'

interface VectorInput {
  key: string
  value?: unknown
  deleted: boolean
  clock: { wall: number, counter: number }
  writer: string
  expiresAt: number
  replaces: string[]
  seen?: Array<{ writer: string, clock: { wall: number, counter: number } }>
  nonce: string
}

interface RecordVector {
  name: string
  input: VectorInput
  keyId: string
  dhtKey: string
  payload: string
  aad: string
  sealed: string
  body: string
  signature: string
  record: string
  recordId: string
}

interface TestVectors {
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
  peer: { seed: string, publicKey: string, multihash: string, peerId: string }
  frames: FrameVector[]
  signal: {
    signalKey: string
    senderSeed: string
    senderPeerId: string
    senderPublicKeyProtobuf: string
    dial: string
    type: string
    data: string
    signingBytes: string
    signature: string
    message: string
    nonce: string
    aad: string
    sealed: string
    frame: string
  }
  sync: {
    fingerprints: Array<{ name: string, ids: string[], sum: string, count: number, fingerprint: string }>
    bounds: Array<{ below: string, at: string, bound: string }>
    exchange: {
      roomId: string
      limits: { branching: number, idsThreshold: number, maxRanges: number, maxIds: number }
      asker: string[]
      responder: string[]
      messages: Array<{ from: 'asker' | 'responder', message: 'SyncQuery' | 'SyncReply', encoding: string, frame: string }>
      askerLacks: string[]
      responderLacks: string[]
    }
  }
}

interface FrameVector {
  name: string
  message: 'ReplicateFrame'
  fields: Record<string, any>
  encoding: string
  frame: string
}

/** A protobuf varint, written out here rather than borrowed from the code under test. */
function varintBytes (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return out
}

const vectors = JSON.parse(readFileSync(new URL('../docs/test-vectors.json', import.meta.url), 'utf8')) as TestVectors
const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')
const bytes = (text: string): Uint8Array => fromString(text, 'hex')
const { room } = vectors
const keys = deriveRoomKeys(bytes(room.secret))

describe('test vectors: room', () => {
  it('uses the documented fixed inputs', () => {
    expect(room.secret).toBe(hex(Uint8Array.from({ length: 32 }, (_, i) => i)))
    expect(room.origin).toBe('http://127.0.0.1:8080')
    expect(vectors.records.map(r => r.name)).toEqual(['value', 'tombstone', 'expiring', 'replaces'])
    const first = vectors.records[0].input
    expect(first).toEqual({
      key: 'greeting',
      value: { text: 'hello' },
      deleted: false,
      clock: { wall: 1767225600000, counter: 7 },
      writer: 'writer-1',
      expiresAt: 0,
      replaces: [],
      nonce: 'a0a1a2a3a4a5a6a7a8a9aaab'
    })
  })

  it('deriveRoomKeys reproduces every key', () => {
    expect(hex(keys.signingSeed)).toBe(room.signingSeed)
    expect(hex(keys.roomKey)).toBe(room.roomKey)
    expect(hex(keys.encryptionKey)).toBe(room.encryptionKey)
    expect(hex(keys.nameKey)).toBe(room.nameKey)
    expect(hex(keys.signalKey)).toBe(room.signalKey)
    expect(hex(keys.roomId)).toBe(room.roomId)
    expect(keys.roomIdText).toBe(room.roomIdText)
  })

  it('the keys match independent HKDF / Ed25519 / SHA-256 (node:crypto)', () => {
    const hkdf = (label: string): string =>
      Buffer.from(hkdfSync('sha256', bytes(room.secret), Buffer.from('roomkv/v1'), Buffer.from(`roomkv/v1/${label}`), 32)).toString('hex')
    expect(room.signingSeed).toBe(hkdf('sign'))
    expect(room.encryptionKey).toBe(hkdf('encrypt'))
    expect(room.nameKey).toBe(hkdf('name'))
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(room.signingSeed, 'hex')])
    const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' })
    expect(Buffer.from(jwk.x as string, 'base64url').toString('hex')).toBe(room.roomKey)
    expect(createHash('sha256').update(Buffer.from(room.roomKey, 'hex')).digest('hex').slice(0, 32)).toBe(room.roomId)
  })

  it('the room code and link are reproduced and parse back', () => {
    expect(formatRoomCode(keys.secret)).toBe(room.roomCode)
    expect(formatRoomLink(room.origin, keys.secret)).toBe(room.roomLink)
    const parsed = parseRoomLink(room.roomLink)
    expect(parsed.origin).toBe(room.origin)
    expect(hex(parsed.secret)).toBe(room.secret)
    expect(hex(parseRoomLink(room.roomCode).secret)).toBe(room.secret)
  })
})

describe.each(vectors.records.map(v => [v.name, v] as const))('test vector "%s"', (_name, vector) => {
  const { input } = vector
  const sealInit = {
    key: input.key,
    value: input.value,
    deleted: input.deleted,
    clock: input.clock,
    writer: input.writer,
    expiresAt: input.expiresAt,
    replaces: input.replaces.map(bytes),
    seen: input.seen,
    nonce: bytes(input.nonce)
  }
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(room.roomKey, 'hex').toString('base64url') }, format: 'jwk' })

  it('keyIdFor and dhtKeyFor reproduce the key id and DHT key', () => {
    const keyId = keyIdFor(keys, input.key)
    expect(hex(keyId)).toBe(vector.keyId)
    expect(createHmac('sha256', Buffer.from(room.nameKey, 'hex')).update(input.key, 'utf8').digest('hex')).toBe(vector.keyId)
    expect(new TextDecoder().decode(dhtKeyFor(keys.roomId, keyId))).toBe(vector.dhtKey)
    expect(vector.dhtKey).toBe(`/roomkv/${room.roomIdText}/${toString(keyId, 'base32')}`)
    const parsed = parseDhtKey(new TextEncoder().encode(vector.dhtKey))
    expect(hex(parsed.roomId)).toBe(room.roomId)
    expect(hex(parsed.keyId)).toBe(vector.keyId)
  })

  it('sealRecord reproduces the record bytes exactly', () => {
    const record = sealRecord(keys, sealInit)
    expect(hex(record)).toBe(vector.record)
    const signed = SignedRecord.decode(record)
    expect(hex(signed.body)).toBe(vector.body)
    expect(hex(signed.signature)).toBe(vector.signature)
    expect(hex(RecordBody.decode(signed.body).sealed)).toBe(vector.sealed)
    expect(hex(recordIdOf(signed.body))).toBe(vector.recordId)
    // sealing twice gives the same bytes (deterministic signature, fixed nonce)
    expect(hex(sealRecord(keys, sealInit))).toBe(vector.record)
  })

  it('the parts fit together: record = SignedRecord(body, signature), canonical encodings', () => {
    expect(hex(SignedRecord.encode({ body: bytes(vector.body), signature: bytes(vector.signature) }))).toBe(vector.record)
    const body = RecordBody.decode(bytes(vector.body))
    expect(hex(RecordBody.encode(body))).toBe(vector.body)
    expect(body).toEqual({
      format: 2,
      roomKey: bytes(room.roomKey),
      keyId: bytes(vector.keyId),
      sealed: bytes(vector.sealed),
      hlcWall: input.clock.wall,
      hlcCounter: input.clock.counter,
      writer: input.writer,
      expiresAt: input.expiresAt,
      replaces: input.replaces.map(bytes),
      tombstone: input.deleted,
      seen: (input.seen ?? []).map(s => ({ writer: s.writer, wall: s.clock.wall, counter: s.clock.counter }))
    })
    expect(Payload.decode(bytes(vector.payload))).toEqual({
      name: input.key,
      value: input.deleted ? '' : JSON.stringify(input.value)
    })
    expect(vector.sealed.slice(0, 24)).toBe(input.nonce)
  })

  it('the signature verifies with node:crypto Ed25519 over "roomkv/v1/record\\0" || body', () => {
    const message = Buffer.concat([Buffer.from('roomkv/v1/record\0'), Buffer.from(vector.body, 'hex')])
    expect(nodeVerify(null, message, publicKey, Buffer.from(vector.signature, 'hex'))).toBe(true)
    expect(nodeVerify(null, Buffer.from(vector.body, 'hex'), publicKey, Buffer.from(vector.signature, 'hex'))).toBe(false)
  })

  it('the payload decrypts with node:crypto AES-256-GCM under aad "roomkv/v2/payload\\0" || the body without its sealed field', () => {
    const sealed = Buffer.from(vector.sealed, 'hex')
    // The sealed field's bytes (tag 0x22, length, nonce || ciphertext || tag), cut out of the body.
    const field = Buffer.concat([Buffer.from([0x22]), Buffer.from(varintBytes(sealed.length)), sealed]).toString('hex')
    expect(vector.body.split(field)).toHaveLength(2)
    const aad = Buffer.concat([Buffer.from('roomkv/v2/payload\0'), Buffer.from(vector.body.replace(field, ''), 'hex')])
    expect(aad.toString('hex')).toBe(vector.aad)
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(room.encryptionKey, 'hex'), sealed.subarray(0, 12))
    decipher.setAAD(aad)
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()])
    expect(plain.toString('hex')).toBe(vector.payload)
  })

  it('the record id is SHA-256(body)[0..16]', () => {
    expect(createHash('sha256').update(Buffer.from(vector.body, 'hex')).digest('hex').slice(0, 32)).toBe(vector.recordId)
  })

  it('verifyRecord + openRecord of the vector bytes give back the inputs', () => {
    const record = verifyRecord(bytes(vector.record), {
      now: input.clock.wall,
      roomId: bytes(room.roomId),
      keyId: bytes(vector.keyId)
    })
    expect(hex(record.id)).toBe(vector.recordId)
    expect(hex(record.roomId)).toBe(room.roomId)
    expect(record.clock).toEqual(input.clock)
    const entry = openRecord(keys, record)
    expect(entry.key).toBe(input.key)
    expect(entry.deleted).toBe(input.deleted)
    expect(entry.value).toEqual(input.deleted ? undefined : input.value)
    expect(entry.writer).toBe(input.writer)
    expect(entry.expiresAt).toBe(input.expiresAt)
    expect(entry.clock).toEqual(input.clock)
    expect(entry.replaces.map(hex)).toEqual(input.replaces)
    expect(hex(entry.keyId)).toBe(vector.keyId)
    expect(hex(entry.id)).toBe(vector.recordId)
    // Stored under its DHT key (validateDhtRecord's check, at the vector's own time).
    expect(() => verifyRecord(bytes(vector.record), { now: input.clock.wall, ...parseDhtKey(new TextEncoder().encode(vector.dhtKey)) })).not.toThrow()
  })
})

describe('test vectors: relations between records', () => {
  const byName = new Map(vectors.records.map(v => [v.name, v]))

  it('the expiring vector expires exactly at expiresAt', () => {
    const v = byName.get('expiring')!
    expect(v.input.expiresAt).toBeGreaterThan(0)
    expect(() => verifyRecord(bytes(v.record), { now: v.input.expiresAt - 1 })).not.toThrow()
    expect(() => verifyRecord(bytes(v.record), { now: v.input.expiresAt })).toThrow(/expired/)
  })

  it('the replaces vector supersedes the value vector', () => {
    expect(byName.get('replaces')!.input.replaces).toEqual([byName.get('value')!.recordId])
  })

  it('the tombstone and replaces vectors are for the same key as the value vector', () => {
    expect(byName.get('tombstone')!.keyId).toBe(byName.get('value')!.keyId)
    expect(byName.get('replaces')!.keyId).toBe(byName.get('value')!.keyId)
    expect(byName.get('expiring')!.keyId).not.toBe(byName.get('value')!.keyId)
  })

  it('every vector uses its own nonce', () => {
    expect(new Set(vectors.records.map(v => v.input.nonce)).size).toBe(vectors.records.length)
  })
})

describe('test vectors: the peer id used in `delivered`', () => {
  const { peer } = vectors

  it('is the Ed25519 key of the fixed seed, as identity multihash and as text', async () => {
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(peer.seed, 'hex')])
    const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' })
    expect(Buffer.from(jwk.x as string, 'base64url').toString('hex')).toBe(peer.publicKey)
    expect(peer.multihash).toBe(`002408011220${peer.publicKey}`)
    const id = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', bytes(peer.seed)))
    expect(id.toString()).toBe(peer.peerId)
    expect(hex(id.toMultihash().bytes)).toBe(peer.multihash)
    expect(peerIdFromMultihash(Digest.decode(bytes(peer.multihash))).toString()).toBe(peer.peerId)
  })
})

/** The decoded message a vector's documented fields stand for (defaults filled in, hex to bytes, enums by name). */
function expectedMessage (vector: FrameVector): ReplicateFrame {
  const f = vector.fields
  return {
    roomId: bytes(f.roomId ?? ''),
    seq: f.seq ?? 0,
    records: (f.records ?? []).map(bytes),
    delivered: (f.delivered ?? []).map(bytes),
    ack: f.ack ?? 0,
    results: (f.results ?? []).map((r: { status?: string, code?: string }) => ({ status: r.status ?? 'STORED', code: r.code ?? '' })),
    error: f.error ?? '',
    members: (f.members ?? []).map(bytes),
    query: f.query ?? 0,
    want: (f.want ?? []).map(bytes),
    reply: f.reply ?? 0,
    signalPeer: bytes(f.signalPeer ?? ''),
    signal: bytes(f.signal ?? ''),
    signals: f.signals ?? false
  }
}

describe('test vectors: stream frames', () => {
  const byName = new Map(vectors.frames.map(f => [f.name, f]))
  const recordsByName = new Map(vectors.records.map(v => [v.name, v]))
  const decoded = (name: string): any => {
    const v = byName.get(name)!
    return ReplicateFrame.decode(bytes(v.encoding))
  }

  it('has the documented frames', () => {
    expect(vectors.frames.map(f => f.name)).toEqual([
      'replicate-hello', 'replicate-batch', 'replicate-ack', 'replicate-batch-refused', 'replicate-session-refused'
    ])
  })

  it.each(vectors.frames.map(f => [f.name, f] as const))('%s: decode gives the documented fields, encode reproduces the bytes, frame = varint length || message', (_name, vector) => {
    const expected = expectedMessage(vector)
    // The limits a session reader applies (replication.ts).
    const message = ReplicateFrame.decode(bytes(vector.encoding), { limits: { records: MAX_REPLICATE_RECORDS, delivered: 64, results: MAX_REPLICATE_RECORDS } })
    expect(message).toMatchObject(expected)
    expect(hex(ReplicateFrame.encode(message))).toBe(vector.encoding)
    expect(hex(ReplicateFrame.encode(expected))).toBe(vector.encoding)
    expect(bytes(vector.frame).length).toBeLessThanOrEqual(MAX_REPLICATE_FRAME_BYTES)
    // Independent framing: it-length-prefixed, as lpStream/pbStream write it.
    expect(hex(lpEncode.single(bytes(vector.encoding)).subarray())).toBe(vector.frame)
  })

  it('hello: only the 16-byte room id of the record vectors\' room', () => {
    const hello = decoded('replicate-hello')
    expect(hex(hello.roomId)).toBe(room.roomId)
    expect(hello.seq).toBe(0)
    expect(hello.ack).toBe(0)
    expect(byName.get('replicate-hello')!.frame).toBe(`120a10${room.roomId}`)
  })

  it('batch: seq 1 carries the "value" record, which verifies for the hello\'s room, and delivered names the vector peer', () => {
    const batch = decoded('replicate-batch')
    const value = recordsByName.get('value')!
    expect(batch.seq).toBe(1)
    expect(batch.ack).toBe(0)
    expect(batch.records.map(hex)).toEqual([value.record])
    expect(hex(verifyRecord(batch.records[0], { now: value.input.clock.wall, roomId: bytes(room.roomId) }).id)).toBe(value.recordId)
    expect(batch.delivered.map((d: Uint8Array) => peerIdFromMultihash(Digest.decode(d)).toString())).toEqual([vectors.peer.peerId])
  })

  it('ack: one result per record in batch order; STORED is the proto3 default, so its AckResult is the empty message (32 00)', () => {
    const ack = decoded('replicate-ack')
    expect(ack.ack).toBe(2)
    expect(ack.seq).toBe(0)
    expect(ack.error).toBe('')
    expect(ack.results).toEqual([
      { status: AckResult.Status.STORED, code: '' },
      { status: AckResult.Status.KNOWN, code: '' },
      { status: AckResult.Status.REFUSED, code: 'ERR_ROOM_FULL' }
    ])
    expect(byName.get('replicate-ack')!.encoding.startsWith('28023200320208013211')).toBe(true)
  })

  it('batch refusal: ack with an error code and no results; session refusal: error without ack', () => {
    const refused = decoded('replicate-batch-refused')
    expect(refused.ack).toBe(3)
    expect(refused.error).toBe('ERR_INVALID_RECORD')
    expect(refused.results).toEqual([])
    const session = decoded('replicate-session-refused')
    expect(session.ack).toBe(0)
    expect(session.seq).toBe(0)
    expect(session.error).toBe('ERR_WRONG_ROOM')
  })

})

describe('test vectors: sync', () => {
  const sync = vectors.sync
  const le = (text: string): bigint => BigInt('0x' + (Buffer.from(text, 'hex').reverse().toString('hex') || '0'))

  it.each(sync.fingerprints.map(f => [f.name, f] as const))('fingerprint %s: SHA-256(sum of ids as u128 LE mod 2^128 || count as u64 LE)[0..16]', (_name, f) => {
    // Independent: BigInt sum and node:crypto.
    const sum = f.ids.reduce((acc, id) => (acc + le(id)) % (1n << 128n), 0n)
    expect(sum).toBe(le(f.sum))
    expect(f.count).toBe(f.ids.length)
    const count = Buffer.alloc(8)
    count.writeBigUInt64LE(BigInt(f.count))
    const digest = createHash('sha256').update(Buffer.concat([Buffer.from(f.sum, 'hex'), count])).digest('hex').slice(0, 32)
    expect(digest).toBe(f.fingerprint)
    // And the implementation.
    expect(hex(fingerprintOfIds(bytes(f.ids.join('')), 0, f.ids.length))).toBe(f.fingerprint)
  })

  it.each(sync.bounds.map(b => [b.bound, b] as const))('bound %s: the shortest prefix of the upper item above the lower one', (_name, b) => {
    expect(b.at.startsWith(b.bound)).toBe(true)
    expect(b.below < b.bound).toBe(true) // hex strings compare like the bytes
    expect(b.below.startsWith(b.bound.slice(0, -2))).toBe(true)
    const items = itemsFrom([b.below, b.at].map(i => ({ keyId: bytes(i.slice(0, 64)), recordId: bytes(i.slice(64)) })))
    expect(hex(boundBefore(items, 1))).toBe(b.bound)
  })

  it('full exchange: the same messages, byte for byte, and both sides end with the union', () => {
    const e = sync.exchange
    const toItems = (list: string[]): SyncItems => itemsFrom(list.map(i => ({ keyId: bytes(i.slice(0, 64)), recordId: bytes(i.slice(64)) })))
    const asker = toItems(e.asker)
    const responder = toItems(e.responder)
    let ranges = openingRanges(asker, e.limits)
    const produced: string[] = [hex(SyncQuery.encode({ roomId: bytes(e.roomId), ranges, want: new Uint8Array(0) }))]
    for (let round = 1; round < 10; round++) {
      const step = reconcile(responder, ranges, e.limits)
      produced.push(hex(SyncReply.encode({ ranges: step.ranges, need: concatIds(step.iLack), records: [], last: step.theyLack.length === 0, error: '', total: round === 1 ? responder.count : 0 })))
      const next = reconcile(asker, step.ranges, e.limits)
      produced.push(hex(SyncQuery.encode({ roomId: bytes(e.roomId), ranges: next.open ? next.ranges : [], want: concatIds(next.iLack) })))
      if (!next.open) {
        if (next.iLack.length > 0) produced.push('')
        break
      }
      ranges = next.ranges
    }
    expect(produced).toEqual(e.messages.map(m => m.encoding))
    for (const m of e.messages) {
      expect(hex(lpEncode.single(bytes(m.encoding)).subarray())).toBe(m.frame)
      if (m.message === 'SyncQuery') {
        const q = SyncQuery.decode(bytes(m.encoding))
        expect(bytes(m.frame).length).toBeLessThanOrEqual(MAX_SYNC_QUERY_BYTES)
        if (q.ranges.length > 0) expect(() => { checkRanges(q.ranges) }).not.toThrow()
      } else if (m.encoding !== '') {
        const r = SyncReply.decode(bytes(m.encoding))
        if (r.ranges.length > 0) expect(() => { checkRanges(r.ranges) }).not.toThrow()
      }
    }
    // Each side plus what it lacks is the union.
    const ids = (list: string[]): Set<string> => new Set(list.map(i => i.slice(64)))
    const union = new Set([...ids(e.asker), ...ids(e.responder)])
    expect(new Set([...ids(e.asker), ...e.askerLacks])).toEqual(union)
    expect(new Set([...ids(e.responder), ...e.responderLacks])).toEqual(union)
    expect(e.askerLacks.every(id => !ids(e.asker).has(id))).toBe(true)
  })
})

function concatIds (list: Uint8Array[]): Uint8Array {
  return bytes(list.map(hex).join(''))
}

describe('test vectors: a sealed WebRTC signal', () => {
  const v = vectors.signal
  it('seals to the documented bytes, and opens to the documented offer', async () => {
    const senderKey = await generateKeyPairFromSeed('Ed25519', bytes(v.senderSeed))
    const sender = peerIdFromPrivateKey(senderKey)
    const receiver = peerIdFromMultihash(Digest.decode(bytes(vectors.peer.multihash)))
    expect(sender.toString()).toBe(v.senderPeerId)
    expect(hex(keys.signalKey)).toBe(v.signalKey)
    const dial = BigInt(`0x${v.dial}`)
    expect(hex(signalSigningBytes(receiver.toMultihash().bytes, dial, SignalMessage.Type.OFFER, v.data))).toBe(v.signingBytes)
    const sealed = await sealSignal(keys, senderKey, { to: receiver, dial, type: SignalMessage.Type.OFFER, data: v.data }, bytes(v.nonce))
    expect(hex(sealed)).toBe(v.sealed)
    const message = SignalMessage.decode(bytes(v.message))
    expect(hex(message.signature)).toBe(v.signature)
    expect(hex(message.from)).toBe(v.senderPublicKeyProtobuf)
    const opened = await openSignal(keys, bytes(v.sealed), sender, receiver)
    expect(opened.data).toBe(v.data)
    expect(opened.dial).toBe(dial)
    const frame = ReplicateFrame.decode(bytes(v.frame).subarray(2)) // a 2-byte varint length first
    expect(hex(frame.signal)).toBe(v.sealed)
    expect(hex(frame.signalPeer)).toBe(vectors.peer.multihash)
  })
})
