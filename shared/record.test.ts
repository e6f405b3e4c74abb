import { gcm } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { compare, concat, equals, toString } from 'uint8arrays'
import {
  KiB, MAX_CLOCK_SKEW, MAX_KEY_BYTES, MAX_RECORD_BYTES, MAX_REPLACES, MAX_VALUE_BYTES, MAX_WRITER_CHARS, RECORD_ID_BYTES
} from './constants.ts'
import { RoomkvError } from './errors.ts'
import { compareClocks, type Clock } from './hlc.ts'
import { Payload, RecordBody, SignedRecord } from './proto/record.ts'
import { compareRecords, encodeValue, recordIdOf, sealRecordAsync, selectRecord, validateKeyName, verifyRecord, verifyRecordAsync, type SealInit, type VerifiedRecord } from './record.ts'
import { openRecord, sealRecord } from './record-js.ts'
import { deriveRoomKeys, keyIdFor, type RoomKeys } from './room-keys.ts'
import { prng } from './test-support.ts'

// Wire constants from the record format (not exported by record.ts).
const SIGNATURE_PREFIX = new TextEncoder().encode('roomkv/v1/record\0')
const AAD_PREFIX = new TextEncoder().encode('roomkv/v1/payload\0')
const AAD_PREFIX_V2 = new TextEncoder().encode('roomkv/v2/payload\0')

const NOW = 1_767_225_600_000
const keysA = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const keysB = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))

function shuffle<T> (items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

function randomBytes (length: number, random: () => number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256))
}

const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')

function seal (init: Partial<SealInit> = {}, keys: RoomKeys = keysA): Uint8Array {
  return sealRecord(keys, { key: 'greeting', value: { text: 'hello' }, clock: { wall: NOW, counter: 0 }, writer: 'writer-1', ...init })
}

const verify = (bytes: Uint8Array, options: Parameters<typeof verifyRecord>[1] = {}): VerifiedRecord =>
  verifyRecord(bytes, { now: NOW, ...options })

/** The error code fn throws; fails the test when it throws something that is not a RoomkvError. */
function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof RoomkvError)) throw new Error(`expected a RoomkvError, got ${String(err)}`)
    return err.code
  }
  return 'NO_ERROR'
}

function errorOf (fn: () => unknown): RoomkvError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(RoomkvError)
    return err as RoomkvError
  }
  throw new Error('expected an error, none was thrown')
}

/** Split a record into its signed body (decoded) and signature. */
function decodeRecord (bytes: Uint8Array): { body: RecordBody, signature: Uint8Array } {
  const signed = SignedRecord.decode(bytes)
  return { body: RecordBody.decode(signed.body), signature: signed.signature }
}

/** Encode and sign a body as the holder of `keys` would. */
function resign (body: Partial<RecordBody>, keys: RoomKeys): Uint8Array {
  const encoded = RecordBody.encode(body)
  return SignedRecord.encode({ body: encoded, signature: ed25519.sign(concat([SIGNATURE_PREFIX, encoded]), keys.signingSeed) })
}

/** Format 1's payload AAD: the room id and key id only. */
function aadV1 (roomId: Uint8Array, keyId: Uint8Array): Uint8Array {
  return concat([AAD_PREFIX, roomId, keyId])
}

/** Format 2's payload AAD, written out here: the prefix, then the body encoded without `sealed`. */
function aadV2 (body: RecordBody): Uint8Array {
  return concat([AAD_PREFIX_V2, RecordBody.encode({ ...body, sealed: new Uint8Array(0) })])
}

/** Encrypt a payload for `body` (its own sealed field is ignored) the way sealRecord does. */
function encryptPayload (keys: RoomKeys, body: RecordBody, payload: Payload, nonce = new Uint8Array(12).fill(7)): Uint8Array {
  const associated = body.format === 1 ? aadV1(keys.roomId, body.keyId) : aadV2(body)
  return concat([nonce, gcm(keys.encryptionKey, nonce, associated).encrypt(Payload.encode(payload))])
}

describe('seal / verify / open round trip', () => {
  const values: Array<[string, unknown]> = [
    ['a string', 'hello'],
    ['an empty string', ''],
    ['a number', 42],
    ['a negative float', -1.5e-7],
    ['zero', 0],
    ['a boolean', false],
    ['an object', { text: 'hello', nested: { n: 1, list: [1, 'two', null] } }],
    ['an empty object', {}],
    ['an array', [1, 'two', { three: 3 }, [4]]],
    ['null', null],
    ['unicode text', 'héllo wörld ✓ 🔑 \u0000 "quoted" \\'],
    ['a maximal value', 'x'.repeat(MAX_VALUE_BYTES - 2)]
  ]

  for (const [what, value] of values) {
    it(`round-trips ${what}`, () => {
      const bytes = seal({ value, key: 'k' })
      const record = verify(bytes, { roomId: keysA.roomId, keyId: keyIdFor(keysA, 'k') })
      const entry = openRecord(keysA, record)
      expect(entry.value).toEqual(value)
      expect(entry.key).toBe('k')
      expect(entry.deleted).toBe(false)
    })
  }

  it('round-trips every field', () => {
    const replaced = [recordIdOf(new Uint8Array([1])), recordIdOf(new Uint8Array([2]))]
    const clock = { wall: NOW - 5, counter: 77 }
    const bytes = seal({ key: 'clé 🔑/ünïcode', value: [1, 2], clock, writer: 'writer-ß', expiresAt: NOW + 1000, replaces: replaced })
    const record = verify(bytes)
    expect(record.bytes).toBe(bytes)
    expect(record.clock).toEqual(clock)
    expect(hex(record.roomId)).toBe(hex(keysA.roomId))
    expect(hex(record.id)).toBe(hex(recordIdOf(SignedRecord.decode(bytes).body)))
    expect(record.id.length).toBe(RECORD_ID_BYTES)
    expect(hex(record.body.roomKey)).toBe(hex(keysA.roomKey))
    expect(record.body.format).toBe(2)
    const entry = openRecord(keysA, record)
    expect(entry).toEqual({
      key: 'clé 🔑/ünïcode',
      value: [1, 2],
      deleted: false,
      clock,
      writer: 'writer-ß',
      expiresAt: NOW + 1000,
      keyId: keyIdFor(keysA, 'clé 🔑/ünïcode'),
      id: record.id,
      replaces: replaced
    })
  })

  it('hides the key name and value from anyone without the secret', () => {
    const bytes = seal({ key: 'secret-key-name', value: 'secret-value-text' })
    const text = new TextDecoder('latin1').decode(bytes)
    expect(text).not.toContain('secret-key-name')
    expect(text).not.toContain('secret-value-text')
  })

  it('uses a fresh nonce per seal unless one is given', () => {
    const a = seal()
    const b = seal()
    expect(equals(a, b)).toBe(false)
    expect(hex(verify(a).id)).not.toBe(hex(verify(b).id))
    const nonce = new Uint8Array(12).fill(0xa0)
    expect(hex(seal({ nonce }))).toBe(hex(seal({ nonce })))
    expect(hex(decodeRecord(seal({ nonce })).body.sealed.subarray(0, 12))).toBe(hex(nonce))
  })

  it('encodes the body canonically (decode then encode gives the same bytes)', () => {
    const signed = SignedRecord.decode(seal({ expiresAt: NOW + 1, replaces: [new Uint8Array(16)], deleted: true }))
    expect(hex(RecordBody.encode(RecordBody.decode(signed.body)))).toBe(hex(signed.body))
  })
})

