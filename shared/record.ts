/**
 * The room record: seal (encrypt + sign), verify (size, structure, room,
 * signature, expiry; no secret needed, so relays can run it), open (decrypt,
 * members only) and the deterministic order that picks a winner.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { compare as compareBytes, concat, equals } from 'uint8arrays'
import {
  MAX_CLOCK_SKEW, MAX_KEY_BYTES, MAX_RECORD_BYTES, MAX_REPLACES, MAX_SEEN, MAX_VALUE_BYTES, MAX_WRITER_CHARS,
  RECORD_FORMAT, RECORD_FORMAT_V1, RECORD_ID_BYTES
} from './constants.ts'
import {
  BadSignatureError, DecryptError, InvalidKeyError, InvalidRecordError, InvalidValueError,
  RecordExpiredError, RecordTooLargeError, WrongRoomError
} from './errors.ts'
import { compareClocks, MAX_COUNTER, type Clock } from './hlc.ts'
import { Payload, RecordBody, SignedRecord } from './proto/record.ts'
import { keyIdFor, keyIdMatches, roomIdFromRoomKey, type RoomKeys } from './room-keys.ts'
import { nodeCrypto } from './node-crypto.ts'

const nodeHash = nodeCrypto?.hash
import { aesGcmDecrypt, aesGcmEncrypt } from './aead.ts'
import { sign, verifySignature, verifySignatureSync, type SignatureVerifier } from './signature.ts'
import type { OpenedCache } from './opened-cache.ts'

/** Prefix of every signed message (domain separation). */
export const SIGNATURE_PREFIX = new TextEncoder().encode('roomkv/v1/record\0')
const AAD_PREFIX = new TextEncoder().encode('roomkv/v1/payload\0')
const AAD_PREFIX_V2 = new TextEncoder().encode('roomkv/v2/payload\0')
const EMPTY = new Uint8Array(0)
export const NONCE_BYTES = 12
const TAG_BYTES = 16
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A record whose structure and signature have been checked. */
export interface VerifiedRecord {
  /** The SignedRecord encoding, exactly as received. */
  bytes: Uint8Array
  body: RecordBody
  /** SHA-256(body)[0..16]: names this version of this key. */
  id: Uint8Array
  roomId: Uint8Array
  clock: Clock
}

/** A record opened with the room secret. */
export interface RoomEntry {
  key: string
  /** The value; undefined for a deletion. */
  value: unknown
  deleted: boolean
  clock: Clock
  writer: string
  /** ms since epoch; 0 = never. */
  expiresAt: number
  keyId: Uint8Array
  id: Uint8Array
  replaces: Uint8Array[]
}

export interface SealInit {
  key: string
  /** Any JSON-able value; ignored when `deleted`. */
  value?: unknown
  deleted?: boolean
  clock: Clock
  writer: string
  expiresAt?: number
  replaces?: Uint8Array[]
  /** Newest version of this key seen per writer (see writeContext in record-store.ts). */
  seen?: Array<{ writer: string, clock: Clock }>
  /** Only for test vectors: a fixed nonce. */
  nonce?: Uint8Array
}

export function validateKeyName (key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError('Key must be a non-empty string')
  const bytes = encoder.encode(key).length
  if (bytes > MAX_KEY_BYTES) throw new InvalidKeyError(`Key is ${bytes} bytes; the limit is ${MAX_KEY_BYTES}`)
  if (key.isWellFormed?.() === false) throw new InvalidKeyError('Key is not valid Unicode text')
}

export function encodeValue (value: unknown): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (err: any) {
    throw new InvalidValueError(`Value is not JSON-able: ${err.message}`)
  }
  if (json === undefined) throw new InvalidValueError('Value is not JSON-able (undefined, a function or a symbol)')
  const bytes = encoder.encode(json).length
  if (bytes > MAX_VALUE_BYTES) throw new InvalidValueError(`Value is ${bytes} bytes as JSON; the limit is ${MAX_VALUE_BYTES}`)
  return json
}

