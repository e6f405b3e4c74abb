import { describe, expect, it } from 'vitest'
import { minute, second } from './constants.ts'
import { createRateLimiter } from './rate-limit.ts'

/** A clock the test moves by hand. */
function manualClock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms: number) => { t += ms } }
}

/** How many unit takes succeed in a row right now. */
function drain (take: () => boolean, max = 10_000): number {
  let n = 0
  while (n < max && take()) n++
  return n
}

describe('createRateLimiter', () => {
  it('allows a burst of `burst` then refuses', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 60, burst: 5, now: clock.now })
    expect(drain(() => limiter.take('peer'))).toBe(5)
    expect(limiter.take('peer')).toBe(false)
  })

  it('burst defaults to perMinute', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 30, now: clock.now })
    expect(drain(() => limiter.take('peer'))).toBe(30)
  })

  it('refills at perMinute / minute', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 60, burst: 5, now: clock.now })
    expect(drain(() => limiter.take('peer'))).toBe(5)
    clock.advance(second / 2) // half a token
    expect(limiter.take('peer')).toBe(false)
    clock.advance(second / 2) // a whole token
    expect(limiter.take('peer')).toBe(true)
    expect(limiter.take('peer')).toBe(false)
    clock.advance(3 * second)
    expect(drain(() => limiter.take('peer'))).toBe(3)
  })

  it('does not refill beyond the burst', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 60, burst: 5, now: clock.now })
    expect(drain(() => limiter.take('peer'))).toBe(5)
    clock.advance(60 * minute)
    expect(drain(() => limiter.take('peer'))).toBe(5)
  })

  it('does not refill while time stands still', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 600, burst: 2, now: clock.now })
    expect(drain(() => limiter.take('peer'))).toBe(2)
    for (let i = 0; i < 100; i++) expect(limiter.take('peer')).toBe(false)
  })

  it('charges `cost` tokens, and a refused take costs nothing', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 60, burst: 10, now: clock.now })
    expect(limiter.take('peer', 4)).toBe(true) // 6 left
    expect(limiter.take('peer', 7)).toBe(false) // still 6
    expect(limiter.take('peer', 6)).toBe(true) // 0 left
    expect(limiter.take('peer', 1)).toBe(false)
    clock.advance(2 * second)
    expect(limiter.take('peer', 3)).toBe(false)
    expect(limiter.take('peer', 2)).toBe(true)
  })

  it('a cost above the burst never passes', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 60, burst: 3, now: clock.now })
    expect(limiter.take('peer', 4)).toBe(false)
    clock.advance(60 * minute)
    expect(limiter.take('peer', 4)).toBe(false)
    expect(limiter.take('peer', 3)).toBe(true)
  })

  it('keeps one bucket per peer', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 60, burst: 3, now: clock.now })
    expect(drain(() => limiter.take('a'))).toBe(3)
    expect(drain(() => limiter.take('b'))).toBe(3)
    expect(limiter.take('a')).toBe(false)
    expect(limiter.take('c')).toBe(true)
  })

  it('tracks at most maxTracked peers, evicting the least recently used', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 1, burst: 1, maxTracked: 3, now: clock.now })
    for (const who of ['a', 'b', 'c']) expect(limiter.take(who)).toBe(true)
    // all three are tracked and empty; order a, b, c
    for (const who of ['a', 'b', 'c']) expect(limiter.take(who)).toBe(false)
    expect(limiter.take('d')).toBe(true) // evicts a; order b, c, d
    expect(limiter.take('b')).toBe(false) // order c, d, b
    expect(limiter.take('a')).toBe(true) // a starts afresh; evicts c; order d, b, a
    expect(limiter.take('d')).toBe(false) // order b, a, d
    expect(limiter.take('b')).toBe(false) // order a, d, b
    expect(limiter.take('c')).toBe(true) // c was evicted; evicts a; order d, b, c
    expect(limiter.take('a')).toBe(true) // a was evicted again
  })

  it('under a flood of peers remembers only the last maxTracked', () => {
    const clock = manualClock()
    const maxTracked = 100
    const limiter = createRateLimiter({ perMinute: 1, burst: 1, maxTracked, now: clock.now })
    const peers = Array.from({ length: 5000 }, (_, i) => `peer-${i}`)
    for (const who of peers) expect(limiter.take(who)).toBe(true)
    // The last maxTracked are still tracked (and empty)...
    for (const who of peers.slice(-maxTracked)) expect(limiter.take(who)).toBe(false)
    // ...every earlier one was forgotten and starts with a full bucket.
    let fresh = 0
    for (const who of peers.slice(0, maxTracked)) if (limiter.take(who)) fresh++
    expect(fresh).toBe(maxTracked)
  })

  it('defaults maxTracked to 10 000', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ perMinute: 1, burst: 1, now: clock.now })
    for (let i = 0; i <= 10_000; i++) expect(limiter.take(`p${i}`)).toBe(true)
    // 10 001 peers seen: p0 was evicted, p1 is still tracked.
    expect(limiter.take('p1')).toBe(false)
    expect(limiter.take('p0')).toBe(true)
  })
})
