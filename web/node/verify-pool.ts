/**
 * Signature checks off the tab's main thread. Chromium runs WebCrypto's
 * Ed25519 verify on the calling thread (~70 us of main thread per record,
 * 0.7-1.7 s for a 10,000-key catch-up, measured with the CPU profiler), so
 * a tab hands them to a few Workers: requests of one tick go out as one
 * batch per Worker (one transferred buffer), answers come back as one
 * array. Where Workers cannot start (CSP, an old browser) or one fails,
 * the checks run on this thread as before.
 */
import { logger } from '@libp2p/logger'
import { verifySignature, type SignatureVerifier } from '../../shared/signature.ts'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type VerifyRequest, type VerifyResponse } from './verify-protocol.ts'

const log = logger('roomkv:verify-pool')

export interface VerifyPoolInit {
  /** Workers to start. @default hardware threads - 1, between 1 and 4 */
  workers?: number
  /** Most signatures in one message to a Worker. @default 256 */
  maxBatch?: number
  /** Starts a Worker; tests pass their own. @default the bundled verify-worker */
  createWorker?: () => Worker
}

export interface VerifyPool {
  verify: SignatureVerifier
  /** Stop the Workers; checks still pending run on this thread. */
  close(): void
}

interface Item {
  signature: Uint8Array
  message: Uint8Array
  publicKey: Uint8Array
  resolve(ok: boolean): void
}

interface Slot {
  worker: Worker
  /** Batches sent and not answered, by request id. */
  pending: Map<number, Item[]>
}

const DEFAULT_MAX_BATCH = 256

/** Items packed into one buffer: signature ‖ public key ‖ message each. */
function pack (items: Item[]): { buffer: ArrayBuffer, offsets: Uint32Array } {
  const offsets = new Uint32Array(items.length + 1)
  let size = 0
  items.forEach((item, i) => {
    offsets[i] = size
    size += SIGNATURE_BYTES + PUBLIC_KEY_BYTES + item.message.length
  })
  offsets[items.length] = size
  const bytes = new Uint8Array(size)
  items.forEach((item, i) => {
    const at = offsets[i]
    // Wrong sizes can never verify: zeros stand in (the worker answers false).
    if (item.signature.length === SIGNATURE_BYTES) bytes.set(item.signature, at)
    if (item.publicKey.length === PUBLIC_KEY_BYTES) bytes.set(item.publicKey, at + SIGNATURE_BYTES)
    bytes.set(item.message, at + SIGNATURE_BYTES + PUBLIC_KEY_BYTES)
  })
  return { buffer: bytes.buffer, offsets }
}

export function createVerifyPool (init: VerifyPoolInit = {}): VerifyPool {
  const maxBatch = Math.max(1, init.maxBatch ?? DEFAULT_MAX_BATCH)
  const count = Math.max(1, init.workers ?? Math.min(4, Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1)))
  const createWorker = init.createWorker ?? (() => new Worker(new URL('./verify-worker.ts', import.meta.url), { type: 'module', name: 'roomkv-verify' }))
  const slots: Slot[] = []
  let nextId = 0
  let queue: Item[] = []
  let scheduled = false
  let closed = false

  const local = (item: Item): void => {
    verifySignature(item.signature, item.message, item.publicKey).then(item.resolve, () => item.resolve(false))
  }

  /** A Worker that failed: its batches are checked here, and it gets no more. */
  const retire = (slot: Slot, reason: unknown): void => {
    const index = slots.indexOf(slot)
    if (index < 0) return
    log('verify worker failed, checking on the main thread: %e', reason)
    slots.splice(index, 1)
    slot.worker.terminate()
    for (const items of slot.pending.values()) items.forEach(local)
    slot.pending.clear()
  }

  try {
    for (let i = 0; i < count && typeof Worker !== 'undefined'; i++) {
      const slot: Slot = { worker: createWorker(), pending: new Map() }
      slot.worker.onmessage = (event: MessageEvent<VerifyResponse>) => {
        const { id, results } = event.data
        const items = slot.pending.get(id)
        if (items == null) return
        slot.pending.delete(id)
        items.forEach((item, i) => item.resolve(results[i] === 1))
      }
      slot.worker.onerror = (event) => { retire(slot, event.message) }
      slot.worker.onmessageerror = () => { retire(slot, 'unreadable message') }
      slots.push(slot)
    }
  } catch (err) {
    log('no verify workers: %e', err)
  }

  const flush = (): void => {
    scheduled = false
    const items = queue
    queue = []
    if (slots.length === 0) {
      items.forEach(local)
      return
    }
    // Split evenly across the Workers, in batches of at most maxBatch.
    const per = Math.min(maxBatch, Math.ceil(items.length / slots.length))
    for (let i = 0, turn = 0; i < items.length; i += per, turn++) {
      const batch = items.slice(i, i + per)
      // The Worker with the fewest batches waiting.
      const slot = slots.reduce((a, b) => b.pending.size < a.pending.size ? b : a, slots[turn % slots.length])
      const id = nextId++
      try {
        const { buffer, offsets } = pack(batch)
        slot.pending.set(id, batch)
        slot.worker.postMessage({ id, buffer, offsets } satisfies VerifyRequest, [buffer, offsets.buffer])
      } catch (err) {
        slot.pending.delete(id)
        batch.forEach(local)
        retire(slot, err)
      }
    }
  }

  return {
    verify (signature, message, publicKey) {
      return new Promise<boolean>((resolve) => {
        const item = { signature, message, publicKey, resolve }
        if (closed) {
          local(item)
          return
        }
        queue.push(item)
        if (!scheduled) {
          scheduled = true
          queueMicrotask(flush)
        }
      })
    },
    close () {
      closed = true
      for (const slot of [...slots]) {
        slots.splice(slots.indexOf(slot), 1)
        slot.worker.terminate()
        for (const items of slot.pending.values()) items.forEach(local)
        slot.pending.clear()
      }
    }
  }
}
