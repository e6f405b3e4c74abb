/**
 * Synchronous seal and open in pure JS (@noble): for tools, tests and test
 * vectors that want a record without awaiting. The product seals and opens
 * with the platform's native crypto (sealRecordAsync, openRecordAsync in
 * record.ts); this module is kept out of the app's bundle because
 * evaluating @noble/ciphers/aes.js precomputes its tables (~50 ms of a
 * tab's main thread while it joins).
 */
import { gcm } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { concat, equals } from 'uint8arrays'
import { DecryptError, WrongRoomError } from './errors.ts'
import { decodePayload, entryOf, NONCE_BYTES, payloadAad, sealParts, SIGNATURE_PREFIX, signedBytes, type RoomEntry, type SealInit, type VerifiedRecord } from './record.ts'
import type { RoomKeys } from './room-keys.ts'

/** Encrypt and sign a new record (synchronous, noble). Returns the SignedRecord encoding. */
export function sealRecord (keys: RoomKeys, init: SealInit): Uint8Array {
  const parts = sealParts(keys, init)
  const body = parts.body(gcm(keys.encryptionKey, parts.nonce, parts.aad).encrypt(parts.plaintext))
  return signedBytes(body, ed25519.sign(concat([SIGNATURE_PREFIX, body]), keys.signingSeed))
}

/** Decrypt a verified record with the room secret (synchronous, noble). */
export function openRecord (keys: RoomKeys, record: VerifiedRecord): RoomEntry {
  const { body } = record
  if (!equals(record.roomId, keys.roomId)) throw new WrongRoomError('Record belongs to another room')
  let plaintext: Uint8Array
  try {
    plaintext = gcm(keys.encryptionKey, body.sealed.subarray(0, NONCE_BYTES), payloadAad(keys.roomId, body)).decrypt(body.sealed.subarray(NONCE_BYTES))
  } catch {
    throw new DecryptError()
  }
  return entryOf(keys, record, decodePayload(plaintext))
}
