/**
 * Messages between the tab's storage and its IndexedDB writer Worker. A
 * batch is one packed segment per room (idb-segments.ts), all of them in one
 * transferred buffer (packed-bytes.ts): part i is the segment appended to
 * room roomIds[i]. The batch commits in one transaction.
 */
export interface WriteRequest {
  id: number
  database: string
  roomIds: string[]
  offsets: Uint32Array
  buffer: ArrayBuffer
}

/**
 * error is set when the transaction did not commit (nothing of the batch is
 * stored); otherwise seqs[i] is the seq roomIds[i]'s segment was given.
 */
export interface WriteResponse {
  id: number
  seqs?: number[]
  error?: { name: string, message: string }
}

/** Sent once, when the Worker's script has loaded: batches go to it from then on. */
export interface WriterReady {
  ready: true
}
