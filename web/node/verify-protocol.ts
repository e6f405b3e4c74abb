/**
 * The messages between the tab and its signature Workers. A batch travels
 * as one transferred buffer: each item is signature (64) ‖ public key (32)
 * ‖ message, at `offsets[i]` .. `offsets[i + 1]`. One buffer instead of
 * three views per record: posting a view clones its whole backing buffer
 * (a record's signature is a view into a 1 MiB sync frame).
 */
export interface VerifyRequest {
  id: number
  buffer: ArrayBuffer
  offsets: Uint32Array
}

/** results[i] is 1 when item i verified. */
export interface VerifyResponse {
  id: number
  results: Uint8Array
}

export const SIGNATURE_BYTES = 64
export const PUBLIC_KEY_BYTES = 32
