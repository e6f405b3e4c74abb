import { gcm } from '@noble/ciphers/aes.js'
import { describe, expect, it } from 'vitest'
import { aesGcmDecrypt, aesGcmEncrypt } from './aead.ts'
import { prng } from './test-support.ts'

const bytes = (random: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))

describe('AES-256-GCM (node:crypto here, WebCrypto in tabs)', () => {
  it('gives the same bytes as noble both ways, for empty to 64 KiB payloads', async () => {
    const random = prng(11)
    for (const size of [0, 1, 15, 16, 17, 300, 4096, 65536]) {
      const key = bytes(random, 32)
      const nonce = bytes(random, 12)
      const aad = bytes(random, 64)
      const plaintext = bytes(random, size)
      const sealed = await aesGcmEncrypt(key, nonce, aad, plaintext)
      expect(sealed).toEqual(gcm(key, nonce, aad).encrypt(plaintext))
      expect(await aesGcmDecrypt(key, nonce, aad, sealed)).toEqual(plaintext)
      // Views into a larger buffer read as the view.
      const frame = new Uint8Array(sealed.length + 20)
      frame.set(sealed, 10)
      expect(await aesGcmDecrypt(key, nonce, aad, frame.subarray(10, 10 + sealed.length))).toEqual(plaintext)
    }
  })

  it('refuses a flipped bit anywhere, a wrong key, nonce or aad, and a cut tag', async () => {
    const random = prng(12)
    const [key, nonce, aad, plaintext] = [bytes(random, 32), bytes(random, 12), bytes(random, 40), bytes(random, 100)]
    const sealed = await aesGcmEncrypt(key, nonce, aad, plaintext)
    for (let i = 0; i < sealed.length; i += 7) {
      const bad = sealed.slice()
      bad[i] ^= 0x10
      await expect(aesGcmDecrypt(key, nonce, aad, bad)).rejects.toThrow()
    }
    const other = bytes(random, 32)
    await expect(aesGcmDecrypt(other, nonce, aad, sealed)).rejects.toThrow()
    await expect(aesGcmDecrypt(key, bytes(random, 12), aad, sealed)).rejects.toThrow()
    await expect(aesGcmDecrypt(key, nonce, aad.subarray(1), sealed)).rejects.toThrow()
    await expect(aesGcmDecrypt(key, nonce, aad, sealed.subarray(0, sealed.length - 1))).rejects.toThrow()
    await expect(aesGcmDecrypt(key, nonce, aad, sealed.subarray(0, 10))).rejects.toThrow()
  })
})
