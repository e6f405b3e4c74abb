import { createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { equals, toString } from 'uint8arrays'
import { ROOM_ID_BYTES, ROOM_SECRET_BYTES } from './constants.ts'
import { RoomkvError } from './errors.ts'
import { deriveRoomKeys, deriveRoomKeysAsync, keyIdFor, keyIdMatches, newRoomSecret, roomIdFromRoomKey, type RoomKeys } from './room-keys.ts'

/** 0x00..0x1f */
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i)
const OTHER_SECRET = Uint8Array.from({ length: 32 }, (_, i) => 0xff - i)

const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')

/** Independent HKDF-SHA256 (node:crypto) with the labels documented in room-keys.ts. */
function nodeHkdf (secret: Uint8Array, name: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, Buffer.from('roomkv/v1'), Buffer.from(`roomkv/v1/${name}`), 32))
}

/** Independent Ed25519 public key from a 32-byte seed (node:crypto, PKCS#8 wrapper). */
function nodeEd25519PublicKey (seed: Uint8Array): Uint8Array {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed])
  const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' })
  return new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))
}

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(RoomkvError)
    return (err as RoomkvError).code
  }
  return 'NO_ERROR'
}

describe('deriveRoomKeys', () => {
  const keys = deriveRoomKeys(SECRET)

  it('is deterministic', () => {
    const again = deriveRoomKeys(Uint8Array.from(SECRET))
    for (const field of ['secret', 'signingSeed', 'roomKey', 'encryptionKey', 'nameKey', 'roomId'] as const) {
      expect(hex(again[field])).toBe(hex(keys[field]))
    }
    expect(again.roomIdText).toBe(keys.roomIdText)
  })

  it('gives keys of the documented sizes', () => {
    expect(keys.secret).toEqual(SECRET)
    expect(keys.signingSeed.length).toBe(32)
    expect(keys.roomKey.length).toBe(32)
    expect(keys.encryptionKey.length).toBe(32)
    expect(keys.nameKey.length).toBe(32)
    expect(keys.roomId.length).toBe(ROOM_ID_BYTES)
  })

  it('derives each key with HKDF-SHA256(secret, salt "roomkv/v1", info "roomkv/v1/<label>")', () => {
    expect(hex(keys.signingSeed)).toBe(hex(nodeHkdf(SECRET, 'sign')))
    expect(hex(keys.encryptionKey)).toBe(hex(nodeHkdf(SECRET, 'encrypt')))
    expect(hex(keys.nameKey)).toBe(hex(nodeHkdf(SECRET, 'name')))
    expect(hex(keys.signalKey)).toBe(hex(nodeHkdf(SECRET, 'signal')))
  })

  it('uses a distinct key per label, none equal to the secret', () => {
    const all = [keys.secret, keys.signingSeed, keys.roomKey, keys.encryptionKey, keys.nameKey].map(hex)
    expect(new Set(all).size).toBe(all.length)
  })

  it('roomKey is the Ed25519 public key of signingSeed', () => {
    expect(hex(keys.roomKey)).toBe(hex(nodeEd25519PublicKey(keys.signingSeed)))
  })

  it('roomId = SHA-256(roomKey)[0..16], roomIdText its lowercase unpadded base32', () => {
    const digest = createHash('sha256').update(keys.roomKey).digest()
    expect(hex(keys.roomId)).toBe(digest.subarray(0, 16).toString('hex'))
    expect(hex(roomIdFromRoomKey(keys.roomKey))).toBe(hex(keys.roomId))
    expect(keys.roomIdText).toMatch(/^[a-z2-7]{26}$/)
    expect(keys.roomIdText).toBe(toString(keys.roomId, 'base32'))
  })

  it('gives unrelated keys for another secret, and for a one-bit change', () => {
    const flipped = Uint8Array.from(SECRET)
    flipped[31] ^= 1
    for (const other of [deriveRoomKeys(OTHER_SECRET), deriveRoomKeys(flipped)]) {
      for (const field of ['signingSeed', 'roomKey', 'encryptionKey', 'nameKey', 'roomId'] as const) {
        expect(equals(other[field], keys[field])).toBe(false)
      }
      expect(other.roomIdText).not.toBe(keys.roomIdText)
    }
  })

  it('refuses a secret of the wrong length or type', () => {
    for (const length of [0, 1, 16, ROOM_SECRET_BYTES - 1, ROOM_SECRET_BYTES + 1, 64]) {
      expect(codeOf(() => deriveRoomKeys(new Uint8Array(length)))).toBe('ERR_INVALID_LINK')
    }
    expect(codeOf(() => deriveRoomKeys(Array.from(SECRET) as unknown as Uint8Array))).toBe('ERR_INVALID_LINK')
    expect(codeOf(() => deriveRoomKeys('x'.repeat(32) as unknown as Uint8Array))).toBe('ERR_INVALID_LINK')
    expect(codeOf(() => deriveRoomKeys(undefined as unknown as Uint8Array))).toBe('ERR_INVALID_LINK')
  })
})

