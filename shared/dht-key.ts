/**
 * DHT keys: `/roomkv/<base32 room id>/<base32 key id>` as UTF-8 bytes. The
 * first segment selects our validator and selector inside kad-dht; neither
 * id reveals a key name.
 */
import { equals, fromString, toString } from 'uint8arrays'
import { RECORD_NAMESPACE, ROOM_ID_BYTES } from './constants.ts'
import { InvalidRecordError } from './errors.ts'
import { selectRecord, verifyRecordAsync } from './record.ts'

const PREFIX = `/${RECORD_NAMESPACE}/`

export function dhtKeyFor (roomId: Uint8Array, keyId: Uint8Array): Uint8Array {
  return new TextEncoder().encode(`${PREFIX}${toString(roomId, 'base32')}/${toString(keyId, 'base32')}`)
}

export function isRoomkvDhtKey (key: Uint8Array): boolean {
  return key.length > PREFIX.length && new TextDecoder().decode(key.subarray(0, PREFIX.length)) === PREFIX
}

export function parseDhtKey (key: Uint8Array): { roomId: Uint8Array, keyId: Uint8Array } {
  const parts = new TextDecoder().decode(key).split('/')
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== RECORD_NAMESPACE) throw new InvalidRecordError('Not a roomkv DHT key')
  let roomId: Uint8Array
  let keyId: Uint8Array
  try {
    roomId = fromString(parts[2], 'base32')
    keyId = fromString(parts[3], 'base32')
  } catch {
    throw new InvalidRecordError('DHT key ids are not base32')
  }
  if (roomId.length !== ROOM_ID_BYTES || keyId.length !== 32) throw new InvalidRecordError('DHT key ids have the wrong length')
  // The decoder forgives case and padding; one record must have one key.
  if (!equals(dhtKeyFor(roomId, keyId), key)) throw new InvalidRecordError('DHT key is not in canonical form')
  return { roomId, keyId }
}

/** kad-dht validator for the `roomkv` namespace. */
export async function validateDhtRecord (key: Uint8Array, value: Uint8Array): Promise<void> {
  await verifyRecordAsync(value, parseDhtKey(key))
}

/** kad-dht selector for the `roomkv` namespace. */
export function selectDhtRecord (key: Uint8Array, values: Uint8Array[]): number {
  return selectRecord(values, parseDhtKey(key))
}

export const dhtValidators = { [RECORD_NAMESPACE]: validateDhtRecord }
export const dhtSelectors = { [RECORD_NAMESPACE]: selectDhtRecord }
