/**
 * Per-peer token buckets: each peer may spend `perMinute` tokens a minute,
 * with bursts up to `burst`. Buckets idle for long are dropped so the map
 * cannot grow without bound.
 */
import { minute } from './constants.ts'

export interface RateLimiterInit {
  /** Sustained allowance. */
  perMinute: number
  /** @default perMinute */
  burst?: number
  /** Buckets kept at most; the oldest is evicted beyond this. @default 10_000 */
  maxTracked?: number
  /** @default Date.now */
  now?: () => number
}

export interface RateLimiter {
  /** True when `who` may spend `cost` now (and spends it). */
  take(who: string, cost?: number): boolean
}

export function createRateLimiter (init: RateLimiterInit): RateLimiter {
  const burst = init.burst ?? init.perMinute
  const maxTracked = init.maxTracked ?? 10_000
  const now = init.now ?? Date.now
  const ratePerMs = init.perMinute / minute
  const buckets = new Map<string, { tokens: number, at: number }>()
  return {
    take (who, cost = 1) {
      const t = now()
      let bucket = buckets.get(who)
      if (bucket == null) {
        if (buckets.size >= maxTracked) buckets.delete(buckets.keys().next().value as string)
        bucket = { tokens: burst, at: t }
      } else {
        buckets.delete(who) // re-insert to keep Map order = least recently used first
        bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, t - bucket.at) * ratePerMs)
        bucket.at = t
      }
      buckets.set(who, bucket)
      if (bucket.tokens < cost) return false
      bucket.tokens -= cost
      return true
    }
  }
}
