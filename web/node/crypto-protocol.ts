/**
 * The messages between the tab and its crypto Workers (crypto-pool.ts).
 * Items of a batch travel as one transferred buffer, item i at
 * `offsets[i]` .. `offsets[i + 1]`: posting a view clones its whole backing
 * buffer (a record's bytes are a view into a 1 MiB sync frame).
 *
 * - verify: each item is signature (64) ‖ public key (32) ‖ message;
 *   results[i] is 1 when it verified.
 * - open: each item is a stored record (SignedRecord bytes, verified when
 *   it was merged); the answer is its checked payload or the error.
 * - ready (Worker to tab, once): the Worker's script has loaded.
 */
export interface VerifyRequest {
  kind: 'verify'
  id: number
  buffer: ArrayBuffer
  offsets: Uint32Array
}

export interface OpenRequest {
  kind: 'open'
  id: number
  keys: { roomId: Uint8Array, encryptionKey: Uint8Array, nameKey: Uint8Array }
  buffer: ArrayBuffer
  offsets: Uint32Array
}

export type CryptoRequest = VerifyRequest | OpenRequest

export type OpenResult = { name: string, value: string } | { error: { code: string, message: string } }

/** `ready`: sent once, when the Worker's script has loaded (batches go to it from then on). */
export type CryptoResponse = { id: number, results: Uint8Array } | { id: number, opened: OpenResult[] } | { ready: true }

export const SIGNATURE_BYTES = 64
export const PUBLIC_KEY_BYTES = 32
