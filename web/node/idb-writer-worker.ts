/**
 * Commits the tab's record batches to IndexedDB off the main thread: each
 * put clones its value, which costs the main thread when done in the page.
 * A batch is one packed segment per room (idb-segments.ts), so one put per
 * room. Batches commit in arrival order (IndexedDB runs transactions of one
 * store in creation order); the answer comes after the transaction's
 * `complete`, with the seq each segment was given.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'
import { appendSegments } from './idb-segments.ts'
import type { WriterReady, WriteRequest, WriteResponse } from './idb-writer-protocol.ts'
import { unpackBytes } from './packed-bytes.ts'

const scope = globalThis as unknown as { onmessage: ((event: MessageEvent<WriteRequest>) => void) | null, postMessage(message: WriteResponse | WriterReady): void }
const stores = new Map<string, UseStore>()

scope.onmessage = (event) => {
  const { id, database, roomIds, buffer } = event.data
  let store = stores.get(database)
  if (store == null) stores.set(database, store = createStore(database, 'records'))
  const parts = unpackBytes(event.data)
  // A view would store the whole batch's buffer: a part of its own unless it is the whole.
  const segments = parts.map(part => part.byteLength === buffer.byteLength ? part : part.slice())
  store('readwrite', async s => {
    const complete = promisifyRequest(s.transaction)
    complete.catch(() => {})
    try {
      const seqs = await appendSegments(s, roomIds, segments)
      await complete
      return seqs
    } catch (err) {
      try { s.transaction.abort() } catch {}
      throw err
    }
  }).then(
    (seqs) => { scope.postMessage({ id, seqs }) },
    (err: any) => { scope.postMessage({ id, error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) } }) }
  )
}

// Until this arrives the tab commits on its own thread: a Worker's start
// (thread, isolate, script) held a catch-up's first commit ~200 ms.
scope.postMessage({ ready: true })
