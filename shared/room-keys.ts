/**
 * Everything a room member derives from the room secret. HKDF-SHA256 with
 * distinct `info` labels keeps the keys independent: knowing the public
 * room id or the signing public key reveals nothing about the others.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { equals, fromString, toString } from 'uint8arrays'
import { ROOM_ID_BYTES, ROOM_SECRET_BYTES } from './constants.ts'
import { InvalidLinkError } from './errors.ts'
import { nodeCrypto } from './node-crypto.ts'

const SALT = new TextEncoder().encode('roomkv/v1')
const label = (name: string): Uint8Array => new TextEncoder().encode(`roomkv/v1/${name}`)

export interface RoomKeys {
  secret: Uint8Array
  /** Ed25519 seed that signs records. */
  signingSeed: Uint8Array
  /** Ed25519 public key, carried in every record. */
  roomKey: Uint8Array
  /** AES-256-GCM key for payloads. */
  encryptionKey: Uint8Array
  /** HMAC-SHA256 key that turns key names into key ids. */
  nameKey: Uint8Array
  /** AES-256-GCM key that seals WebRTC signalling between members (relays pass it on unread). */
  signalKey: Uint8Array
  /** Public room id: SHA-256(roomKey)[0..16]. Safe to publish (DHT keys, provider records). */
  roomId: Uint8Array
  /** roomId in lowercase unpadded base32, as used in DHT keys. */
  roomIdText: string
}

export function newRoomSecret (): Uint8Array {
  return randomBytes(ROOM_SECRET_BYTES)
}

export function deriveRoomKeys (secret: Uint8Array): RoomKeys {
  const signingSeed = signingSeedOf(secret)
  return keysWith(secret, signingSeed, ed25519.getPublicKey(signingSeed))
}

/**
 * deriveRoomKeys with the public key from native Ed25519 (WebCrypto) where
 * there is one: noble's first getPublicKey builds its tables (~150 ms in a
 * tab), which sat on the join path. Same keys either way.
 */
export async function deriveRoomKeysAsync (secret: Uint8Array): Promise<RoomKeys> {
  const signingSeed = signingSeedOf(secret)
  let roomKey: Uint8Array | undefined
  try {
    const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...signingSeed])
    const key = await globalThis.crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign'])
    const jwk = await globalThis.crypto.subtle.exportKey('jwk', key)
    if (typeof jwk.x === 'string') roomKey = fromString(jwk.x, 'base64url')
  } catch {}
  return keysWith(secret, signingSeed, roomKey?.length === 32 ? roomKey : ed25519.getPublicKey(signingSeed))
}

function signingSeedOf (secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== ROOM_SECRET_BYTES) {
    throw new InvalidLinkError(`Room secret must be ${ROOM_SECRET_BYTES} bytes`)
  }
  return hkdf(sha256, secret, SALT, label('sign'), 32)
}

function keysWith (secret: Uint8Array, signingSeed: Uint8Array, roomKey: Uint8Array): RoomKeys {
  const roomId = roomIdFromRoomKey(roomKey)
  return {
    secret,
    signingSeed,
    roomKey,
    encryptionKey: hkdf(sha256, secret, SALT, label('encrypt'), 32),
    nameKey: hkdf(sha256, secret, SALT, label('name'), 32),
    signalKey: hkdf(sha256, secret, SALT, label('signal'), 32),
    roomId,
    roomIdText: toString(roomId, 'base32')
  }
}

/**
 * The last room key hashed and its id: every record of a room carries the
 * same room key, and verifying a catch-up hashed it once per record.
 */
let lastRoom: { roomKey: Uint8Array, roomId: Uint8Array } | undefined

export function roomIdFromRoomKey (roomKey: Uint8Array): Uint8Array {
  const last = lastRoom
  if (last != null && equals(last.roomKey, roomKey)) return last.roomId.slice()
  const roomId = sha256(roomKey).subarray(0, ROOM_ID_BYTES)
  // Copies kept: callers may keep or change both the key they passed and the id they got.
  lastRoom = { roomKey: roomKey.slice(), roomId: roomId.slice() }
  return roomId
}

/** Recent key ids per room name key: an HMAC costs ~150 us in a tab, and a burst of puts repeats names. */
const keyIdCache = new WeakMap<Uint8Array, Map<string, Uint8Array>>()
const KEY_ID_CACHE_SIZE = 65_536

/** The key id hides the key name from everyone without the room secret. */
export function keyIdFor (keys: Pick<RoomKeys, 'nameKey'>, name: string): Uint8Array {
  let cache = keyIdCache.get(keys.nameKey)
  if (cache == null) keyIdCache.set(keys.nameKey, cache = new Map())
  let id = cache.get(name)
  if (id == null) {
    id = hmac(sha256, keys.nameKey, new TextEncoder().encode(name))
    if (cache.size >= KEY_ID_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(name, id)
  }
  // A copy: callers may keep or change what they get.
  return id.slice()
}

/** The room's name key imported for WebCrypto HMAC; undefined where that is missing. */
const hmacKeys = new WeakMap<Uint8Array, Promise<CryptoKey | undefined>>()

/**
 * Whether `keyId` is the key id of `name`: what every received record is
 * checked for once decrypted. WebCrypto's HMAC is native (noble's took
 * ~35 us of a tab's main thread per record, a third of a second for a
 * 10,000-key catch-up); noble where WebCrypto is missing. Ids it computes
 * join keyIdFor's cache.
 */
export async function keyIdMatches (keys: Pick<RoomKeys, 'nameKey'>, name: string, keyId: Uint8Array): Promise<boolean> {
  const cached = keyIdCache.get(keys.nameKey)?.get(name)
  if (cached != null) return equals(cached, keyId)
  // Node: node:crypto's HMAC, synchronous and ~3 us (not cached: a catch-up names each key once).
  if (nodeCrypto != null) return equals(nodeCrypto.createHmac('sha256', keys.nameKey).update(name).digest(), keyId)
  let key = hmacKeys.get(keys.nameKey)
  if (key == null) {
    key = globalThis.crypto?.subtle == null
      ? Promise.resolve(undefined)
      : globalThis.crypto.subtle.importKey('raw', keys.nameKey.slice(), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']).catch(() => undefined)
    hmacKeys.set(keys.nameKey, key)
  }
  const imported = await key
  if (imported == null) return equals(keyIdFor(keys, name), keyId)
  const id = new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', imported, new TextEncoder().encode(name)))
  let cache = keyIdCache.get(keys.nameKey)
  if (cache == null) keyIdCache.set(keys.nameKey, cache = new Map())
  if (cache.size >= KEY_ID_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
  cache.set(name, id)
  return equals(id, keyId)
}
