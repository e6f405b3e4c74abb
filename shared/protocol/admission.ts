/**
 * Write budgets: what a batch of records costs its sender, charged per peer
 * id AND per IP address (a fresh peer id is free to make; an address is
 * not). Cost counts bytes and records (each record is a signature check
 * and a storage write), so one frame of many tiny records costs what its
 * work costs. Within the burst a batch passes at once; past it the batch
 * waits for its share (pacing: the sender's window stalls, nothing is
 * lost); when the wait would be longer than `maxWait` the batch is refused
 * with ERR_RATE_LIMITED and the sender resends later.
 *
 * Defaults let one user import 10,000 keys at full speed (about 2.5 MiB
 * of cost) without waiting, and hold one address to about 8,000 small
 * records a second sustained.
 */
import type { Connection, PeerId } from '@libp2p/interface'
import { RateLimitedError } from '../errors.ts'
import type { Admit } from './replication.ts'

export interface AdmissionInit {
  /** Cost units (bytes) one peer, and one IP, may spend a second. @default 4 MiB */
  unitsPerSecond?: number
  /** Bucket size: what may be spent at once after a quiet spell. @default 32 MiB */
  burst?: number
  /** Cost of one record beyond its bytes (its signature check and write). @default 256 */
  recordCost?: number
  /** Longest a batch waits for budget before it is refused. @default 5 s */
  maxWait?: number
  /** Buckets kept at most (least recently used dropped). @default 10,000 */
  maxTracked?: number
  /** The address a connection comes from; undefined when unknown (e.g. a relayed tab). */
  ipOf?(connection: Connection): string | undefined
  /** Told about every batch that had to wait or was refused. */
  onLimited?(kind: 'paced' | 'refused', who: string): void
  /** @default Date.now */
  now?(): number
  /** @default setTimeout-based sleep */
  sleep?(ms: number): Promise<void>
}

interface Bucket { tokens: number, at: number }

export interface Admission {
  admit: Admit
  /** Charge extra after the fact (e.g. records that failed their signature check cost the sender more). */
  penalize(peer: PeerId, connection: Connection, units: number): void
}

export function createAdmission (init: AdmissionInit = {}): Admission {
  const rate = (init.unitsPerSecond ?? 4 * 1024 * 1024) / 1000
  const burst = init.burst ?? 32 * 1024 * 1024
  const recordCost = init.recordCost ?? 256
  const maxWait = init.maxWait ?? 5000
  const maxTracked = init.maxTracked ?? 10_000
  const now = init.now ?? Date.now
  const sleep = init.sleep ?? (async (ms: number) => { await new Promise(resolve => setTimeout(resolve, ms)) })
  const buckets = new Map<string, Bucket>()

  const bucket = (who: string): Bucket => {
    const t = now()
    let b = buckets.get(who)
    if (b == null) {
      if (buckets.size >= maxTracked) buckets.delete(buckets.keys().next().value as string)
      b = { tokens: burst, at: t }
    } else {
      buckets.delete(who) // re-insert: Map order = least recently used first
      b.tokens = Math.min(burst, b.tokens + (t - b.at) * rate)
      b.at = t
    }
    buckets.set(who, b)
    return b
  }

  const whoOf = (peer: PeerId, connection: Connection): string[] => {
    const ip = init.ipOf?.(connection)
    return ip == null ? [`peer:${peer.toString()}`] : [`peer:${peer.toString()}`, `ip:${ip}`]
  }

  return {
    async admit (peer, connection, records, bytes) {
      const cost = bytes + records * recordCost
      const who = whoOf(peer, connection)
      const all = who.map(bucket)
      // Debt model: the batch takes its tokens now (a bucket may go below
      // zero) and waits until the deepest debt is paid, so batches that
      // arrive together queue fairly without racing for the same tokens.
      const wait = Math.max(0, ...all.map(b => (cost - b.tokens) / rate))
      if (wait > maxWait) {
        init.onLimited?.('refused', who[who.length - 1])
        throw new RateLimitedError(`Write budget exceeded; retry in ${Math.ceil(wait / 1000)} s`)
      }
      for (const b of all) b.tokens -= cost
      if (wait > 0) {
        init.onLimited?.('paced', who[who.length - 1])
        await sleep(wait)
      }
    },
    penalize (peer, connection, units) {
      for (const b of whoOf(peer, connection).map(bucket)) b.tokens -= units
    }
  }
}
