/**
 * RFC 4648 base32, lowercase, no padding: the text uint8arrays writes for
 * 'base32', and what storage keys rooms and keys by. Written out because the
 * generic encoder uint8arrays uses builds its string a character at a time
 * (~1 KB of garbage per 32-byte key id): a catch-up names every record's key
 * this way, 10,000 times. Same output, checked against uint8arrays in the
 * tests.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const CODES = Uint8Array.from(ALPHABET, c => c.charCodeAt(0))

/** Reused per call (synchronous): the characters of one encoding. */
let scratch = new Uint8Array(64)
const decoder = new TextDecoder('latin1')

export function base32 (bytes: Uint8Array): string {
  const length = Math.ceil(bytes.length * 8 / 5)
  if (scratch.length < length) scratch = new Uint8Array(length * 2)
  let buffer = 0
  let bits = 0
  let k = 0
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      scratch[k++] = CODES[(buffer >>> bits) & 31]
    }
  }
  if (bits > 0) scratch[k++] = CODES[(buffer << (5 - bits)) & 31]
  return decoder.decode(scratch.subarray(0, k))
}
