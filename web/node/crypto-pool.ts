/**
 * Record crypto off the tab's main thread. Chromium runs WebCrypto's
 * Ed25519 verify, AES-GCM and HMAC on the calling thread (~70 us per
 * signature, ~35 us to open a record, measured with the CPU profiler: 3-5 s
 * of main thread for a 60,000-key catch-up), so a tab hands them to a few
 * Workers: requests of one tick go out as one batch per Worker (one
 * transferred buffer), answers come back as one array. The Workers start
 * with the first tick of many items (a catch-up); until then the few
 * checks of live changes run here. Where Workers cannot start (CSP, an old
 * browser) or one fails, the work runs on this thread, with the same code.
 */
import { logger } from '@libp2p/logger'
import { openPayloadAsync, type OpenedPayload, type PayloadOpener, type VerifiedRecord } from '../../shared/record.ts'
import type { RoomKeys } from '../../shared/room-keys.ts'
import { verifySignature, type SignatureVerifier, type SignedMessage } from '../../shared/signature.ts'
import { RoomkvError } from '../../shared/errors.ts'
import { packBytes as pack } from './packed-bytes.ts'
import { readyWaiters } from './ready-waiters.ts'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type CryptoRequest, type CryptoResponse, type OpenResult } from './crypto-protocol.ts'

const log = logger('roomkv:crypto-pool')

export interface CryptoPoolInit {
  /**
   * Workers to start. @default hardware threads - 1, between 2 and 4: with
   * one Worker on a two-thread machine, a catch-up kept that Worker busy
   * verifying while the main thread idled ~45 % of the time.
   */
  workers?: number
  /** Most items in one message to a Worker. @default 256 */
  maxBatch?: number
  /** Starts a Worker; tests pass their own. @default the bundled crypto-worker */
  createWorker?: () => Worker
  /**
   * Until a tick brings at least this many items (a catch-up), the work is
   * done on this thread (~0.1 ms per record) and no Worker runs: starting
   * them (a thread, an isolate, 86 KB of script each) in the first second
   * of a join delayed a tab's first direct peer by ~100 ms on two cores.
   * From then on every tick goes to the Workers. @default 32
   */
  localBelow?: number
}

export interface CryptoPool {
  verify: SignatureVerifier
  open: PayloadOpener
  /**
   * Start the Workers now if they are not running: true once one has loaded
   * its script (work goes to them from then on), false if none can.
   */
  ready(): Promise<boolean>
  /** Stop the Workers; work still pending runs on this thread. */
  close(): void
}

type OpenKeys = Pick<RoomKeys, 'roomId' | 'encryptionKey' | 'nameKey'>

type Item =
  | { kind: 'verify', signature: Uint8Array, message: SignedMessage, publicKey: Uint8Array, resolve(ok: boolean): void }
  | { kind: 'open', keys: OpenKeys, record: VerifiedRecord, resolve(payload: OpenedPayload): void, reject(err: Error): void }

interface Slot {
  worker: Worker
  /** Batches sent and not answered, by request id. */
  pending: Map<number, Item[]>
  /** Its script has loaded (it said `ready`): batches go to it from then on. */
  ready: boolean
}

const DEFAULT_MAX_BATCH = 256
const DEFAULT_LOCAL_BELOW = 32

const ZERO_SIGNATURE = new Uint8Array(SIGNATURE_BYTES)
const ZERO_KEY = new Uint8Array(PUBLIC_KEY_BYTES)

function request (id: number, batch: Item[]): { message: CryptoRequest, transfer: Transferable[] } {
  const first = batch[0]
  if (first.kind === 'verify') {
    // Wrong sizes can never verify: zeros stand in (the worker answers false).
    const { buffer, offsets } = pack(batch.map(item => {
      const v = item as Extract<Item, { kind: 'verify' }>
      const head = [v.signature.length === SIGNATURE_BYTES ? v.signature : ZERO_SIGNATURE, v.publicKey.length === PUBLIC_KEY_BYTES ? v.publicKey : ZERO_KEY]
      return v.message instanceof Uint8Array ? [...head, v.message] : [...head, ...v.message]
    }))
    return { message: { kind: 'verify', id, buffer, offsets }, transfer: [buffer, offsets.buffer] }
  }
  const { buffer, offsets } = pack(batch.map(item => (item as Extract<Item, { kind: 'open' }>).record.bytes))
  const { roomId, encryptionKey, nameKey } = first.keys
  return { message: { kind: 'open', id, keys: { roomId, encryptionKey, nameKey }, buffer, offsets }, transfer: [buffer, offsets.buffer] }
}