/** The AEAD associated data of a format 1 record's payload. */
function aad (roomId: Uint8Array, keyId: Uint8Array): Uint8Array {
  return concat([AAD_PREFIX, roomId, keyId])
}

/**
 * The AEAD associated data of a record's payload, by its format. Format 2:
 * the prefix, then the body encoded without `sealed` (an empty bytes field
 * is not written), so a tag that checks proves every field of the body
 * came from a holder of the room secret. Verified records are canonical,
 * so this re-encoding is exactly the received body minus its sealed field.
 */
export function payloadAad (roomId: Uint8Array, body: RecordBody): Uint8Array {
  if (body.format === RECORD_FORMAT_V1) return aad(roomId, body.keyId)
  return concat([AAD_PREFIX_V2, RecordBody.encode({ ...body, sealed: EMPTY })])
}

/** Whether the payload's AEAD binds the whole body (format 2 on): then opening a record authenticates it. */
export function bindsBody (body: RecordBody): boolean {
  return body.format === RECORD_FORMAT
}

export function recordIdOf (body: Uint8Array): Uint8Array {
  // Node: node:crypto's one-shot hash (a catch-up hashes every record).
  const digest = nodeHash != null ? nodeHash('sha256', body, 'buffer') : sha256(body)
  // A plain Uint8Array view (not a Buffer), as noble's.
  return new Uint8Array(digest.buffer, digest.byteOffset, RECORD_ID_BYTES)
}

/** Check a new record's fields and prepare its payload; `body(ciphertext)` encodes the body (everything but the signature). */
export function sealParts (keys: RoomKeys, init: SealInit): { nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, body(ciphertext: Uint8Array): Uint8Array } {
  validateKeyName(init.key)
  const deleted = init.deleted === true
  const value = deleted ? '' : encodeValue(init.value)
  if (init.writer.length === 0 || init.writer.length > MAX_WRITER_CHARS) throw new InvalidRecordError(`Writer id must be 1-${MAX_WRITER_CHARS} chars`)
  const replaces = init.replaces ?? []
  if (replaces.length > MAX_REPLACES) throw new InvalidRecordError(`A record may replace at most ${MAX_REPLACES} versions`)
  if (replaces.some(id => id.length !== RECORD_ID_BYTES)) throw new InvalidRecordError(`Replaced ids must be ${RECORD_ID_BYTES} bytes`)
  const seen = init.seen ?? []
  if (seen.length > MAX_SEEN) throw new InvalidRecordError(`A record may list at most ${MAX_SEEN} seen writers`)
  if (seen.some(s => s.writer.length === 0 || s.writer.length > MAX_WRITER_CHARS || !Number.isSafeInteger(s.clock.wall) || s.clock.wall < 0 ||
    !Number.isInteger(s.clock.counter) || s.clock.counter < 0 || s.clock.counter > MAX_COUNTER)) {
    throw new InvalidRecordError('Seen entries need a writer id and a valid clock')
  }
  const expiresAt = init.expiresAt ?? 0
  if (!Number.isSafeInteger(init.clock.wall) || init.clock.wall < 0 || !Number.isSafeInteger(expiresAt) || expiresAt < 0) {
    throw new InvalidRecordError('Clock and expiry must be non-negative integers (ms)')
  }
  if (!Number.isInteger(init.clock.counter) || init.clock.counter < 0 || init.clock.counter > MAX_COUNTER) {
    throw new InvalidRecordError(`Clock counter must be an integer in 0..${MAX_COUNTER}`)
  }
  const keyId = keyIdFor(keys, init.key)
  const nonce = init.nonce ?? randomBytes(NONCE_BYTES)
  const plaintext = Payload.encode({ name: init.key, value })
  const fields: RecordBody = {
    format: RECORD_FORMAT,
    roomKey: keys.roomKey,
    keyId,
    sealed: EMPTY,
    hlcWall: init.clock.wall,
    hlcCounter: init.clock.counter,
    writer: init.writer,
    expiresAt,
    replaces,
    tombstone: deleted,
    seen: seen.map(s => ({ writer: s.writer, wall: s.clock.wall, counter: s.clock.counter }))
  }
  const body = (ciphertext: Uint8Array): Uint8Array => RecordBody.encode({ ...fields, sealed: concat([nonce, ciphertext]) })
  return { nonce, plaintext, aad: payloadAad(keys.roomId, fields), body }
}

