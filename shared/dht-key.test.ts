import { describe, expect, it } from 'vitest'
import { concat, fromString, toString } from 'uint8arrays'
import { RECORD_NAMESPACE } from './constants.ts'
import { RoomkvError } from './errors.ts'
import {
  createDhtValidators, dhtKeyFor, dhtNamespaceOf, dhtSelectors, dhtValidators, isRoomkvDhtKey, parseDhtKey, selectDhtRecord, validateDhtRecord
} from './dht-key.ts'
import { type SealInit } from './record.ts'
import { sealRecord } from './record-js.ts'
import { deriveRoomKeys, keyIdFor, type RoomKeys } from './room-keys.ts'

// Clocks well in the past: validateDhtRecord checks against the real Date.now().
const WALL = 1_700_000_000_000
const keysA = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const keysB = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')

function seal (init: Partial<SealInit> = {}, keys: RoomKeys = keysA): Uint8Array {
  return sealRecord(keys, { key: 'greeting', value: 'hello', clock: { wall: WALL, counter: 0 }, writer: 'writer-1', ...init })
}

async function codeOfAsync (fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
    return 'NO_ERROR'
  } catch (err: any) {
    return err.code ?? err.name
  }
}

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof RoomkvError)) throw new Error(`expected a RoomkvError, got ${String(err)}`)
    return err.code
  }
  return 'NO_ERROR'
}

describe('dhtKeyFor / parseDhtKey', () => {
  const keyId = keyIdFor(keysA, 'greeting')
  const key = dhtKeyFor(keysA.roomId, keyId)

  it('formats /roomkv/<base32 room id>/<base32 key id> as UTF-8', () => {
    expect(text(key)).toBe(`/roomkv/${keysA.roomIdText}/${toString(keyId, 'base32')}`)
    expect(text(key)).toMatch(/^\/roomkv\/[a-z2-7]{26}\/[a-z2-7]{52}$/)
  })

  it('round-trips', () => {
    for (const name of ['greeting', 'a', '🔑', 'x'.repeat(256)]) {
      for (const keys of [keysA, keysB]) {
        const id = keyIdFor(keys, name)
        const parsed = parseDhtKey(dhtKeyFor(keys.roomId, id))
        expect(hex(parsed.roomId)).toBe(hex(keys.roomId))
        expect(hex(parsed.keyId)).toBe(hex(id))
      }
    }
  })

  it('does not reveal the key name', () => {
    expect(text(dhtKeyFor(keysA.roomId, keyIdFor(keysA, 'my-secret-name')))).not.toContain('my-secret-name')
  })

  it('isRoomkvDhtKey tells our keys from others', () => {
    expect(isRoomkvDhtKey(key)).toBe(true)
    expect(isRoomkvDhtKey(utf8(`/${RECORD_NAMESPACE}/x`))).toBe(true)
    expect(isRoomkvDhtKey(utf8('/roomkv/'))).toBe(false)
    expect(isRoomkvDhtKey(utf8('/roomkv'))).toBe(false)
    expect(isRoomkvDhtKey(utf8('/roomkvx/abc/def'))).toBe(false)
    expect(isRoomkvDhtKey(utf8('roomkv/abc/def'))).toBe(false)
    expect(isRoomkvDhtKey(utf8('/pk/abc'))).toBe(false)
    expect(isRoomkvDhtKey(utf8('/ipns/abc'))).toBe(false)
    expect(isRoomkvDhtKey(concat([utf8('/pk/'), new Uint8Array([0xff, 0x00, 0x12])]))).toBe(false)
    expect(isRoomkvDhtKey(new Uint8Array(0))).toBe(false)
  })

  it('parseDhtKey rejects anything else with ERR_INVALID_RECORD', () => {
    const room = keysA.roomIdText
    const id = toString(keyId, 'base32')
    const bad = [
      '',
      '/',
      `/roomkv/${room}`,
      `/roomkv/${room}/`,
      `/roomkv/${room}/${id}/`,
      `/roomkv/${room}/${id}/extra`,
      `roomkv/${room}/${id}`,
      `/other/${room}/${id}`,
      `/pk/${room}/${id}`,
      `/roomkv/${room.slice(0, -1)}1/${id}`, // '1' is not base32
      `/roomkv/${room}/${id.slice(0, -2)}`, // key id too short
      `/roomkv/${toString(keysA.roomId.subarray(0, 15), 'base32')}/${id}`, // 15-byte room id
      `/roomkv/${toString(concat([keysA.roomId, new Uint8Array(1)]), 'base32')}/${id}`, // 17-byte room id
      `/roomkv/${room}/${toString(keyId.subarray(0, 31), 'base32')}`, // 31-byte key id
      `/roomkv/${id}/${room}` // swapped
    ]
    for (const key of bad) {
      expect(codeOf(() => parseDhtKey(utf8(key))), key).toBe('ERR_INVALID_RECORD')
    }
  })
})

