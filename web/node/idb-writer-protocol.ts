/**
 * Messages between the tab's storage and its IndexedDB writer Worker. A
 * batch's values travel in one transferred buffer (packed-bytes.ts): op i is
 * a put of part i at [roomIds[i], keyIds[i]], or a delete
 * when deletes[i] is 1.
 */
export interface WriteRequest {
  id: number
  database: string
  roomIds: string[]
  keyIds: string[]
  deletes: Uint8Array
  offsets: Uint32Array
  buffer: ArrayBuffer
}

/** error is set when the transaction did not commit (nothing of the batch is stored). */
export interface WriteResponse {
  id: number
  error?: { name: string, message: string }
}
