import { noise, pureJsCrypto } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { x25519 } from '@noble/curves/ed25519.js'
import { hexToBytes } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'
import type { Upgrader } from '@libp2p/interface'
import { tabNoiseCrypto, x25519PublicKey } from './noise-crypto.ts'

async function encrypter (crypto = tabNoiseCrypto()) {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey)
  const upgrader = { getStreamMuxers: () => new Map() } as unknown as Upgrader
  return { peerId, noise: noise({ crypto })({ peerId, privateKey, logger: defaultLogger(), upgrader }) }
}

describe('tabNoiseCrypto', () => {
  it('gives the RFC 7748 section 6.1 public keys', () => {
    const alice = hexToBytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
    const bob = hexToBytes('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
    expect(x25519PublicKey(alice)).toEqual(hexToBytes('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'))
    expect(x25519PublicKey(bob)).toEqual(hexToBytes('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'))
  })

  it('makes the same key pairs as noble x25519.getPublicKey', () => {
    const crypto = tabNoiseCrypto()
    for (let i = 0; i < 16; i++) {
      const pair = crypto.generateX25519KeyPair()
      expect(pair.privateKey).toHaveLength(32)
      expect(pair.publicKey).toEqual(x25519.getPublicKey(pair.privateKey))
      const seed = x25519.utils.randomSecretKey()
      expect(crypto.generateX25519KeyPairFromSeed(seed)).toEqual({ privateKey: seed, publicKey: x25519.getPublicKey(seed) })
    }
    // Two fresh pairs differ (the private key is random, not a constant).
    expect(crypto.generateX25519KeyPair().privateKey).not.toEqual(crypto.generateX25519KeyPair().privateKey)
  })

  it('agrees on a shared secret with pairs from the default crypto', () => {
    const ours = tabNoiseCrypto().generateX25519KeyPair()
    const theirs = pureJsCrypto.generateX25519KeyPair()
    expect(pureJsCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey))
      .toEqual(pureJsCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey))
  })

  it('completes a Noise XX handshake with a peer on the default crypto, both ways', async () => {
    for (const [dialerCrypto, listenerCrypto] of [[tabNoiseCrypto(), pureJsCrypto], [pureJsCrypto, tabNoiseCrypto()]]) {
      const dialer = await encrypter(dialerCrypto)
      const listener = await encrypter(listenerCrypto)
      const [outbound, inbound] = multiaddrConnectionPair()
      const [a, b] = await Promise.all([
        dialer.noise.secureOutbound(outbound, { remotePeer: listener.peerId, skipStreamMuxerNegotiation: true }),
        listener.noise.secureInbound(inbound, { skipStreamMuxerNegotiation: true })
      ])
      expect(a.remotePeer.equals(listener.peerId)).toBe(true)
      expect(b.remotePeer.equals(dialer.peerId)).toBe(true)
      await outbound.close()
      await inbound.close()
    }
  })

  it('a key pair whose public key does not match fails that handshake (the check above can fail)', async () => {
    const wrong = tabNoiseCrypto()
    const generate = wrong.generateX25519KeyPair
    let calls = 0
    // The static key (first pair made) gets another key's public half.
    wrong.generateX25519KeyPair = () => calls++ === 0 ? { ...generate(), publicKey: generate().publicKey } : generate()
    const dialer = await encrypter(wrong)
    const listener = await encrypter(pureJsCrypto)
    const [outbound, inbound] = multiaddrConnectionPair()
    const results = await Promise.allSettled([
      dialer.noise.secureOutbound(outbound, { remotePeer: listener.peerId, skipStreamMuxerNegotiation: true }),
      listener.noise.secureInbound(inbound, { skipStreamMuxerNegotiation: true })
    ])
    expect(results[1].status).toBe('rejected')
    await outbound.close()
    await inbound.close()
  })
})