describe('one DHT key per (room, key)', () => {
  const keyId = keyIdFor(keysA, 'greeting')
  const room = keysA.roomIdText
  const id = toString(keyId, 'base32')

  it('parseDhtKey then dhtKeyFor gives back the same bytes', () => {
    const key = dhtKeyFor(keysA.roomId, keyId)
    const parsed = parseDhtKey(key)
    expect(hex(dhtKeyFor(parsed.roomId, parsed.keyId))).toBe(hex(key))
  })

  // Regression guard (shared/dht-key.ts, parseDhtKey): multiformats' base32 decoder is
  // case-insensitive and strips '=' padding, so non-canonical spellings of a
  // DHT key (upper/mixed case, padded) parse to the same room and key id, and
  // validateDhtRecord accepts the room's records under all of them: one record
  // can be PUT under ~2^78 distinct DHT keys (each its own kad routing key).
  // Fixed by: after decoding, require
  // `equals(dhtKeyFor(roomId, keyId), key)` (else InvalidRecordError).
  it('non-canonical spellings of a DHT key are rejected with ERR_INVALID_RECORD', () => {
    for (const key of [
      `/roomkv/${room.toUpperCase()}/${id}`,
      `/roomkv/${room}/${id.toUpperCase()}`,
      `/roomkv/${room.slice(0, 3).toUpperCase()}${room.slice(3)}/${id}`,
      `/roomkv/${room}======/${id}`
    ]) {
      expect(codeOf(() => parseDhtKey(utf8(key))), key).toBe('ERR_INVALID_RECORD')
    }
  })
})

describe('validateDhtRecord', () => {
  const keyId = keyIdFor(keysA, 'greeting')
  const key = dhtKeyFor(keysA.roomId, keyId)
  const record = seal()

  it('accepts a record stored under its own key', async () => {
    expect(await codeOfAsync(() => validateDhtRecord(key, record))).toBe('NO_ERROR')
    expect(codeOf(() => dhtValidators[RECORD_NAMESPACE](key, record))).toBe('NO_ERROR')
  })

  it('rejects a record stored under another key of the same room', async () => {
    const otherKey = dhtKeyFor(keysA.roomId, keyIdFor(keysA, 'other'))
    expect(await codeOfAsync(() => validateDhtRecord(otherKey, record))).toBe('ERR_WRONG_ROOM')
  })

  it('rejects a record stored under another room', async () => {
    expect(await codeOfAsync(() => validateDhtRecord(dhtKeyFor(keysB.roomId, keyId), record))).toBe('ERR_WRONG_ROOM')
    expect(await codeOfAsync(() => validateDhtRecord(dhtKeyFor(keysB.roomId, keyIdFor(keysB, 'greeting')), record))).toBe('ERR_WRONG_ROOM')
    // a record of room B under room A's key for the same name
    expect(await codeOfAsync(() => validateDhtRecord(key, seal({}, keysB)))).toBe('ERR_WRONG_ROOM')
  })

  it('rejects damaged, expired and future records, and malformed keys', async () => {
    const damaged = Uint8Array.from(record)
    damaged[damaged.length - 1] ^= 0x80
    expect(await codeOfAsync(() => validateDhtRecord(key, damaged))).toBe('ERR_BAD_SIGNATURE')
    expect(await codeOfAsync(() => validateDhtRecord(key, seal({ expiresAt: WALL + 1 })))).toBe('ERR_RECORD_EXPIRED')
    expect(await codeOfAsync(() => validateDhtRecord(key, seal({ clock: { wall: Date.now() + 3_600_000, counter: 0 } })))).toBe('ERR_INVALID_RECORD')
    expect(await codeOfAsync(() => validateDhtRecord(key, new Uint8Array([1, 2, 3])))).toBe('ERR_INVALID_RECORD')
    expect(await codeOfAsync(() => validateDhtRecord(utf8('/roomkv/nope'), record))).toBe('ERR_INVALID_RECORD')
  })
})

