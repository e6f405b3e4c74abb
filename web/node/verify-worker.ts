/**
 * A signature Worker: checks batches of Ed25519 signatures with the same
 * code as the main thread (WebCrypto, noble where WebCrypto lacks Ed25519),
 * so both accept and reject exactly the same records.
 */
import { verifySignature } from '../../shared/signature.ts'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type VerifyRequest, type VerifyResponse } from './verify-protocol.ts'

const scope = globalThis as unknown as { onmessage: ((event: MessageEvent<VerifyRequest>) => void) | null, postMessage(message: VerifyResponse, transfer: Transferable[]): void }

scope.onmessage = (event) => {
  const { id, buffer, offsets } = event.data
  const bytes = new Uint8Array(buffer)
  const count = offsets.length - 1
  const checks: Array<Promise<boolean>> = []
  for (let i = 0; i < count; i++) {
    const start = offsets[i]
    const end = offsets[i + 1]
    if (end - start < SIGNATURE_BYTES + PUBLIC_KEY_BYTES) {
      checks.push(Promise.resolve(false))
      continue
    }
    checks.push(verifySignature(
      bytes.subarray(start, start + SIGNATURE_BYTES),
      bytes.subarray(start + SIGNATURE_BYTES + PUBLIC_KEY_BYTES, end),
      bytes.subarray(start + SIGNATURE_BYTES, start + SIGNATURE_BYTES + PUBLIC_KEY_BYTES)
    ).catch(() => false))
  }
  void Promise.all(checks).then((ok) => {
    const results = Uint8Array.from(ok, v => v ? 1 : 0)
    scope.postMessage({ id, results }, [results.buffer])
  })
}
