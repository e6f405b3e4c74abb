/**
 * Helpers shared by the unit tests (never imported by product code): a
 * seeded PRNG so randomized tests reproduce, and small byte/iteration helpers.
 */
import { toString } from 'uint8arrays'
import { RoomkvError } from './errors.ts'
import { verifyRecord, type VerifiedRecord } from './record.ts'

/** The code of the RoomkvError a promise rejects with; 'NO_ERROR' when it resolves. Any other error is rethrown. */
export async function rejectionCode (promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (!(err instanceof RoomkvError)) throw new Error(`expected a RoomkvError, got ${String(err)}`)
    return err.code
  }
  return 'NO_ERROR'
}

/** Deterministic PRNG (mulberry32): floats in [0, 1). The same seed gives the same sequence. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [0, n). */
export function randomInt (random: () => number, n: number): number {
  return Math.floor(random() * n)
}

/** One element of a non-empty list. */
export function pick<T> (random: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list')
  return items[randomInt(random, items.length)]
}

/** A shuffled copy (Fisher-Yates). */
export function shuffle<T> (items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

export const hex = (bytes: Uint8Array): string => toString(bytes, 'hex')
export const b32 = (bytes: Uint8Array): string => toString(bytes, 'base32')

export async function collect<T> (source: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

/** Verify without the expiry check: for reading ids and clocks of test records. */
export function verified (bytes: Uint8Array, now: number): VerifiedRecord {
  return verifyRecord(bytes, { now, allowExpired: true })
}

/** A record's id. */
export function idOf (bytes: Uint8Array, now: number): Uint8Array {
  return verified(bytes, now).id
}

/** Hex ids of records (or record bytes), in the given order. */
export function ids (records: Array<VerifiedRecord | Uint8Array>, now: number): string[] {
  return records.map(r => hex(r instanceof Uint8Array ? verified(r, now).id : r.id))
}
