/**
 * A crypto Worker of the tab: checks batches of Ed25519 signatures and
 * opens batches of stored records (AES-GCM, key-id HMAC, payload checks)
 * with the same code as the main thread (shared/signature.ts,
 * shared/record.ts), so both accept and reject exactly the same records.
 */
import { openPayloadAsync, readStoredRecord } from '../../shared/record.ts'
import { verifySignature } from '../../shared/signature.ts'
import { unpackBytes } from './packed-bytes.ts'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type CryptoRequest, type CryptoResponse, type OpenResult } from './crypto-protocol.ts'

const scope = globalThis as unknown as { onmessage: ((event: MessageEvent<CryptoRequest>) => void) | null, postMessage(message: CryptoResponse, transfer?: Transferable[]): void }

async function verify (item: Uint8Array): Promise<boolean> {
  if (item.length < SIGNATURE_BYTES + PUBLIC_KEY_BYTES) return false
  return verifySignature(
    item.subarray(0, SIGNATURE_BYTES),
    item.subarray(SIGNATURE_BYTES + PUBLIC_KEY_BYTES),
    item.subarray(SIGNATURE_BYTES, SIGNATURE_BYTES + PUBLIC_KEY_BYTES)
  ).catch(() => false)
}

/**
 * Opening reads the body, not the record id: a placeholder spares hashing
 * every record again here (the main thread computed its id on arrival).
 */
const UNUSED_ID = new Uint8Array(0)

async function open (keys: { roomId: Uint8Array, encryptionKey: Uint8Array, nameKey: Uint8Array }, item: Uint8Array): Promise<OpenResult> {
  try {
    return await openPayloadAsync(keys, readStoredRecord(item, UNUSED_ID))
  } catch (err: any) {
    return { error: { code: typeof err?.code === 'string' ? err.code : 'ERR_OPEN_FAILED', message: String(err?.message ?? err) } }
  }
}

scope.onmessage = (event) => {
  const request = event.data
  if (request.kind === 'verify') {
    void Promise.all(unpackBytes(request).map(verify)).then((ok) => {
      const results = Uint8Array.from(ok, v => v ? 1 : 0)
      scope.postMessage({ id: request.id, results }, [results.buffer])
    })
  } else {
    void Promise.all(unpackBytes(request).map(async item => open(request.keys, item))).then((opened) => {
      scope.postMessage({ id: request.id, opened })
    })
  }
}

// Until this arrives the pool works on the tab's thread: a Worker's start
// (thread, isolate, script) took 100-150 ms of a catch-up's first records.
scope.postMessage({ ready: true })