/** The SignedRecord encoding, refused past MAX_RECORD_BYTES. */
export function signedBytes (body: Uint8Array, signature: Uint8Array): Uint8Array {
  const bytes = SignedRecord.encode({ body, signature })
  if (bytes.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(`Record is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`)
  return bytes
}

/**
 * Encrypt and sign a new record with the platform's native Ed25519, and
 * return it as a verified record: we just signed it with the room key, so
 * checking our own signature again would only spend the write path's time.
 */
export async function sealRecordAsync (keys: RoomKeys, init: SealInit): Promise<VerifiedRecord> {
  const parts = sealParts(keys, init)
  const body = parts.body(await aesGcmEncrypt(keys.encryptionKey, parts.nonce, parts.aad, parts.plaintext))
  const bytes = signedBytes(body, await sign(concat([SIGNATURE_PREFIX, body]), keys.signingSeed))
  return readStoredRecord(bytes)
}

export interface VerifyOptions {
  /** The room the record must belong to. */
  roomId?: Uint8Array
  /** The key id the record must carry. */
  keyId?: Uint8Array
  /** @default Date.now() */
  now?: number
  /** Accept records past their expiry (e.g. to compare versions). @default false */
  allowExpired?: boolean
  /** Where the signature is checked. @default verifySignature (this thread) */
  verifySignature?: SignatureVerifier
  /**
   * A member's check in place of the signature (verifyRecordAsync only):
   * see RecordAuthenticator. @default none: every signature is checked
   */
  authenticate?: RecordAuthenticator
}

/**
 * Authenticates a structurally valid record without its signature: true
 * (authentic: the signature is not checked), false (refused with
 * DecryptError), undefined (not for this check: the signature decides). A
 * member holding the room secret opens a record whose AEAD binds its body
 * (bindsBody): the tag proves what the signature would (the signing key is
 * the room's, held by the same members), at a fraction of an Ed25519 check,
 * and the payload it opened is kept for reading.
 */
export type RecordAuthenticator = (record: VerifiedRecord) => Promise<boolean | undefined> | boolean | undefined

/**
 * Check a record without the room secret: size cap before parsing, then
 * structure, room binding, signature and expiry. Relays and DHT servers run this.
 */
export function verifyRecord (bytes: Uint8Array, options: VerifyOptions = {}): VerifiedRecord {
  const parsed = checkStructure(bytes, options)
  if (!verifySignatureSync(parsed.signed.signature, concat([SIGNATURE_PREFIX, parsed.signed.body]), parsed.body.roomKey)) throw new BadSignatureError()
  return checkTime(parsed, options)
}

/**
 * verifyRecord with the platform's native Ed25519 where available: use it on
 * bulk paths. `recordId` is recordIdOf(body) when the caller already
 * computed it from these same bytes (the record store does, to batch and
 * spot records it holds): it saves a SHA-256 per record. The canonical
 * encoding check guarantees one body per byte string, so that id is the id.
 */
export async function verifyRecordAsync (bytes: Uint8Array, options: VerifyOptions = {}, recordId?: Uint8Array): Promise<VerifiedRecord> {
  const parsed = checkStructure(bytes, options)
  // With a member's check, clock and expiry are checked first (the check needs the record).
  let record: VerifiedRecord | undefined
  if (options.authenticate != null) {
    record = checkTime(parsed, options, recordId)
    const verdict = await options.authenticate(record)
    if (verdict === true) return record
    if (verdict === false) throw new DecryptError('Record does not open with this room secret: not written by a member')
  }
  // What the signature covers: the prefix, then the body, as parts (a Worker
  // pool copies them into its batch; this thread's verifier joins them).
  if (!await (options.verifySignature ?? verifySignature)(parsed.signed.signature, [SIGNATURE_PREFIX, parsed.signed.body], parsed.body.roomKey)) throw new BadSignatureError()
  return record ?? checkTime(parsed, options, recordId)
}

/**
 * True when `bytes` is exactly SignedRecord.encode({ body, signature }) for
 * a non-empty body and a 64-byte signature: field 1 (tag 0x0a, minimal
 * varint length, body), then field 2 (tag 0x12, length 64, signature),
 * nothing else (other shapes: re-encoded and compared). Checked in place instead of re-encoding and comparing (an
 * allocation and copy of every record).
 */
function isCanonicalSignedRecord (bytes: Uint8Array, body: Uint8Array, signature: Uint8Array): boolean {
  // Anything else is invalid later anyway; the generic check keeps which error it gets.
  if (body.length === 0 || signature.length !== 64) return equals(SignedRecord.encode({ body, signature }), bytes)
  let pos = 0
  if (bytes[pos++] !== 0x0a) return false
  let length = body.length
  // The minimal varint of the body length, byte for byte.
  while (length >= 0x80) {
    if (bytes[pos++] !== ((length & 0x7f) | 0x80)) return false
    length = Math.floor(length / 128)
  }
  if (bytes[pos++] !== length) return false
  if (bytes.length !== pos + body.length + 2 + 64) return false
  if (!sameBytes(bytes, pos, body)) return false
  pos += body.length
  return bytes[pos] === 0x12 && bytes[pos + 1] === 64 && sameBytes(bytes, pos + 2, signature)
}

/**
 * Whether `part` equals `bytes` from `at` on. A parsed field is usually a
 * view of those very bytes (protons decodes into subarrays): then it is
 * equal without comparing a byte, which a catch-up would do per record.
 */
function sameBytes (bytes: Uint8Array, at: number, part: Uint8Array): boolean {
  if (part.buffer === bytes.buffer && part.byteOffset === bytes.byteOffset + at) return at + part.length <= bytes.length
  return equals(bytes.subarray(at, at + part.length), part)
}

interface Parsed { bytes: Uint8Array, signed: SignedRecord, body: RecordBody, roomId: Uint8Array }

/** Everything before the signature: size, parse, canonical form, structure, room and key binding. */
function checkStructure (bytes: Uint8Array, options: VerifyOptions): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new InvalidRecordError('Record must be bytes')
  if (bytes.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(`Record is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`)
  let signed: SignedRecord
  let body: RecordBody
  try {
    signed = SignedRecord.decode(bytes)
    body = RecordBody.decode(signed.body, { limits: { replaces: MAX_REPLACES, seen: MAX_SEEN } })
  } catch (err: any) {
    throw new InvalidRecordError(`Record does not parse: ${err.message}`)
  }
  // One record, one byte string: no padding, unknown fields or re-encodings
  // that would make replicas store and serve different bytes for one id.
  if (!isCanonicalSignedRecord(bytes, signed.body, signed.signature) || !equals(RecordBody.encode(body), signed.body)) {
    throw new InvalidRecordError('Record encoding is not canonical')
  }
  if (body.format !== RECORD_FORMAT && body.format !== RECORD_FORMAT_V1) throw new InvalidRecordError(`Unknown record format ${body.format}`)
  if (body.roomKey.length !== 32) throw new InvalidRecordError('Room key must be 32 bytes')
  if (body.keyId.length !== 32) throw new InvalidRecordError('Key id must be 32 bytes')
  if (body.sealed.length < NONCE_BYTES + TAG_BYTES) throw new InvalidRecordError('Sealed payload too short')
  if (body.writer.length === 0 || body.writer.length > MAX_WRITER_CHARS) throw new InvalidRecordError('Writer id length out of range')
  if (!Number.isSafeInteger(body.hlcWall) || !Number.isSafeInteger(body.expiresAt)) throw new InvalidRecordError('Clock or expiry out of range')
  if (body.replaces.some(id => id.length !== RECORD_ID_BYTES)) throw new InvalidRecordError(`Replaced ids must be ${RECORD_ID_BYTES} bytes`)
  if (body.seen.some(s => s.writer.length === 0 || s.writer.length > MAX_WRITER_CHARS)) throw new InvalidRecordError('Seen writer id length out of range')
  if (signed.signature.length !== 64) throw new InvalidRecordError('Signature must be 64 bytes')
  const roomId = roomIdFromRoomKey(body.roomKey)
  if (options.roomId != null && !equals(roomId, options.roomId)) throw new WrongRoomError('Record belongs to another room')
  if (options.keyId != null && !equals(body.keyId, options.keyId)) throw new WrongRoomError('Record is stored under another key')
  return { bytes, signed, body, roomId }
}

/** After the signature: clock skew and expiry. */
function checkTime ({ bytes, signed, body, roomId }: Parsed, options: VerifyOptions, recordId?: Uint8Array): VerifiedRecord {
  const now = options.now ?? Date.now()
  if (body.hlcWall > now + MAX_CLOCK_SKEW) throw new InvalidRecordError('Record clock is too far in the future')
  if (options.allowExpired !== true && body.expiresAt !== 0 && body.expiresAt <= now) throw new RecordExpiredError()
  return {
    bytes,
    body,
    id: recordId ?? recordIdOf(signed.body),
    roomId,
    clock: { wall: body.hlcWall, counter: body.hlcCounter }
  }
}

/**
 * Read a record back from this replica's own storage: it was verified when
 * it was merged, so only parse it (a signature check per read made listing a
 * 10,000-key room cost seconds of CPU). `recordId`: its id, when the
 * caller kept it from an earlier read or write of these same bytes.
 */
export function readStoredRecord (bytes: Uint8Array, recordId?: Uint8Array): VerifiedRecord {
  let signed: SignedRecord
  let body: RecordBody
  try {
    signed = SignedRecord.decode(bytes)
    body = RecordBody.decode(signed.body, { limits: { replaces: MAX_REPLACES, seen: MAX_SEEN } })
  } catch (err: any) {
    throw new InvalidRecordError(`Stored record does not parse: ${err.message}`)
  }
  return { bytes, body, id: recordId ?? recordIdOf(signed.body), roomId: roomIdFromRoomKey(body.roomKey), clock: { wall: body.hlcWall, counter: body.hlcCounter } }
}

/** A record's payload once decrypted and checked: the key name and the value as JSON text. */
export interface OpenedPayload {
  name: string
  value: string
}

/**
 * Decrypts and checks a record's payload somewhere else (a tab's Workers),
 * exactly as openPayloadAsync does; rejects with its errors.
 */
export type PayloadOpener = (keys: Pick<RoomKeys, 'roomId' | 'encryptionKey' | 'nameKey'>, record: VerifiedRecord) => Promise<OpenedPayload>

/**
 * Decrypt a record's payload with native AES-GCM and run every check of
 * openRecord (key name matches the key id, valid name, value size, JSON).
 */
export async function openPayloadAsync (keys: Pick<RoomKeys, 'roomId' | 'encryptionKey' | 'nameKey'>, record: VerifiedRecord): Promise<OpenedPayload> {
  const { body } = record
  if (!equals(record.roomId, keys.roomId)) throw new WrongRoomError('Record belongs to another room')
  let plaintext: Uint8Array
  try {
    plaintext = await aesGcmDecrypt(keys.encryptionKey, body.sealed.subarray(0, NONCE_BYTES), payloadAad(keys.roomId, body), body.sealed.subarray(NONCE_BYTES))
  } catch {
    throw new DecryptError()
  }
  const payload = decodePayload(plaintext)
  if (!await keyIdMatches(keys, payload.name, body.keyId)) throw new WrongRoomError('Key name does not match key id')
  checkPayload(record, payload)
  return { name: payload.name, value: payload.value }
}

/**
 * openRecord with the platform's native AES-GCM: use it on bulk paths
 * (listing, live changes). With `cache`, a record opened before is not
 * decrypted or checked again (its id commits to everything that was
 * checked), and one opened now is remembered. `open` does the decryption
 * and checks elsewhere (default: here, openPayloadAsync).
 */
export async function openRecordAsync (keys: RoomKeys, record: VerifiedRecord, cache?: OpenedCache, open: PayloadOpener = openPayloadAsync): Promise<RoomEntry> {
  const { body } = record
  if (!equals(record.roomId, keys.roomId)) throw new WrongRoomError('Record belongs to another room')
  const known = cache?.get(record.id)
  if (known != null) return entryFields(record, known, body.tombstone ? undefined : JSON.parse(known.value))
  const payload = await open(keys, record)
  cache?.set(record.id, payload)
  return entryFields(record, payload, body.tombstone ? undefined : JSON.parse(payload.value))
}

/**
 * A decrypted payload's protobuf. Its tag checked, so the record is a
 * member's: a payload that does not parse breaks a rule (InvalidRecordError),
 * as any other payload check, rather than failing to decrypt.
 */
export function decodePayload (plaintext: Uint8Array): Payload {
  try {
    return Payload.decode(plaintext)
  } catch (err: any) {
    throw new InvalidRecordError(`Payload does not parse: ${err.message}`)
  }
}

/** The checks after decryption, and the entry. */
export function entryOf (keys: RoomKeys, record: VerifiedRecord, payload: Payload): RoomEntry {
  if (!equals(keyIdFor(keys, payload.name), record.body.keyId)) throw new WrongRoomError('Key name does not match key id')
  return entryFields(record, payload, checkPayload(record, payload))
}

/** The checks of a decrypted payload whose key id matched; returns the parsed value. */
function checkPayload (record: VerifiedRecord, payload: Payload): unknown {
  const { body } = record
  // Writers check these before sealing; a member could still seal by hand.
  try {
    validateKeyName(payload.name)
  } catch (err: any) {
    throw new InvalidRecordError(`Stored key name is invalid: ${err.message}`)
  }
  if (!body.tombstone && encoder.encode(payload.value).length > MAX_VALUE_BYTES) throw new InvalidRecordError('Stored value is over the size limit')
  let value: unknown
  if (!body.tombstone) {
    try {
      value = JSON.parse(payload.value)
    } catch {
      throw new InvalidRecordError('Value is not JSON')
    }
  }
  return value
}

function entryFields (record: VerifiedRecord, payload: { name: string }, value: unknown): RoomEntry {
  const { body } = record
  return {
    key: payload.name,
    value,
    deleted: body.tombstone,
    clock: record.clock,
    writer: body.writer,
    expiresAt: body.expiresAt,
    keyId: body.keyId,
    id: record.id,
    replaces: body.replaces
  }
}

/**
 * Total order on versions of one key: clock, then writer (as UTF-8 bytes, so
 * other languages order it the same way), then record id. Every replica that
 * holds the same versions picks the same winner.
 */
export function compareRecords (a: VerifiedRecord, b: VerifiedRecord): number {
  return compareClocks(a.clock, b.clock) ||
    compareBytes(encoder.encode(a.body.writer), encoder.encode(b.body.writer)) ||
    compareBytes(a.id, b.id)
}

/**
 * Index of the winning record; invalid entries never win. kad-dht validates
 * every value before selecting, so 0 for "none valid" cannot pick garbage there.
 */
export function selectRecord (records: Uint8Array[], options: VerifyOptions = {}): number {
  let best = -1
  let bestRecord: VerifiedRecord | undefined
  records.forEach((bytes, i) => {
    let record: VerifiedRecord
    try {
      record = verifyRecord(bytes, { ...options, allowExpired: true })
    } catch {
      return
    }
    if (bestRecord == null || compareRecords(record, bestRecord) > 0) {
      best = i
      bestRecord = record
    }
  })
  return Math.max(best, 0)
}

