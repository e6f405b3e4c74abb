/**
 * AES-256-GCM for record payloads, native where the platform has it.
 * WebCrypto's AES-GCM runs in native code (a few microseconds for a small
 * payload); @noble/ciphers in pure JS cost ~150 us per record here, which
 * was most of the CPU of sealing and opening records in bulk. Both give
 * the same bytes: ciphertext followed by the 16-byte tag.
 *
 * In Node, node:crypto's cipher (found at run time through
 * process.getBuiltinModule, so this module imports nothing Node-only) is
 * ~8x faster again than Node's WebCrypto, whose per-call overhead
 * (algorithm normalisation, promises) was 30 us and most of the garbage of
 * opening 10,000 records.
 */
import { concat } from 'uint8arrays'
import { nodeCrypto } from './node-crypto.ts'

/**
 * The pure-JS fallback, loaded only where it is used (no WebCrypto, no
 * node:crypto): evaluating @noble/ciphers/aes.js precomputes its AES and
 * GHASH tables, ~50 ms of a tab's main thread while it joins, for a
 * fallback a browser never takes.
 */
const noble = async (): Promise<typeof import('./aead-js.ts')> => import('./aead-js.ts')

const TAG_BYTES = 16

const keys = new WeakMap<Uint8Array, Promise<CryptoKey | undefined>>()
let native: boolean | undefined

function importKey (key: Uint8Array): Promise<CryptoKey | undefined> {
  let imported = keys.get(key)
  if (imported == null) {
    imported = globalThis.crypto.subtle.importKey('raw', key.slice(), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
      .catch(() => undefined)
    keys.set(key, imported)
  }
  return imported
}

async function nativeKey (key: Uint8Array): Promise<CryptoKey | undefined> {
  if (native === false || globalThis.crypto?.subtle == null) return undefined
  const imported = await importKey(key)
  native = imported != null
  return imported
}

export async function aesGcmEncrypt (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  if (nodeCrypto != null && key.length === 32) {
    const cipher = nodeCrypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(aad)
    const head = cipher.update(plaintext)
    return concat([head, cipher.final(), cipher.getAuthTag()])
  }
  const k = await nativeKey(key)
  if (k == null) return (await noble()).gcm(key, nonce, aad).encrypt(plaintext)
  return new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce.slice(), additionalData: aad.slice(), tagLength: 128 }, k, plaintext.slice()))
}

/** Throws when the tag does not verify (wrong key, tampered bytes). */
export async function aesGcmDecrypt (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  if (nodeCrypto != null && key.length === 32) {
    if (ciphertext.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag')
    const decipher = nodeCrypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(aad)
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES))
    const head = decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES))
    // final() throws when the tag does not verify.
    return concat([head, decipher.final()])
  }
  const k = await nativeKey(key)
  if (k == null) return (await noble()).gcm(key, nonce, aad).decrypt(ciphertext)
  return new Uint8Array(await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce.slice(), additionalData: aad.slice(), tagLength: 128 }, k, ciphertext.slice()))
}
