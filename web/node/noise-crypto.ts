/**
 * Noise's crypto for a tab: @chainsafe/libp2p-noise's pure-JS (noble)
 * implementation with X25519 key generation moved off the Ed25519 base-point
 * tables.
 *
 * noble's `x25519.getPublicKey` computes [k]B on the Edwards curve with
 * cached W-NAF tables. Building those tables costs ~35-40 ms on the first
 * call (measured: Node 22 and Chromium on this machine), and the first call
 * is `noise()`'s static key in `createLibp2p`, on the tab's join path. Nothing
 * else on the main thread multiplies the Ed25519 base point, so the tables
 * would only ever serve Noise key pairs. The Montgomery ladder on u = 9
 * (`x25519.scalarMult`) gives the same public key for ~3 ms cold, ~1-2 ms
 * warm: one ladder per handshake (the ephemeral key) next to the three the
 * handshake's Diffie-Hellman steps already run.
 */
import { pureJsCrypto, type ICryptoInterface } from '@chainsafe/libp2p-noise'
import { x25519 } from '@noble/curves/ed25519.js'

/** The X25519 base point, u = 9 (RFC 7748 section 4.1), little-endian. */
const BASE_U = /* @__PURE__ */ (() => {
  const u = new Uint8Array(32)
  u[0] = 9
  return u
})()

/** The X25519 public key of a 32-byte private key (clamped as RFC 7748 says), by the ladder. */
export function x25519PublicKey (privateKey: Uint8Array): Uint8Array {
  return x25519.scalarMult(privateKey, BASE_U)
}

/**
 * `base` supplies everything but key generation.
 * @default pureJsCrypto (what noise() uses in a browser)
 */
export function tabNoiseCrypto (base: ICryptoInterface = pureJsCrypto): ICryptoInterface {
  return {
    ...base,
    generateX25519KeyPair () {
      const privateKey = x25519.utils.randomSecretKey()
      return { publicKey: x25519PublicKey(privateKey), privateKey }
    },
    generateX25519KeyPairFromSeed (seed) {
      return { publicKey: x25519PublicKey(seed), privateKey: seed }
    }
  }
}