describe('tombstones', () => {
  it('open as deleted with an undefined value', () => {
    const record = verify(seal({ deleted: true, value: undefined }))
    expect(record.body.tombstone).toBe(true)
    const entry = openRecord(keysA, record)
    expect(entry.deleted).toBe(true)
    expect(entry.value).toBeUndefined()
    expect(entry.key).toBe('greeting')
  })

  it('ignore (and do not carry) any value given', () => {
    const bytes = seal({ deleted: true, value: { big: 'x'.repeat(MAX_VALUE_BYTES * 2) } })
    expect(bytes.length).toBeLessThan(1 * KiB)
    expect(openRecord(keysA, verify(bytes)).value).toBeUndefined()
  })

  it('are distinct versions from the value they delete', () => {
    const value = verify(seal({ clock: { wall: NOW, counter: 0 } }))
    const tomb = verify(seal({ deleted: true, clock: { wall: NOW, counter: 1 }, replaces: [value.id] }))
    expect(compareRecords(tomb, value)).toBeGreaterThan(0)
    expect(openRecord(keysA, tomb).replaces).toEqual([value.id])
  })
})

describe('expiry', () => {
  const bytes = seal({ expiresAt: NOW + 1000 })

  it('a record is live until expiresAt', () => {
    expect(codeOf(() => verify(bytes, { now: NOW }))).toBe('NO_ERROR')
    expect(codeOf(() => verify(bytes, { now: NOW + 999 }))).toBe('NO_ERROR')
  })

  it('throws RecordExpiredError from expiresAt on', () => {
    const err = errorOf(() => verify(bytes, { now: NOW + 1000 }))
    expect(err.code).toBe('ERR_RECORD_EXPIRED')
    expect(err.name).toBe('RecordExpiredError')
    expect(codeOf(() => verify(bytes, { now: NOW + 10 ** 9 }))).toBe('ERR_RECORD_EXPIRED')
  })

  it('allowExpired accepts it, and it still opens', () => {
    const record = verify(bytes, { now: NOW + 10 ** 9, allowExpired: true })
    expect(openRecord(keysA, record).expiresAt).toBe(NOW + 1000)
  })

  it('expiresAt 0 never expires', () => {
    const forever = seal({ expiresAt: 0 })
    expect(codeOf(() => verify(forever, { now: 8.64e15 }))).toBe('NO_ERROR')
    expect(openRecord(keysA, verify(forever)).expiresAt).toBe(0)
  })
})

