import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { concat } from 'uint8arrays'
import { aesGcmEncrypt } from '../aead.ts'
import { MAX_SIGNAL_BYTES } from '../constants.ts'
import { rejectionCode } from '../test-support.ts'
import { deriveRoomKeys } from '../room-keys.ts'
import { openSignal, sealSignal, SignalMessage, signalSigningBytes } from './signal-message.ts'

const keys = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => i))
const otherRoom = deriveRoomKeys(Uint8Array.from({ length: 32 }, (_, i) => 0xff - i))

const codeOf = rejectionCode

describe('sealed WebRTC signals', async () => {
  const aliceKey = await generateKeyPair('Ed25519')
  const bobKey = await generateKeyPair('Ed25519')
  const alice = peerIdFromPrivateKey(aliceKey)
  const bob = peerIdFromPrivateKey(bobKey)
  const offer = { to: bob, dial: 0x0102030405060708n, type: SignalMessage.Type.OFFER, data: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }

  it('opens what was sealed for us, naming the sender', async () => {
    for (const type of [SignalMessage.Type.OFFER, SignalMessage.Type.ANSWER, SignalMessage.Type.CANDIDATE, SignalMessage.Type.ABORT]) {
      const sealed = await sealSignal(keys, aliceKey, { ...offer, type })
      const opened = await openSignal(keys, sealed, alice, bob)
      expect(opened.from.equals(alice)).toBe(true)
      expect(opened.to.equals(bob)).toBe(true)
      expect(opened.dial).toBe(offer.dial)
      expect(opened.type).toBe(type)
      expect(opened.data).toBe(offer.data)
    }
  })

  it('hides the SDP from whoever passes it on', async () => {
    const sealed = await sealSignal(keys, aliceKey, offer)
    expect(Buffer.from(sealed).includes(Buffer.from('IN IP4 127.0.0.1'))).toBe(false)
  })

  it('refuses another room\'s seal, another addressee, and a sender the relay did not name', async () => {
    const sealed = await sealSignal(keys, aliceKey, offer)
    expect(await codeOf(openSignal(otherRoom, sealed, alice, bob))).toBe('ERR_BAD_SIGNAL')
    expect(await codeOf(openSignal(keys, sealed, alice, alice))).toBe('ERR_BAD_SIGNAL')
    expect(await codeOf(openSignal(keys, sealed, bob, bob))).toBe('ERR_BAD_SIGNAL')
  })

  it('refuses an offer whose signature is not the sender\'s, or covers other SDP', async () => {
    // A room member (it has the signal key) poses as alice: it cannot sign as her.
    const forge = async (signature: Uint8Array, data: string): Promise<Uint8Array> => {
      const plain = SignalMessage.encode({ from: publicKeyToProtobuf(aliceKey.publicKey), to: bob.toMultihash().bytes, dial: offer.dial, type: SignalMessage.Type.OFFER, data, signature })
      const nonce = new Uint8Array(12)
      return concat([nonce, await aesGcmEncrypt(keys.signalKey, nonce, concat([new TextEncoder().encode('roomkv/v1/signal'), keys.roomId]), plain)])
    }
    const bobSigned = await bobKey.sign(signalSigningBytes(bob.toMultihash().bytes, offer.dial, SignalMessage.Type.OFFER, offer.data))
    expect(await codeOf(openSignal(keys, await forge(bobSigned, offer.data), alice, bob))).toBe('ERR_BAD_SIGNAL')
    const aliceSigned = await aliceKey.sign(signalSigningBytes(bob.toMultihash().bytes, offer.dial, SignalMessage.Type.OFFER, offer.data))
    expect((await openSignal(keys, await forge(aliceSigned, offer.data), alice, bob)).data).toBe(offer.data)
    expect(await codeOf(openSignal(keys, await forge(aliceSigned, `${offer.data}a=fingerprint:evil\r\n`), alice, bob))).toBe('ERR_BAD_SIGNAL')
    expect(await codeOf(openSignal(keys, await forge(new Uint8Array(0), offer.data), alice, bob))).toBe('ERR_BAD_SIGNAL')
  })

  it('refuses to seal more than MAX_SIGNAL_BYTES', async () => {
    expect(await codeOf(sealSignal(keys, aliceKey, { ...offer, data: 'x'.repeat(MAX_SIGNAL_BYTES) }))).toBe('ERR_BAD_SIGNAL')
  })

  it('answers random and truncated bytes with ERR_BAD_SIGNAL, never anything else', async () => {
    const sealed = await sealSignal(keys, aliceKey, offer)
    let seed = 7
    const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
    for (let i = 0; i < 300; i++) {
      let bytes: Uint8Array
      if (i % 3 === 0) bytes = sealed.subarray(0, rand() % sealed.length)
      else if (i % 3 === 1) { bytes = sealed.slice(); bytes[rand() % bytes.length] ^= 1 + rand() % 255 } else bytes = Uint8Array.from({ length: rand() % (MAX_SIGNAL_BYTES + 64) }, () => rand() & 0xff)
      expect(await codeOf(openSignal(keys, bytes, alice, bob))).toBe('ERR_BAD_SIGNAL')
    }
  })
})
