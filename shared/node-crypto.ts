/**
 * node:crypto when running in Node 22.3+, found at run time through
 * process.getBuiltinModule, so shared/ imports nothing Node-only; undefined
 * in browsers. Where Node's own primitives beat its WebCrypto (AES-GCM and
 * HMAC: per-call overhead of 10-30 us there) or noble (SHA-256), shared
 * code uses these.
 */
export interface NodeGcm {
  setAAD(aad: Uint8Array): void
  setAuthTag(tag: Uint8Array): void
  getAuthTag(): Uint8Array
  update(data: Uint8Array): Uint8Array
  final(): Uint8Array
}

export interface NodeCrypto {
  createCipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array, options: { authTagLength: number }): NodeGcm
  createDecipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array, options: { authTagLength: number }): NodeGcm
  createHmac(algorithm: 'sha256', key: Uint8Array): { update(data: string | Uint8Array): { digest(): Uint8Array } }
  /** One-shot digest (Node 21.7+): ~2 us for a record body, a third of noble's. */
  hash?: (algorithm: 'sha256', data: Uint8Array, outputEncoding: 'buffer') => Uint8Array
  /** A public key object (here: Ed25519 from its JWK). */
  createPublicKey(key: { key: { kty: 'OKP', crv: 'Ed25519', x: string }, format: 'jwk' }): unknown
  /** Ed25519 verify in libuv's thread pool (with a callback), without WebCrypto's per-call normalisation. */
  verify(algorithm: null, data: Uint8Array, key: unknown, signature: Uint8Array, callback: (err: Error | null, ok: boolean) => void): void
}

export const nodeCrypto: NodeCrypto | undefined = (() => {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    const crypto = typeof proc?.getBuiltinModule === 'function' ? proc.getBuiltinModule('node:crypto') as NodeCrypto | undefined : undefined
    return typeof crypto?.createDecipheriv === 'function' && typeof crypto.createHmac === 'function' ? crypto : undefined
  } catch {
    return undefined
  }
})()