describe('verifyRecord rejects forgeries and damage', () => {
  const bytes = seal({ expiresAt: NOW + 60_000, replaces: [new Uint8Array(16).fill(1)] })
  const signed = SignedRecord.decode(bytes)
  const { body } = decodeRecord(bytes)

  it('the test helpers produce records that verify (so failures below mean something)', () => {
    expect(codeOf(() => verify(bytes, { roomId: keysA.roomId, keyId: keyIdFor(keysA, 'greeting') }))).toBe('NO_ERROR')
    const again = resign(body, keysA)
    expect(hex(again)).toBe(hex(bytes)) // Ed25519 is deterministic: same body, same record
  })

  it('a bit flip anywhere in the signature: ERR_BAD_SIGNATURE', { timeout: 60_000 }, () => {
    const sigStart = bytes.length - 64
    expect(hex(bytes.subarray(sigStart))).toBe(hex(signed.signature))
    for (let i = 0; i < 64; i++) {
      for (const bit of [i % 8, (i + 3) % 8]) {
        const copy = Uint8Array.from(bytes)
        copy[sigStart + i] ^= 1 << bit
        expect(codeOf(() => verify(copy)), `byte ${i} bit ${bit}`).toBe('ERR_BAD_SIGNATURE')
      }
    }
  })

  it('a bit flip anywhere in the body: ERR_BAD_SIGNATURE or ERR_INVALID_RECORD', { timeout: 60_000 }, () => {
    const bodyStart = bytes.length - 66 - signed.body.length
    expect(hex(bytes.subarray(bodyStart, bodyStart + signed.body.length))).toBe(hex(signed.body))
    const codes = new Map<string, number>()
    for (let i = 0; i < signed.body.length; i++) {
      for (const bit of [i % 8, 7 - (i % 8)]) {
        const copy = Uint8Array.from(bytes)
        copy[bodyStart + i] ^= 1 << bit
        const code = codeOf(() => verify(copy))
        expect(['ERR_BAD_SIGNATURE', 'ERR_INVALID_RECORD'], `byte ${i} bit ${bit}`).toContain(code)
        codes.set(code, (codes.get(code) ?? 0) + 1)
      }
    }
    expect(codes.get('ERR_BAD_SIGNATURE')).toBeGreaterThan(0)
  })

  it('a bit flip in the framing (outer tags and lengths) never yields a different valid record', () => {
    const original = verify(bytes)
    let rejected = 0
    for (const i of [0, 1, 2, bytes.length - 66, bytes.length - 65]) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Uint8Array.from(bytes)
        copy[i] ^= 1 << bit
        let record: VerifiedRecord
        try {
          record = verify(copy)
        } catch (err) {
          expect(['ERR_BAD_SIGNATURE', 'ERR_INVALID_RECORD'], `byte ${i} bit ${bit}`).toContain(codeOf(() => { throw err }))
          rejected++
          continue
        }
        // Accepted (see the non-canonical encoding test below): then it must be the same record.
        expect(hex(record.id), `byte ${i} bit ${bit}`).toBe(hex(original.id))
        expect(hex(SignedRecord.decode(copy).signature)).toBe(hex(signed.signature))
        expect(hex(SignedRecord.decode(copy).body)).toBe(hex(signed.body))
      }
    }
    expect(rejected).toBeGreaterThan(20)
  })

  // Regression guard (shared/record.ts, verifyRecord): the outer SignedRecord encoding is not
  // required to be canonical. protons ignores the wire type of known fields and
  // skips unknown fields, so anyone (no secret needed) can turn one valid record
  // into many different byte strings with the same id: change a tag's wire-type
  // bits, append unknown fields (up to MAX_RECORD_BYTES), repeat a field.
  // `VerifiedRecord.bytes` is what gets stored and re-served, so replicas can hold
  // and pass around different (and padded) bytes for one version. Fixed by:
  // after decoding, reject unless
  // `equals(SignedRecord.encode({ body: signed.body, signature: signed.signature }), bytes)`.
  it('a non-canonical outer encoding of a valid record: ERR_INVALID_RECORD', () => {
    const wireType = Uint8Array.from(bytes)
    wireType[0] ^= 0x01 // field 1, wire type 3 instead of 2
    const padded = concat([bytes, new Uint8Array([0x7a, 0x04, 1, 2, 3, 4])]) // unknown field 15
    const repeated = concat([SignedRecord.encode({ body: new Uint8Array([1, 2, 3]) }), bytes]) // body given twice
    for (const variant of [wireType, padded, repeated]) {
      expect(codeOf(() => verify(variant))).toBe('ERR_INVALID_RECORD')
    }
  })

  // verifyRecord checks the outer framing in place instead of re-encoding;
  // it must accept exactly the byte strings equal to their re-encoding.
  it('the outer framing check accepts exactly the canonical encoding', () => {
    const { body: inner, signature } = SignedRecord.decode(bytes)
    const lengthBytes = bytes.subarray(1, bytes.length - inner.length - 66)
    const nonMinimal = concat([new Uint8Array([0x0a]), lengthBytes.map((b, i) => i === lengthBytes.length - 1 ? b | 0x80 : b), new Uint8Array([0]), inner, bytes.subarray(bytes.length - 66)])
    const swapped = concat([bytes.subarray(bytes.length - 66), bytes.subarray(0, bytes.length - 66)]) // signature first
    const shortSignature = SignedRecord.encode({ body: inner, signature: signature.subarray(0, 63) })
    for (const variant of [nonMinimal, swapped, shortSignature]) {
      const decoded = SignedRecord.decode(variant)
      expect(hex(SignedRecord.encode(decoded)) === hex(variant)).toBe(variant === shortSignature)
      expect(codeOf(() => verify(variant))).toBe('ERR_INVALID_RECORD')
    }
    expect(hex(SignedRecord.encode({ body: inner, signature }))).toBe(hex(bytes))
    expect(hex(verify(bytes).bytes)).toBe(hex(bytes))
  })

  it('a body changed and re-signed by another room, claimed for this room: ERR_WRONG_ROOM', () => {
    const forged = resign({ ...body, roomKey: keysB.roomKey, hlcWall: NOW + 1 }, keysB)
    // It is a perfectly good record of room B...
    expect(hex(verify(forged).roomId)).toBe(hex(keysB.roomId))
    // ...so only the room binding stops it.
    const err = errorOf(() => verify(forged, { roomId: keysA.roomId }))
    expect(err.code).toBe('ERR_WRONG_ROOM')
    expect(err.name).toBe('WrongRoomError')
    // A member of room A cannot open it either.
    expect(codeOf(() => openRecord(keysA, verify(forged)))).toBe('ERR_WRONG_ROOM')
    // A member of room B can't decrypt it: the payload was sealed for room A.
    expect(codeOf(() => openRecord(keysB, verify(forged)))).toBe('ERR_DECRYPT')
  })

  it('a body claiming this room key but signed by another room: ERR_BAD_SIGNATURE', () => {
    const forged = resign({ ...body, hlcWall: NOW + 1 }, keysB)
    expect(codeOf(() => verify(forged))).toBe('ERR_BAD_SIGNATURE')
    expect(codeOf(() => verify(forged, { roomId: keysA.roomId }))).toBe('ERR_BAD_SIGNATURE')
  })

  it('a signature moved onto another body: ERR_BAD_SIGNATURE', () => {
    const other = SignedRecord.decode(seal({ value: 'other' }))
    expect(codeOf(() => verify(SignedRecord.encode({ body: other.body, signature: signed.signature })))).toBe('ERR_BAD_SIGNATURE')
  })

  it('a signature made without the domain prefix: ERR_BAD_SIGNATURE', () => {
    const signature = ed25519.sign(signed.body, keysA.signingSeed)
    expect(codeOf(() => verify(SignedRecord.encode({ body: signed.body, signature })))).toBe('ERR_BAD_SIGNATURE')
  })

  it('a keyId option for another key: ERR_WRONG_ROOM', () => {
    expect(codeOf(() => verify(bytes, { keyId: keyIdFor(keysA, 'other') }))).toBe('ERR_WRONG_ROOM')
    expect(codeOf(() => verify(bytes, { keyId: keyIdFor(keysB, 'greeting') }))).toBe('ERR_WRONG_ROOM')
    expect(codeOf(() => verify(bytes, { roomId: keysB.roomId }))).toBe('ERR_WRONG_ROOM')
    expect(codeOf(() => verify(bytes, { keyId: keyIdFor(keysA, 'greeting') }))).toBe('NO_ERROR')
  })

  it('every truncation: ERR_INVALID_RECORD', () => {
    for (let length = 0; length < bytes.length; length++) {
      expect(codeOf(() => verify(bytes.subarray(0, length))), `length ${length}`).toBe('ERR_INVALID_RECORD')
    }
  })

  it('random garbage: ERR_INVALID_RECORD (or ERR_BAD_SIGNATURE), never accepted', () => {
    const random = prng(0x9a4b)
    for (let i = 0; i < 300; i++) {
      const garbage = randomBytes(Math.floor(random() * 600), random)
      expect(['ERR_INVALID_RECORD', 'ERR_BAD_SIGNATURE']).toContain(codeOf(() => verify(garbage)))
    }
    // A garbage body behind a well-formed frame.
    for (let i = 0; i < 50; i++) {
      const garbage = SignedRecord.encode({ body: randomBytes(1 + Math.floor(random() * 300), random), signature: randomBytes(64, random) })
      expect(['ERR_INVALID_RECORD', 'ERR_BAD_SIGNATURE']).toContain(codeOf(() => verify(garbage)))
    }
    expect(codeOf(() => verify(new Uint8Array(0)))).toBe('ERR_INVALID_RECORD')
    expect(codeOf(() => verify('not bytes' as unknown as Uint8Array))).toBe('ERR_INVALID_RECORD')
    expect(codeOf(() => verify(Array.from(bytes) as unknown as Uint8Array))).toBe('ERR_INVALID_RECORD')
  })

  describe('oversized bytes', () => {
    afterEach(() => { vi.restoreAllMocks() })

    it('41 KiB of garbage: ERR_RECORD_TOO_LARGE, not ERR_INVALID_RECORD', () => {
      const garbage = randomBytes(41 * KiB, prng(41))
      const err = errorOf(() => verify(garbage))
      expect(err.code).toBe('ERR_RECORD_TOO_LARGE')
      expect(err.name).toBe('RecordTooLargeError')
    })

    it('the limit is MAX_RECORD_BYTES exactly', () => {
      expect(codeOf(() => verify(new Uint8Array(MAX_RECORD_BYTES)))).toBe('ERR_INVALID_RECORD')
      expect(codeOf(() => verify(new Uint8Array(MAX_RECORD_BYTES + 1)))).toBe('ERR_RECORD_TOO_LARGE')
    })

    it('is checked before any parsing', () => {
      const decode = vi.spyOn(SignedRecord, 'decode')
      expect(codeOf(() => verify(new Uint8Array(MAX_RECORD_BYTES + 1)))).toBe('ERR_RECORD_TOO_LARGE')
      expect(decode).not.toHaveBeenCalled()
      // ...while a small record is parsed (the spy is live).
      verify(bytes)
      expect(decode).toHaveBeenCalledTimes(1)
    })

    it('a well-formed record padded with an unknown field past the limit: ERR_RECORD_TOO_LARGE', () => {
      const padding = new Uint8Array(MAX_RECORD_BYTES) // field 15, bytes
      const padded = concat([bytes, new Uint8Array([0x7a]), varint(padding.length), padding])
      expect(codeOf(() => verify(padded))).toBe('ERR_RECORD_TOO_LARGE')
    })
  })

  it('a clock beyond MAX_CLOCK_SKEW in the future: ERR_INVALID_RECORD', () => {
    const edge = seal({ clock: { wall: NOW + MAX_CLOCK_SKEW, counter: 0 } })
    expect(codeOf(() => verify(edge))).toBe('NO_ERROR')
    const ahead = seal({ clock: { wall: NOW + MAX_CLOCK_SKEW + 1, counter: 0 } })
    const err = errorOf(() => verify(ahead))
    expect(err.code).toBe('ERR_INVALID_RECORD')
    expect(err.message).toMatch(/future/)
    // ...and it is fine once time catches up.
    expect(codeOf(() => verify(ahead, { now: NOW + 1 }))).toBe('NO_ERROR')
  })

  it('structural rules, each on an otherwise valid re-signed record: ERR_INVALID_RECORD', () => {
    const cases: Array<[string, Partial<RecordBody>]> = [
      ['unknown format 3', { format: 3 }],
      ['format 0 (missing)', { format: 0 }],
      ['31-byte room key', { roomKey: keysA.roomKey.subarray(0, 31) }],
      ['31-byte key id', { keyId: body.keyId.subarray(0, 31) }],
      ['33-byte key id', { keyId: concat([body.keyId, new Uint8Array(1)]) }],
      ['sealed shorter than nonce + tag', { sealed: body.sealed.subarray(0, 27) }],
      ['empty writer', { writer: '' }],
      ['writer too long', { writer: 'w'.repeat(MAX_WRITER_CHARS + 1) }],
      ['15-byte replaced id', { replaces: [new Uint8Array(15)] }],
      ['too many replaced ids', { replaces: Array.from({ length: MAX_REPLACES + 1 }, () => new Uint8Array(16)) }]
    ]
    for (const [what, change] of cases) {
      const forged = resign({ ...body, ...change }, keysA) // signed by the real room key
      expect(codeOf(() => verify(forged, { allowExpired: true })), what).toBe('ERR_INVALID_RECORD')
    }
    // uint64 fields beyond 2^53 (protons cannot encode them from a number, so
    // append the field by hand: the last occurrence of a scalar field wins).
    for (const [what, tag] of [['hlcWall', 0x28], ['expiresAt', 0x40]] as const) {
      for (const big of [2n ** 53n, 2n ** 64n - 1n]) {
        const encoded = concat([RecordBody.encode({ ...body, hlcWall: NOW - 1 }), new Uint8Array([tag]), bigVarint(big)])
        const forged = SignedRecord.encode({ body: encoded, signature: ed25519.sign(concat([SIGNATURE_PREFIX, encoded]), keysA.signingSeed) })
        expect(codeOf(() => verify(forged, { allowExpired: true })), `${what} = ${big}`).toBe('ERR_INVALID_RECORD')
      }
    }
    // A small value appended the same way is still refused: a body must be in
    // its one canonical encoding (no repeated or unknown fields), even signed.
    const encoded = concat([RecordBody.encode(body), new Uint8Array([0x28]), bigVarint(BigInt(NOW - 7))])
    const duplicated = SignedRecord.encode({ body: encoded, signature: ed25519.sign(concat([SIGNATURE_PREFIX, encoded]), keysA.signingSeed) })
    expect(codeOf(() => verify(duplicated))).toBe('ERR_INVALID_RECORD')
    expect(codeOf(() => verify(resign({ ...body, hlcWall: NOW - 7 }, keysA)))).toBe('NO_ERROR')
    // The limits themselves are accepted.
    const edge = resign({ ...body, writer: 'w'.repeat(MAX_WRITER_CHARS), replaces: Array.from({ length: MAX_REPLACES }, () => new Uint8Array(16)) }, keysA)
    expect(codeOf(() => verify(edge))).toBe('NO_ERROR')
  })

  it('a signature of the wrong length: ERR_INVALID_RECORD', () => {
    for (const signature of [signed.signature.subarray(0, 63), concat([signed.signature, new Uint8Array(1)]), new Uint8Array(0)]) {
      expect(codeOf(() => verify(SignedRecord.encode({ body: signed.body, signature })))).toBe('ERR_INVALID_RECORD')
    }
  })
})

