import { toString } from 'uint8arrays'
import { describe, expect, it } from 'vitest'
import { base32 } from './base32.ts'
import { prng } from './test-support.ts'

describe('base32', () => {
  it('writes what uint8arrays writes for base32, every length from 0 to 100 bytes', () => {
    const random = prng(32)
    for (let n = 0; n <= 100; n++) {
      for (let round = 0; round < 5; round++) {
        const bytes = Uint8Array.from({ length: n }, () => Math.floor(random() * 256))
        expect(base32(bytes)).toBe(toString(bytes, 'base32'))
      }
    }
    expect(base32(new Uint8Array(32).fill(255))).toBe(toString(new Uint8Array(32).fill(255), 'base32'))
  })
})