describe('newRoomSecret', () => {
  it('gives 32 fresh random bytes each time', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 50; i++) {
      const secret = newRoomSecret()
      expect(secret).toBeInstanceOf(Uint8Array)
      expect(secret.length).toBe(ROOM_SECRET_BYTES)
      seen.add(hex(secret))
    }
    expect(seen.size).toBe(50)
    expect(() => deriveRoomKeys(newRoomSecret())).not.toThrow()
  })
})

describe('keyIdFor', () => {
  const keys = deriveRoomKeys(SECRET)
  const other: RoomKeys = deriveRoomKeys(OTHER_SECRET)
  const names = ['greeting', 'Greeting', 'greeting ', 'a', 'é', 'e\u0301', '🔑/key', 'x'.repeat(256)]

  it('is HMAC-SHA256(nameKey, UTF-8 name)', () => {
    for (const name of names) {
      const expected = createHmac('sha256', keys.nameKey).update(Buffer.from(name, 'utf8')).digest('hex')
      expect(hex(keyIdFor(keys, name))).toBe(expected)
      expect(keyIdFor(keys, name).length).toBe(32)
    }
  })

  it('keyIdMatches (WebCrypto HMAC) agrees with it, computed fresh or cached, and rejects other ids', async () => {
    const fresh = { nameKey: Uint8Array.from(keys.nameKey) } // not in keyIdFor's cache
    for (const name of names) {
      const expected = createHmac('sha256', keys.nameKey).update(Buffer.from(name, 'utf8')).digest()
      expect(await keyIdMatches(fresh, name, expected)).toBe(true)
      expect(await keyIdMatches(fresh, name, expected)).toBe(true) // cached now
      expect(await keyIdMatches(fresh, name, keyIdFor(other, name))).toBe(false)
      expect(await keyIdMatches({ nameKey: Uint8Array.from(keys.nameKey) }, `${name}!`, expected)).toBe(false)
    }
  })

  it('is deterministic, and needs only nameKey', () => {
    for (const name of names) {
      expect(hex(keyIdFor(deriveRoomKeys(Uint8Array.from(SECRET)), name))).toBe(hex(keyIdFor(keys, name)))
      expect(hex(keyIdFor({ nameKey: keys.nameKey }, name))).toBe(hex(keyIdFor(keys, name)))
    }
  })

  it('differs per name', () => {
    const ids = names.map(name => hex(keyIdFor(keys, name)))
    expect(new Set(ids).size).toBe(names.length)
  })

  it('differs per room', () => {
    for (const name of names) {
      expect(hex(keyIdFor(other, name))).not.toBe(hex(keyIdFor(keys, name)))
    }
  })
})

describe('deriveRoomKeysAsync', () => {
  it('gives the same keys as deriveRoomKeys (native public key = noble public key)', async () => {
    for (let i = 0; i < 5; i++) {
      const secret = Uint8Array.from({ length: 32 }, (_, j) => (i * 37 + j * 11) & 0xff)
      const a = deriveRoomKeys(secret)
      const b = await deriveRoomKeysAsync(secret)
      expect(Buffer.from(b.roomKey).toString('hex')).toBe(Buffer.from(a.roomKey).toString('hex'))
      expect(b.roomIdText).toBe(a.roomIdText)
      expect(Buffer.from(b.encryptionKey).toString('hex')).toBe(Buffer.from(a.encryptionKey).toString('hex'))
    }
  })
})