/** Protobuf varint. */
function varint (n: number): Uint8Array {
  return bigVarint(BigInt(n))
}

function bigVarint (n: bigint): Uint8Array {
  const out: number[] = []
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80)
    n >>= 7n
  }
  out.push(Number(n))
  return Uint8Array.from(out)
}

describe('sealRecord refuses bad input', () => {
  it('a value over MAX_VALUE_BYTES as UTF-8 JSON: ERR_INVALID_VALUE', () => {
    expect(codeOf(() => seal({ value: 'x'.repeat(MAX_VALUE_BYTES - 2) }))).toBe('NO_ERROR')
    expect(codeOf(() => seal({ value: 'x'.repeat(MAX_VALUE_BYTES - 1) }))).toBe('ERR_INVALID_VALUE')
    expect(codeOf(() => seal({ value: { a: 'x'.repeat(MAX_VALUE_BYTES) } }))).toBe('ERR_INVALID_VALUE')
    // counted in bytes, not characters
    expect(codeOf(() => seal({ value: 'é'.repeat(MAX_VALUE_BYTES / 2) }))).toBe('ERR_INVALID_VALUE')
    // counted after JSON escaping
    expect(codeOf(() => seal({ value: '\u0001'.repeat(MAX_VALUE_BYTES / 4) }))).toBe('ERR_INVALID_VALUE')
  })

  it('a value that is not JSON-able: ERR_INVALID_VALUE', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const value of [undefined, () => 1, Symbol('s'), 10n, circular]) {
      expect(codeOf(() => seal({ value })), String(typeof value)).toBe('ERR_INVALID_VALUE')
    }
    expect(codeOf(() => seal({ value: undefined, deleted: false }))).toBe('ERR_INVALID_VALUE')
    const { value: _unused, ...noValue } = { value: 1, key: 'k', clock: { wall: NOW, counter: 0 }, writer: 'w' }
    expect(codeOf(() => sealRecord(keysA, noValue))).toBe('ERR_INVALID_VALUE')
  })

  it('a bad key name: ERR_INVALID_KEY', () => {
    expect(codeOf(() => seal({ key: 'k'.repeat(MAX_KEY_BYTES) }))).toBe('NO_ERROR')
    expect(codeOf(() => seal({ key: 'k'.repeat(MAX_KEY_BYTES + 1) }))).toBe('ERR_INVALID_KEY')
    expect(codeOf(() => seal({ key: 'é'.repeat(MAX_KEY_BYTES / 2 + 1) }))).toBe('ERR_INVALID_KEY') // 258 bytes, 129 chars
    expect(codeOf(() => seal({ key: '' }))).toBe('ERR_INVALID_KEY')
    expect(codeOf(() => seal({ key: 'lone \ud800 surrogate' }))).toBe('ERR_INVALID_KEY')
    expect(codeOf(() => seal({ key: 42 as unknown as string }))).toBe('ERR_INVALID_KEY')
    expect(codeOf(() => seal({ key: undefined as unknown as string }))).toBe('ERR_INVALID_KEY')
  })

  it('a bad writer or too many replaced ids: ERR_INVALID_RECORD', () => {
    expect(codeOf(() => seal({ writer: '' }))).toBe('ERR_INVALID_RECORD')
    expect(codeOf(() => seal({ writer: 'w'.repeat(MAX_WRITER_CHARS + 1) }))).toBe('ERR_INVALID_RECORD')
    expect(codeOf(() => seal({ writer: 'w'.repeat(MAX_WRITER_CHARS) }))).toBe('NO_ERROR')
    const ids = Array.from({ length: MAX_REPLACES + 1 }, (_, i) => new Uint8Array(16).fill(i))
    expect(codeOf(() => seal({ replaces: ids }))).toBe('ERR_INVALID_RECORD')
    expect(codeOf(() => seal({ replaces: ids.slice(0, MAX_REPLACES) }))).toBe('NO_ERROR')
  })

  it('a maximal record (longest key, value, writer and replaces) fits under MAX_RECORD_BYTES and verifies', () => {
    const bytes = seal({
      key: '🔑'.repeat(MAX_KEY_BYTES / 4),
      value: 'x'.repeat(MAX_VALUE_BYTES - 2),
      writer: 'w'.repeat(MAX_WRITER_CHARS),
      replaces: Array.from({ length: MAX_REPLACES }, (_, i) => new Uint8Array(16).fill(i)),
      expiresAt: Number.MAX_SAFE_INTEGER,
      clock: { wall: NOW, counter: 2 ** 32 - 1 }
    })
    expect(bytes.length).toBeLessThanOrEqual(MAX_RECORD_BYTES)
    const entry = openRecord(keysA, verify(bytes))
    expect(entry.key).toBe('🔑'.repeat(MAX_KEY_BYTES / 4))
    expect(entry.clock).toEqual({ wall: NOW, counter: 2 ** 32 - 1 })
  })

  // Regression guard (shared/record.ts, sealRecord): several fields are not validated, so
  // sealRecord either hands out signed records that verifyRecord rejects
  // (15-byte replaced id -> 'Replaced ids must be 16 bytes'; negative expiresAt
  // or clock.wall -> 'Record does not parse') or silently changes them
  // (clock.counter 2^32 is encoded as 0, clock.wall 1.5 as 1). Fixed by:
  // at the top of sealRecord, throw InvalidRecordError unless every replaces id
  // is RECORD_ID_BYTES long, clock.wall and expiresAt are non-negative safe
  // integers and clock.counter is an integer in [0, MAX_COUNTER].
  it('refuses fields verifyRecord would reject or the encoding would change: ERR_INVALID_RECORD', () => {
    const bad: Array<Partial<SealInit>> = [
      { replaces: [new Uint8Array(15)] },
      { expiresAt: -5 },
      { clock: { wall: -1, counter: 0 } },
      { clock: { wall: NOW + 0.5, counter: 0 } },
      { clock: { wall: NOW, counter: 2 ** 32 } }
    ]
    for (const init of bad) {
      expect(codeOf(() => seal(init)), JSON.stringify(init)).toBe('ERR_INVALID_RECORD')
    }
  })

  it('validateKeyName and encodeValue agree with sealRecord', () => {
    expect(() => validateKeyName('ok')).not.toThrow()
    expect(codeOf(() => validateKeyName(''))).toBe('ERR_INVALID_KEY')
    expect(encodeValue({ text: 'hello' })).toBe('{"text":"hello"}')
    expect(codeOf(() => encodeValue(undefined))).toBe('ERR_INVALID_VALUE')
  })
})

