/**
 * Many byte arrays as one buffer, for a Worker message: the buffer is
 * transferred (no copy on the way), and each part is one copy in. Posting
 * the parts themselves would clone each one's whole backing buffer (a
 * record is a view into a 1 MiB sync frame). Part i is
 * buffer[offsets[i], offsets[i + 1]).
 */
export interface PackedBytes {
  buffer: ArrayBuffer
  offsets: Uint32Array
}

/** Each entry is one part, or several concatenated into one part. */
export function packBytes (parts: Array<Uint8Array | Uint8Array[]>): PackedBytes {
  const offsets = new Uint32Array(parts.length + 1)
  let size = 0
  parts.forEach((part, i) => {
    offsets[i] = size
    if (part instanceof Uint8Array) size += part.length
    else for (const p of part) size += p.length
  })
  offsets[parts.length] = size
  const bytes = new Uint8Array(size)
  parts.forEach((part, i) => {
    let at = offsets[i]
    for (const p of part instanceof Uint8Array ? [part] : part) {
      bytes.set(p, at)
      at += p.length
    }
  })
  return { buffer: bytes.buffer, offsets }
}

/** The parts of a packed buffer, as views (no copies). */
export function unpackBytes ({ buffer, offsets }: PackedBytes): Uint8Array[] {
  const bytes = new Uint8Array(buffer)
  return Array.from({ length: offsets.length - 1 }, (_, i) => bytes.subarray(offsets[i], offsets[i + 1]))
}
