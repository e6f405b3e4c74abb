import { describe, expect, it } from 'vitest'
import { MAX_COUNTER, compareClocks, createHybridClock, type Clock } from './hlc.ts'
import { prng } from './test-support.ts'

/** A now() that returns the given values in turn. */
function script (...values: number[]): () => number {
  let i = 0
  return () => {
    if (i >= values.length) throw new Error('now() called more often than scripted')
    return values[i++]
  }
}

describe('compareClocks', () => {
  it('orders by wall, then counter', () => {
    expect(compareClocks({ wall: 1, counter: 0 }, { wall: 2, counter: 0 })).toBeLessThan(0)
    expect(compareClocks({ wall: 2, counter: 0 }, { wall: 1, counter: 99 })).toBeGreaterThan(0)
    expect(compareClocks({ wall: 5, counter: 3 }, { wall: 5, counter: 4 })).toBeLessThan(0)
    expect(compareClocks({ wall: 5, counter: 4 }, { wall: 5, counter: 3 })).toBeGreaterThan(0)
    expect(compareClocks({ wall: 5, counter: 4 }, { wall: 5, counter: 4 })).toBe(0)
  })
})

describe('createHybridClock', () => {
  it('starts at { wall: 0, counter: 0 } unless told otherwise', () => {
    expect(createHybridClock({ now: () => 0 }).peek()).toEqual({ wall: 0, counter: 0 })
    expect(createHybridClock({ start: { wall: 10, counter: 3 } }).peek()).toEqual({ wall: 10, counter: 3 })
  })

  it('uses the wall clock when it moves forward', () => {
    const clock = createHybridClock({ now: script(100, 200, 201) })
    expect(clock.tick()).toEqual({ wall: 100, counter: 0 })
    expect(clock.tick()).toEqual({ wall: 200, counter: 0 })
    expect(clock.tick()).toEqual({ wall: 201, counter: 0 })
    expect(clock.peek()).toEqual({ wall: 201, counter: 0 })
  })

  it('counts within one millisecond', () => {
    const clock = createHybridClock({ now: () => 1000 })
    expect(clock.tick()).toEqual({ wall: 1000, counter: 0 })
    expect(clock.tick()).toEqual({ wall: 1000, counter: 1 })
    expect(clock.tick()).toEqual({ wall: 1000, counter: 2 })
  })

  it('stays monotonic when now() goes backwards', () => {
    const clock = createHybridClock({ now: script(1000, 500, 0, 999, 1000, 1001) })
    const ticks = Array.from({ length: 6 }, () => clock.tick())
    expect(ticks).toEqual([
      { wall: 1000, counter: 0 },
      { wall: 1000, counter: 1 },
      { wall: 1000, counter: 2 },
      { wall: 1000, counter: 3 },
      { wall: 1000, counter: 4 },
      { wall: 1001, counter: 0 }
    ])
    for (let i = 1; i < ticks.length; i++) expect(compareClocks(ticks[i], ticks[i - 1])).toBeGreaterThan(0)
  })

  it('stays monotonic relative to its start clock', () => {
    const clock = createHybridClock({ now: () => 5, start: { wall: 50, counter: 9 } })
    expect(clock.tick()).toEqual({ wall: 50, counter: 10 })
  })

  it('orders the next tick after an observed remote clock that is ahead', () => {
    const clock = createHybridClock({ now: () => 1000 })
    clock.tick()
    clock.observe({ wall: 5000, counter: 42 })
    expect(clock.peek()).toEqual({ wall: 5000, counter: 42 })
    expect(clock.tick()).toEqual({ wall: 5000, counter: 43 })
    expect(clock.tick()).toEqual({ wall: 5000, counter: 44 })
  })

  it('takes the wall clock again once it passes the observed clock', () => {
    const clock = createHybridClock({ now: script(1000, 6000) })
    clock.observe({ wall: 5000, counter: 42 })
    expect(clock.tick()).toEqual({ wall: 5000, counter: 43 })
    expect(clock.tick()).toEqual({ wall: 6000, counter: 0 })
  })

  it('ignores observed clocks that are not ahead', () => {
    const clock = createHybridClock({ now: () => 1000 })
    clock.tick()
    clock.tick()
    clock.observe({ wall: 999, counter: 100 })
    clock.observe({ wall: 1000, counter: 1 })
    clock.observe({ wall: 1000, counter: 0 })
    expect(clock.peek()).toEqual({ wall: 1000, counter: 1 })
    expect(clock.tick()).toEqual({ wall: 1000, counter: 2 })
  })

  it('an observed clock equal on wall but higher on counter counts', () => {
    const clock = createHybridClock({ now: () => 1000 })
    clock.tick()
    clock.observe({ wall: 1000, counter: 7 })
    expect(clock.tick()).toEqual({ wall: 1000, counter: 8 })
  })

  it('rolls the counter over into the next millisecond', () => {
    const clock = createHybridClock({ now: () => 100, start: { wall: 100, counter: MAX_COUNTER - 1 } })
    expect(clock.tick()).toEqual({ wall: 100, counter: MAX_COUNTER })
    expect(clock.tick()).toEqual({ wall: 101, counter: 0 })
    expect(clock.tick()).toEqual({ wall: 101, counter: 1 })
  })

  it('rolls over after observing a remote clock at MAX_COUNTER', () => {
    const clock = createHybridClock({ now: () => 0 })
    clock.observe({ wall: 7000, counter: MAX_COUNTER })
    const next = clock.tick()
    expect(next).toEqual({ wall: 7001, counter: 0 })
    expect(compareClocks(next, { wall: 7000, counter: MAX_COUNTER })).toBeGreaterThan(0)
  })

  it('never issues a counter beyond uint32 (RecordBody.hlc_counter)', () => {
    expect(MAX_COUNTER).toBe(2 ** 32 - 1)
  })

  it('hands out copies, never its own state', () => {
    const start = { wall: 10, counter: 0 }
    const clock = createHybridClock({ now: () => 10, start })
    start.wall = 1e12
    const a = clock.tick()
    a.wall = 1e12
    const p = clock.peek()
    p.counter = 1e6
    const remote = { wall: 20, counter: 0 }
    clock.observe(remote)
    remote.wall = 1e12
    expect(clock.peek()).toEqual({ wall: 20, counter: 0 })
    expect(clock.tick()).toEqual({ wall: 20, counter: 1 })
  })

  it('random ticks and observes: every tick is after every earlier tick and observed clock', () => {
    const random = prng(0xc10c)
    let wall = 1_000_000
    const clock = createHybridClock({
      now: () => {
        wall += Math.floor(random() * 7) - 3 // jitters both ways
        return wall
      }
    })
    let highest: Clock = { wall: 0, counter: 0 }
    for (let i = 0; i < 5000; i++) {
      if (random() < 0.3) {
        const remote = { wall: wall + Math.floor(random() * 200) - 100, counter: Math.floor(random() * 5) }
        clock.observe(remote)
        if (compareClocks(remote, highest) > 0) highest = remote
      } else {
        const t = clock.tick()
        expect(compareClocks(t, highest)).toBeGreaterThan(0)
        expect(Number.isSafeInteger(t.wall) && Number.isSafeInteger(t.counter)).toBe(true)
        highest = t
      }
      expect(compareClocks(clock.peek(), highest)).toBe(0)
    }
  })
})