describe('openRecord', () => {
  const bytes = seal({ key: 'greeting', value: { text: 'hello' } })
  const record = verify(bytes)

  it('with another room\'s keys: ERR_WRONG_ROOM', () => {
    expect(codeOf(() => openRecord(keysB, record))).toBe('ERR_WRONG_ROOM')
  })

  it('with another room\'s keys and the room id check bypassed: ERR_DECRYPT', () => {
    const err = errorOf(() => openRecord(keysB, { ...record, roomId: keysB.roomId }))
    expect(err.code).toBe('ERR_DECRYPT')
    expect(err.name).toBe('DecryptError')
  })

  it('a payload re-encrypted for another key name under the same key id: ERR_WRONG_ROOM', () => {
    const { body } = decodeRecord(bytes)
    // Someone holding the room secret swaps the payload for key "admin" while
    // keeping the key id of "greeting", with a correct AAD and signature.
    const sealed = encryptPayload(keysA, body, { name: 'admin', value: '"pwned"' })
    const forged = verify(resign({ ...body, sealed }, keysA))
    const err = errorOf(() => openRecord(keysA, forged))
    expect(err.code).toBe('ERR_WRONG_ROOM')
    expect(err.message).toBe('Key name does not match key id')
    // Control: the same construction with the right name opens fine.
    const honest = verify(resign({ ...body, sealed: encryptPayload(keysA, body, { name: 'greeting', value: '"fine"' }) }, keysA))
    expect(openRecord(keysA, honest).value).toBe('fine')
  })

  it('a payload moved under another key id (AAD mismatch): ERR_DECRYPT', () => {
    const { body } = decodeRecord(bytes)
    const moved = verify(resign({ ...body, keyId: keyIdFor(keysA, 'admin') }, keysA))
    expect(codeOf(() => openRecord(keysA, moved))).toBe('ERR_DECRYPT')
  })

  it('a damaged ciphertext, re-signed: ERR_DECRYPT', () => {
    const { body } = decodeRecord(bytes)
    for (const i of [0, 12, body.sealed.length - 1]) {
      const sealed = Uint8Array.from(body.sealed)
      sealed[i] ^= 0x01
      expect(codeOf(() => openRecord(keysA, verify(resign({ ...body, sealed }, keysA)))), `byte ${i}`).toBe('ERR_DECRYPT')
    }
  })

  it('a payload whose value is not JSON: ERR_INVALID_RECORD', () => {
    const { body } = decodeRecord(bytes)
    const sealed = encryptPayload(keysA, body, { name: 'greeting', value: '{not json' })
    expect(codeOf(() => openRecord(keysA, verify(resign({ ...body, sealed }, keysA))))).toBe('ERR_INVALID_RECORD')
  })
})

