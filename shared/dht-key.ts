/**
 * DHT keys: `/roomkv/<base32 room id>/<base32 key id>` as UTF-8 bytes. The
 * first segment selects our validator and selector inside kad-dht; neither
 * id reveals a key name.
 */
import { equals, fromString, toString } from 'uint8arrays'
import { RECORD_NAMESPACE, ROOM_ID_BYTES } from './constants.ts'
import { errorCode, InvalidRecordError, RoomkvError } from './errors.ts'
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

/**
 * A DHT record or provider key outside what roomkv serves: another record
 * namespace (`/pk/`, `/ipns/`, ...) or a provider key that is not a SHA-256
 * multihash. Kept here rather than in errors.ts because only the DHT layer
 * raises it.
 */
export class UnsupportedDhtKeyError extends RoomkvError {
  static readonly code = 'ERR_DHT_UNSUPPORTED_KEY'
  constructor (message = 'DHT key outside the roomkv namespace') {
    super(message, UnsupportedDhtKeyError.code)
    this.name = 'UnsupportedDhtKeyError'
  }
}

/** The record namespace of a DHT key (its first path segment), or undefined. */
export function dhtNamespaceOf (key: Uint8Array): string | undefined {
  const parts = new TextDecoder().decode(key.subarray(0, 64)).split('/')
  return parts.length >= 3 && parts[0] === '' ? parts[1] : undefined
}

/**
 * kad-dht merges its own validators (`pk`) under ours; mapping them to a
 * refusal is how a namespace is removed without patching it. Nothing in
 * roomkv reads `/pk/` (Ed25519 peer ids carry their key) or `/ipns/`.
 */
async function refuseNamespace (key: Uint8Array): Promise<void> {
  throw new UnsupportedDhtKeyError(`DHT namespace "${dhtNamespaceOf(key) ?? ''}" is not served`)
}

/** Namespaces kad-dht or its users may bring that roomkv refuses. */
export const REFUSED_DHT_NAMESPACES = ['pk', 'ipns'] as const

export interface DhtValidatorsInit {
  /**
   * Told about every record a validator refuses (a forged or stale PUT_VALUE,
   * a bad record in a GET answer, a refused namespace), with its error code.
   * kad-dht validates before the datastore, so this is the only place a
   * refused DHT record can be counted.
   */
  onRejected?(code: string, key: Uint8Array): void
}

/** kad-dht `validators`: the roomkv namespace, and refusals for the defaults. */
export function createDhtValidators (init: DhtValidatorsInit = {}): Record<string, (key: Uint8Array, value: Uint8Array) => Promise<void>> {
  const counted = (validate: (key: Uint8Array, value: Uint8Array) => Promise<void>) => async (key: Uint8Array, value: Uint8Array): Promise<void> => {
    try {
      await validate(key, value)
    } catch (err) {
      init.onRejected?.(errorCode(err), key)
      throw err
    }
  }
  const validators: Record<string, (key: Uint8Array, value: Uint8Array) => Promise<void>> = { [RECORD_NAMESPACE]: counted(validateDhtRecord) }
  for (const namespace of REFUSED_DHT_NAMESPACES) validators[namespace] = counted(refuseNamespace)
  return validators
}

export const dhtValidators = createDhtValidators()
export const dhtSelectors = { [RECORD_NAMESPACE]: selectDhtRecord }
