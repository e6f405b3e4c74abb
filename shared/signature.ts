/**
 * Ed25519 signature checks, fast where the platform allows. WebCrypto's
 * Ed25519 (Node 22, Chromium 137+, Firefox 129+, Safari 17+) is native and
 * ~10-40x faster than pure JS, which decides how long joining a room of
 * 10,000 keys takes. Where it is missing, @noble/curves does the same check.
 * Both follow RFC 8032 strictly (noble with zip215: false), so every peer
 * accepts and rejects the same signatures.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { concat, equals, toString } from 'uint8arrays'
import { nodeCrypto } from './node-crypto.ts'

const MAX_CACHED_KEYS = 256
const keys = new Map<string, Promise<CryptoKey | undefined>>()
const signingKeys = new Map<string, Promise<CryptoKey | undefined>>()
let webCrypto: boolean | undefined
let webCryptoSign: boolean | undefined

/** PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): WebCrypto imports private keys only this way. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])

const hexOf = (bytes: Uint8Array): string => Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')

function importSigningKey (seed: Uint8Array): Promise<CryptoKey | undefined> {
  const id = hexOf(seed)
  let key = signingKeys.get(id)
  if (key == null) {
    if (signingKeys.size >= MAX_CACHED_KEYS) signingKeys.delete(signingKeys.keys().next().value as string)
    const pkcs8 = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32)
    pkcs8.set(PKCS8_ED25519_PREFIX)
    pkcs8.set(seed, PKCS8_ED25519_PREFIX.length)
    key = globalThis.crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign'])
      .catch(() => undefined)
    signingKeys.set(id, key)
  }
  return key
}

/**
 * Ed25519 signature, native where the platform has it (~40 us instead of
 * ~1 ms for noble in a tab: the cost of every put). Ed25519 is
 * deterministic, so both paths give the same bytes.
 */
export async function sign (message: Uint8Array, seed: Uint8Array): Promise<Uint8Array> {
  if (webCryptoSign !== false && globalThis.crypto?.subtle != null && seed.length === 32) {
    try {
      const key = await importSigningKey(seed)
      if (key != null) {
        webCryptoSign = true
        return new Uint8Array(await globalThis.crypto.subtle.sign('Ed25519', key, message.slice()))
      }
    } catch {}
    if (webCryptoSign !== true) webCryptoSign = false
  }
  return ed25519.sign(message, seed)
}

export function verifySignatureSync (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false })
  } catch {
    return false
  }
}

/**
 * The key of the last verify, matched by identity then by bytes: a room's
 * records all carry the room key, so a catch-up of 10,000 records asks for
 * the same key 10,000 times, and hex-encoding it for the map each time cost
 * more than the lookup saved.
 */
let lastKey: { bytes: Uint8Array, key: Promise<CryptoKey | undefined>, resolved?: CryptoKey } | undefined

function importKey (publicKey: Uint8Array): Promise<CryptoKey | undefined> {
  if (lastKey != null && equals(lastKey.bytes, publicKey)) return lastKey.key
  const id = hexOf(publicKey)
  let key = keys.get(id)
  if (key == null) {
    if (keys.size >= MAX_CACHED_KEYS) keys.delete(keys.keys().next().value as string)
    key = globalThis.crypto.subtle.importKey('raw', publicKey.slice(), { name: 'Ed25519' }, false, ['verify'])
      .catch(() => undefined)
    keys.set(id, key)
  }
  // A copy: the caller's bytes may be a view into a buffer that is reused.
  const entry: NonNullable<typeof lastKey> = { bytes: publicKey.slice(), key }
  lastKey = entry
  void key.then((resolved) => { if (resolved != null) entry.resolved = resolved })
  return key
}

/**
 * Checks an Ed25519 signature; resolves false for any bad input. The
 * default is `verifySignature` (this thread); a tab passes one that runs
 * in Workers (web/node/crypto-pool.ts).
 */
export type SignatureVerifier = (signature: Uint8Array, message: SignedMessage, publicKey: Uint8Array) => Promise<boolean>

/**
 * The signed bytes, or parts that concatenate to them: a record's message is
 * a prefix and its body, and a verifier that copies anyway (into a Worker's
 * buffer) copies the parts without joining them first.
 */
export type SignedMessage = Uint8Array | readonly Uint8Array[]

/** The message's bytes in one array (the parts joined, one allocation). */
export function joinMessage (message: SignedMessage): Uint8Array {
  return message instanceof Uint8Array ? message : concat([...message])
}

/**
 * Verify a signature; false for any bad input. With WebCrypto known to work
 * and the last key already imported (every record of a catch-up after the
 * first), it is one WebCrypto call and one promise: the awaits of the
 * general path cost a measurable share of a 10,000-record verify.
 */
export function verifySignature (signature: Uint8Array, signed: SignedMessage, publicKey: Uint8Array): Promise<boolean> {
  const message = joinMessage(signed)
  if (nodeCrypto != null && signature.length === 64 && publicKey.length === 32) return verifyInNode(signature, message, publicKey)
  const last = lastKey
  if (webCrypto === true && last?.resolved != null && signature.length === 64 && equals(last.bytes, publicKey)) {
    try {
      // No copies: WebCrypto copies its inputs before it returns (a view
      // into a larger buffer is read as the view). BufferSource's typing
      // wants an ArrayBuffer-backed view; these are.
      return globalThis.crypto.subtle.verify('Ed25519', last.resolved, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>)
        .catch(() => verifySignatureSync(signature, message, publicKey))
    } catch {
      return Promise.resolve(verifySignatureSync(signature, message, publicKey))
    }
  }
  return verifySignatureFirst(signature, message, publicKey)
}

/** Node: the last public key as a node:crypto key object (a catch-up verifies one room key 10,000 times). */
let lastNodeKey: { bytes: Uint8Array, key: unknown } | undefined

/**
 * node:crypto's Ed25519 verify with a callback runs in libuv's thread pool
 * like WebCrypto's, without its per-call algorithm normalisation and job
 * promise (~10 us and a share of the garbage per record of a catch-up).
 */
function verifyInNode (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  const crypto = nodeCrypto as NonNullable<typeof nodeCrypto>
  let last = lastNodeKey
  if (last == null || !equals(last.bytes, publicKey)) {
    try {
      last = { bytes: publicKey.slice(), key: crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toString(publicKey, 'base64url') }, format: 'jwk' }) }
    } catch {
      return Promise.resolve(false) // not a valid Ed25519 point
    }
    lastNodeKey = last
  }
  const key = last.key
  return new Promise((resolve) => {
    try {
      crypto.verify(null, message, key, signature, (err, ok) => { resolve(err == null && ok) })
    } catch {
      resolve(false)
    }
  })
}

/** The general path: finds out whether WebCrypto has Ed25519, imports the key. */
async function verifySignatureFirst (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (webCrypto !== false && globalThis.crypto?.subtle != null && publicKey.length === 32 && signature.length === 64) {
    try {
      const key = await importKey(publicKey)
      if (key != null) {
        webCrypto = true
        return await globalThis.crypto.subtle.verify('Ed25519', key, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>)
      }
    } catch {}
    if (webCrypto !== true) webCrypto = false // not supported here: stop trying
  }
  return verifySignatureSync(signature, message, publicKey)
}