describe('format 2: the payload AEAD binds the whole body', () => {
  const bytes = seal({ key: 'greeting', value: 'hello', clock: { wall: NOW - 10, counter: 3 }, expiresAt: NOW + 60_000, replaces: [recordIdOf(new Uint8Array([9]))] })
  const { body, signature } = decodeRecord(bytes)

  it('any field changed, even re-signed with the room key, no longer opens: ERR_DECRYPT', () => {
    const changes: Array<[string, Partial<RecordBody>]> = [
      ['clock wall', { hlcWall: body.hlcWall - 1 }],
      ['clock counter', { hlcCounter: body.hlcCounter + 1 }],
      ['writer', { writer: 'someone-else' }],
      ['expiry', { expiresAt: 0 }],
      ['tombstone', { tombstone: true }],
      ['replaces', { replaces: [] }],
      ['seen', { seen: [{ writer: 'w', wall: 1, counter: 0 }] }],
      ['format (to 1: the old AAD)', { format: 1 }]
    ]
    for (const [what, change] of changes) {
      const forged = verify(resign({ ...body, ...change }, keysA), { allowExpired: true })
      expect(codeOf(() => openRecord(keysA, forged)), what).toBe('ERR_DECRYPT')
    }
    // Control: the same body re-signed opens.
    expect(openRecord(keysA, verify(resign(body, keysA))).value).toBe('hello')
  })

  it('a member\'s check without the signature: authentic opens, a changed body refuses, a forged signature is the relays\' concern', async () => {
    const member = (record: VerifiedRecord): boolean => {
      try {
        openRecord(keysA, record)
        return true
      } catch (err: any) {
        return err.code !== 'ERR_DECRYPT'
      }
    }
    // A relay without the secret alters the clock and keeps the signature:
    // the member refuses it (the tag), as the signature check would have.
    const altered = SignedRecord.encode({ body: RecordBody.encode({ ...body, hlcWall: body.hlcWall + 1000 }), signature })
    await expect(verifyRecordAsync(altered, { now: NOW, authenticate: member })).rejects.toMatchObject({ code: 'ERR_DECRYPT' })
    await expect(verifyRecordAsync(altered, { now: NOW })).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' })
    // The genuine body with a damaged signature: the member accepts it (the
    // body is a member's), a relay refuses it; the record id is the body's.
    const damaged = SignedRecord.encode({ body: SignedRecord.decode(bytes).body, signature: new Uint8Array(64).fill(1) })
    const accepted = await verifyRecordAsync(damaged, { now: NOW, authenticate: member })
    expect(hex(accepted.id)).toBe(hex(verify(bytes).id))
    await expect(verifyRecordAsync(damaged, { now: NOW })).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' })
    // No verdict: the signature decides; structure and expiry come first either way.
    await expect(verifyRecordAsync(damaged, { now: NOW, authenticate: () => undefined })).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' })
    await expect(verifyRecordAsync(bytes, { now: NOW + 120_000, authenticate: () => true })).rejects.toMatchObject({ code: 'ERR_RECORD_EXPIRED' })
    const refused = vi.fn(() => false)
    await expect(verifyRecordAsync(bytes, { now: NOW, authenticate: refused })).rejects.toMatchObject({ code: 'ERR_DECRYPT' })
    expect(refused).toHaveBeenCalledOnce()
  })

  it('format 1 records (AAD: room id and key id) still verify and open', () => {
    const v1 = { ...body, format: 1 }
    const sealed = encryptPayload(keysA, v1, { name: 'greeting', value: '"from v1"' })
    const record = verify(resign({ ...v1, sealed }, keysA))
    expect(record.body.format).toBe(1)
    expect(openRecord(keysA, record).value).toBe('from v1')
    // Its clock is bound by the signature only: changed and re-signed, it opens.
    expect(openRecord(keysA, verify(resign({ ...v1, sealed, hlcWall: body.hlcWall - 1 }, keysA))).value).toBe('from v1')
  })
})