export function createCryptoPool (init: CryptoPoolInit = {}): CryptoPool {
  const maxBatch = Math.max(1, init.maxBatch ?? DEFAULT_MAX_BATCH)
  const count = Math.max(1, init.workers ?? Math.min(4, Math.max(2, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1)))
  const createWorker = init.createWorker ?? (() => new Worker(new URL('./crypto-worker.ts', import.meta.url), { type: 'module', name: 'roomkv-crypto' }))
  const localBelow = init.localBelow ?? DEFAULT_LOCAL_BELOW
  const slots: Slot[] = []
  let started = false
  let nextId = 0
  let queue: Item[] = []
  let scheduled = false
  let closed = false
  const readiness = readyWaiters()

  const local = (item: Item): void => {
    if (item.kind === 'verify') verifySignature(item.signature, item.message, item.publicKey).then(item.resolve, () => item.resolve(false))
    else openPayloadAsync(item.keys, item.record).then(item.resolve, item.reject)
  }

  const settle = (item: Item, result: boolean | OpenResult | undefined): void => {
    if (item.kind === 'verify') { item.resolve(result === true); return }
    const opened = result as OpenResult | undefined
    if (opened == null) local(item)
    else if ('error' in opened) item.reject(new RoomkvError(opened.error.message, opened.error.code))
    else item.resolve(opened)
  }

  /** A Worker that failed: its batches run here, and it gets no more. */
  const retire = (slot: Slot, reason: unknown): void => {
    const index = slots.indexOf(slot)
    if (index < 0) return
    log('crypto worker failed, working on the main thread: %e', reason)
    slots.splice(index, 1)
    if (slots.length === 0) readiness.settle(false)
    slot.worker.terminate()
    for (const items of slot.pending.values()) items.forEach(local)
    slot.pending.clear()
  }

  /** The Workers, started on the first tick with enough work. */
  const start = (): void => {
    started = true
    try {
      for (let i = 0; i < count && typeof Worker !== 'undefined'; i++) {
        const slot: Slot = { worker: createWorker(), pending: new Map(), ready: false }
        slot.worker.onmessage = (event: MessageEvent<CryptoResponse>) => {
          const response = event.data
          if ('ready' in response) {
            slot.ready = true
            readiness.settle(true)
            return
          }
          const items = slot.pending.get(response.id)
          if (items == null) return
          slot.pending.delete(response.id)
          if ('results' in response) items.forEach((item, i) => settle(item, response.results[i] === 1))
          else items.forEach((item, i) => settle(item, response.opened[i]))
        }
        slot.worker.onerror = (event) => { retire(slot, event.message) }
        slot.worker.onmessageerror = () => { retire(slot, 'unreadable message') }
        slots.push(slot)
      }
    } catch (err) {
      log('no crypto workers: %e', err)
    }
    if (slots.length === 0) readiness.settle(false)
  }

  const send = (batch: Item[], turn: number): void => {
    // The ready Worker with the fewest batches waiting.
    const ready = slots.filter(s => s.ready)
    if (ready.length === 0) {
      // The last ready Worker failed during this flush.
      batch.forEach(local)
      return
    }
    const slot = ready.reduce((a, b) => b.pending.size < a.pending.size ? b : a, ready[turn % ready.length])
    const id = nextId++
    try {
      const { message, transfer } = request(id, batch)
      slot.pending.set(id, batch)
      slot.worker.postMessage(message, transfer)
    } catch (err) {
      slot.pending.delete(id)
      batch.forEach(local)
      retire(slot, err)
    }
  }

  const flush = (): void => {
    scheduled = false
    const items = queue
    queue = []
    if (!started) {
      // Closed meanwhile (this flush was already scheduled): no Worker starts.
      if (closed || items.length < localBelow) {
        items.forEach(local)
        return
      }
      start()
    }
    // No Worker yet, or none has loaded its script: this thread does the
    // work meanwhile rather than wait for them.
    const ready = slots.filter(s => s.ready).length
    if (ready === 0) {
      items.forEach(local)
      return
    }
    // One kind (and one room's keys) per message, split evenly across the
    // Workers in batches of at most maxBatch.
    const groups = new Map<unknown, Item[]>()
    for (const item of items) {
      const group = item.kind === 'verify' ? 'verify' : item.keys
      const list = groups.get(group)
      if (list == null) groups.set(group, [item])
      else list.push(item)
    }
    let turn = 0
    for (const list of groups.values()) {
      const per = Math.min(maxBatch, Math.ceil(list.length / ready))
      for (let i = 0; i < list.length; i += per) send(list.slice(i, i + per), turn++)
    }
  }

  const enqueue = (item: Item): void => {
    if (closed) {
      local(item)
      return
    }
    queue.push(item)
    if (!scheduled) {
      scheduled = true
      queueMicrotask(flush)
    }
  }

  return {
    verify (signature, message, publicKey) {
      return new Promise<boolean>((resolve) => { enqueue({ kind: 'verify', signature, message, publicKey, resolve }) })
    },
    open (keys, record) {
      return new Promise<OpenedPayload>((resolve, reject) => { enqueue({ kind: 'open', keys, record, resolve, reject }) })
    },
    async ready () {
      if (!started && !closed) start()
      if (slots.some(s => s.ready)) return true
      if (slots.length === 0) return false
      return readiness.wait()
    },
    close () {
      closed = true
      readiness.settle(false)
      for (const slot of [...slots]) {
        slots.splice(slots.indexOf(slot), 1)
        slot.worker.terminate()
        for (const items of slot.pending.values()) items.forEach(local)
        slot.pending.clear()
      }
    }
  }
}