describe('selectDhtRecord', () => {
  const keyId = keyIdFor(keysA, 'greeting')
  const key = dhtKeyFor(keysA.roomId, keyId)

  it('picks the newest valid record for the key, in any order', () => {
    const older = seal({ clock: { wall: WALL, counter: 0 } })
    const newer = seal({ clock: { wall: WALL, counter: 1 } })
    const otherKey = seal({ key: 'other', clock: { wall: WALL + 10, counter: 0 } })
    const otherRoom = seal({ clock: { wall: WALL + 10, counter: 0 } }, keysB)
    const values = [older, otherKey, newer, otherRoom, new Uint8Array([9, 9, 9])]
    for (let shift = 0; shift < values.length; shift++) {
      const rotated = [...values.slice(shift), ...values.slice(0, shift)]
      expect(hex(rotated[selectDhtRecord(key, rotated)])).toBe(hex(newer))
      expect(hex(rotated[dhtSelectors[RECORD_NAMESPACE](key, rotated)])).toBe(hex(newer))
    }
  })

  it('throws for a malformed key', () => {
    expect(codeOf(() => selectDhtRecord(utf8('/roomkv/x/y'), [seal()]))).toBe('ERR_INVALID_RECORD')
  })
})

describe('fromString/toString base32 as used by DHT keys', () => {
  it('is lowercase, unpadded RFC 4648', () => {
    expect(toString(utf8('foobar'), 'base32')).toBe('mzxw6ytboi')
    expect(text(fromString('mzxw6ytboi', 'base32'))).toBe('foobar')
  })
})

describe('createDhtValidators', () => {
  const key = dhtKeyFor(keysA.roomId, keyIdFor(keysA, 'greeting'))

  it('reports each refused record with its code, and only refused ones', async () => {
    const rejected: string[] = []
    const validators = createDhtValidators({ onRejected: (code) => { rejected.push(code) } })
    await validators[RECORD_NAMESPACE](key, seal())
    expect(rejected).toEqual([])
    const forged = seal()
    forged[forged.length - 1] ^= 0x01
    expect(await codeOfAsync(async () => validators[RECORD_NAMESPACE](key, forged))).toBe('ERR_BAD_SIGNATURE')
    expect(rejected).toEqual(['ERR_BAD_SIGNATURE'])
  })

  it('refuses the namespaces kad-dht brings (pk) and ipns, counted', async () => {
    const rejected: string[] = []
    const validators = createDhtValidators({ onRejected: (code) => { rejected.push(code) } })
    expect(await codeOfAsync(async () => validators.pk(utf8('/pk/abc'), new Uint8Array([1])))).toBe('ERR_DHT_UNSUPPORTED_KEY')
    expect(await codeOfAsync(async () => validators.ipns(utf8('/ipns/abc'), new Uint8Array([1])))).toBe('ERR_DHT_UNSUPPORTED_KEY')
    expect(rejected).toEqual(['ERR_DHT_UNSUPPORTED_KEY', 'ERR_DHT_UNSUPPORTED_KEY'])
    expect(Object.keys(dhtValidators).sort()).toEqual(['ipns', 'pk', RECORD_NAMESPACE].sort())
  })

  it('reads the namespace of a key', () => {
    expect(dhtNamespaceOf(key)).toBe(RECORD_NAMESPACE)
    expect(dhtNamespaceOf(utf8('/pk/x'))).toBe('pk')
    expect(dhtNamespaceOf(utf8('pk'))).toBeUndefined()
  })
})