describe('selectRecord / compareRecords', () => {
  interface Version { bytes: Uint8Array, record: VerifiedRecord }
  const version = (clock: Clock, writer: string, value: unknown = clock, extra: Partial<SealInit> = {}): Version => {
    const bytes = seal({ clock, writer, value, ...extra })
    return { bytes, record: verify(bytes) }
  }

  /** The winner by the documented rule, computed independently of compareRecords. */
  function expectedWinner (versions: Version[]): Version {
    return [...versions].sort((a, b) =>
      compareClocks(b.record.clock, a.record.clock) ||
      (a.record.body.writer === b.record.body.writer ? 0 : a.record.body.writer < b.record.body.writer ? 1 : -1) ||
      compare(b.record.id, a.record.id)
    )[0]
  }

  it('a higher clock wins, whatever the writer or id', () => {
    const older = version({ wall: NOW - 10, counter: 999 }, 'zzz')
    const newer = version({ wall: NOW, counter: 0 }, 'aaa')
    expect(selectRecord([older.bytes, newer.bytes], { now: NOW })).toBe(1)
    expect(selectRecord([newer.bytes, older.bytes], { now: NOW })).toBe(0)
    const counted = version({ wall: NOW, counter: 1 }, 'aaa')
    expect(selectRecord([counted.bytes, newer.bytes], { now: NOW })).toBe(0)
    expect(compareRecords(newer.record, older.record)).toBeGreaterThan(0)
    expect(compareRecords(older.record, newer.record)).toBeLessThan(0)
  })

  it('equal clocks: the greater writer wins', () => {
    const clock = { wall: NOW, counter: 3 }
    const a = version(clock, 'writer-a')
    const b = version(clock, 'writer-b')
    expect(selectRecord([a.bytes, b.bytes], { now: NOW })).toBe(1)
    expect(selectRecord([b.bytes, a.bytes], { now: NOW })).toBe(0)
  })

  it('equal clocks and writers: the greater record id wins', () => {
    const clock = { wall: NOW, counter: 3 }
    const x = version(clock, 'w', 'x')
    const y = version(clock, 'w', 'y')
    const [low, high] = compare(x.record.id, y.record.id) < 0 ? [x, y] : [y, x]
    expect(selectRecord([low.bytes, high.bytes], { now: NOW })).toBe(1)
    expect(selectRecord([high.bytes, low.bytes], { now: NOW })).toBe(0)
    expect(compareRecords(high.record, low.record)).toBeGreaterThan(0)
  })

  it('an identical record compares equal to itself', () => {
    const v = version({ wall: NOW, counter: 0 }, 'w')
    expect(compareRecords(v.record, verify(Uint8Array.from(v.bytes)))).toBe(0)
  })

  it('picks the same winner for every input order', { timeout: 60_000 }, () => {
    const random = prng(0x5e1ec7)
    const versions: Version[] = []
    for (let i = 0; i < 12; i++) {
      // few distinct clocks and writers, so every tie-break is exercised
      versions.push(version({ wall: NOW - Math.floor(random() * 2), counter: Math.floor(random() * 2) }, `w${Math.floor(random() * 2)}`, i))
    }
    const winner = expectedWinner(versions)
    for (let round = 0; round < 40; round++) {
      const order = shuffle(versions, random)
      const index = selectRecord(order.map(v => v.bytes), { now: NOW })
      expect(hex(order[index].bytes)).toBe(hex(winner.bytes))
    }
  })

  it('picks the same winner for all 120 orders of five tied versions', { timeout: 60_000 }, () => {
    // Same clock and writer: only the record id decides.
    const versions = Array.from({ length: 5 }, (_, i) => version({ wall: NOW, counter: 1 }, 'same', i))
    const winner = expectedWinner(versions)
    const permutations = (items: Version[]): Version[][] => items.length <= 1
      ? [items]
      : items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [item, ...rest]))
    const all = permutations(versions)
    expect(all.length).toBe(120)
    for (const order of all) {
      expect(hex(order[selectRecord(order.map(v => v.bytes), { now: NOW })].bytes)).toBe(hex(winner.bytes))
    }
  })

  it('compareRecords is a total order consistent with selectRecord', () => {
    const random = prng(7)
    const versions = Array.from({ length: 12 }, (_, i) => version({ wall: NOW - (i % 3), counter: i % 2 }, `w${i % 2}`, i))
    for (const a of versions) {
      for (const b of versions) {
        const ab = compareRecords(a.record, b.record)
        expect(Math.sign(ab) + Math.sign(compareRecords(b.record, a.record))).toBe(0)
        expect(ab === 0).toBe(a === b)
      }
    }
    const sorted = shuffle(versions, random).sort((a, b) => compareRecords(a.record, b.record))
    expect(hex(sorted[sorted.length - 1].bytes)).toBe(hex(expectedWinner(versions).bytes))
  })

  it('invalid entries never win, however high their clock', { timeout: 60_000 }, () => {
    const random = prng(99)
    const good = [
      version({ wall: NOW - 2, counter: 0 }, 'w1'),
      version({ wall: NOW - 1, counter: 0 }, 'w2'),
      version({ wall: NOW - 1, counter: 5 }, 'w1')
    ]
    const winner = expectedWinner(good)
    const high = { wall: NOW, counter: 2 ** 32 - 1 }
    const badSig = Uint8Array.from(version(high, 'zzz').bytes)
    badSig[badSig.length - 1] ^= 0x80
    const { body } = decodeRecord(seal())
    const invalid = [
      badSig,
      resign({ ...body, hlcWall: NOW, hlcCounter: 9, roomKey: keysB.roomKey }, keysB), // another room
      seal({ clock: high, writer: 'zzz', key: 'other-key' }), // another key
      seal({ clock: { wall: NOW + MAX_CLOCK_SKEW + 1, counter: 0 } }), // from the future
      resign({ ...body, hlcWall: NOW, writer: '' }, keysA), // structurally invalid
      randomBytes(200, random),
      new Uint8Array(MAX_RECORD_BYTES + 1),
      new Uint8Array(0)
    ]
    const options = { now: NOW, roomId: keysA.roomId, keyId: keyIdFor(keysA, 'greeting') }
    for (let round = 0; round < 100; round++) {
      const all = shuffle([...good.map(v => v.bytes), ...invalid], random)
      expect(hex(all[selectRecord(all, options)])).toBe(hex(winner.bytes))
    }
    // Without a room/key binding, the other room's and other key's records are valid contenders.
    expect(hex([winner.bytes, invalid[2]][selectRecord([winner.bytes, invalid[2]], { now: NOW })])).toBe(hex(invalid[2]))
  })

  it('expired versions still take part (versions are compared, not served)', () => {
    const expired = seal({ clock: { wall: NOW - 1, counter: 0 }, expiresAt: NOW - 1 })
    expect(codeOf(() => verify(expired))).toBe('ERR_RECORD_EXPIRED')
    const older = seal({ clock: { wall: NOW - 2, counter: 0 } })
    expect(selectRecord([older, expired], { now: NOW })).toBe(1)
    expect(selectRecord([expired, older], { now: NOW })).toBe(0)
  })
})

describe('sealRecordAsync', () => {
  it('gives the same bytes as sealRecord (Ed25519 is deterministic), already verified', async () => {
    const nonce = new Uint8Array(12).fill(0x42)
    const init: SealInit = { key: 'greeting', value: { n: 1 }, clock: { wall: 1_767_225_600_000, counter: 3 }, writer: 'writer-1', nonce }
    const record = await sealRecordAsync(keysA, init)
    expect(toString(record.bytes, 'base16')).toBe(toString(sealRecord(keysA, init), 'base16'))
    const checked = verifyRecord(record.bytes, { now: 1_767_225_600_000 })
    expect(toString(record.id, 'base16')).toBe(toString(checked.id, 'base16'))
    expect(openRecord(keysA, record).value).toEqual({ n: 1 })
  })
})

describe('verifyRecordAsync', () => {
  // The native path keeps the last room key's CryptoKey and skips work for
  // it; it must still reject exactly what verifyRecord rejects, in any order
  // of rooms and damage (a cached key must not leak into another room's check).
  it('agrees with verifyRecord on valid, damaged and foreign records, interleaved', async () => {
    const random = prng(7)
    const good = [seal({ key: 'a' }), seal({ key: 'b' }), seal({ key: 'c' }, keysB)]
    const variants: Uint8Array[] = []
    for (const bytes of good) {
      variants.push(bytes)
      for (const i of [bytes.length - 1, bytes.length - 40, 10, 40]) {
        const copy = Uint8Array.from(bytes)
        copy[i] ^= 1 << Math.floor(random() * 8)
        variants.push(copy)
      }
    }
    // A's body signed with B's key: only the signature check catches it.
    const { body } = SignedRecord.decode(good[0])
    variants.push(SignedRecord.encode({ body, signature: ed25519.sign(concat([SIGNATURE_PREFIX, body]), keysB.signingSeed) }))
    for (const bytes of shuffle([...variants, ...variants, ...variants], random)) {
      const expected = codeOf(() => verify(bytes))
      let got = 'NO_ERROR'
      try {
        const record = await verifyRecordAsync(bytes, { now: NOW })
        expect(hex(record.id)).toBe(hex(verify(bytes).id))
      } catch (err) {
        got = err instanceof RoomkvError ? err.code : String(err)
      }
      expect(got).toBe(expected)
    }
    expect(variants.filter(v => codeOf(() => verify(v)) === 'ERR_BAD_SIGNATURE').length).toBeGreaterThan(3)
  })

  it('uses a given record id only as the id (every check still runs)', async () => {
    const bytes = seal()
    const id = recordIdOf(SignedRecord.decode(bytes).body)
    expect(hex((await verifyRecordAsync(bytes, { now: NOW }, id)).id)).toBe(hex(id))
    const damaged = Uint8Array.from(bytes)
    damaged[damaged.length - 1] ^= 1
    await expect(verifyRecordAsync(damaged, { now: NOW }, id)).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' })
  })
})
