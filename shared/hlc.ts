/**
 * Hybrid logical clock: wall-clock milliseconds plus a counter, so a writer's
 * successive writes always order after everything it has seen, even when its
 * wall clock lags another writer's.
 */
export interface Clock {
  wall: number
  counter: number
}

export const MAX_COUNTER = 0xffff_ffff

export function compareClocks (a: Clock, b: Clock): number {
  return a.wall !== b.wall ? a.wall - b.wall : a.counter - b.counter
}

export interface HybridClock {
  /** A clock for a new local write: after every clock seen so far. */
  tick(): Clock
  /** Take a remote clock into account. */
  observe(remote: Clock): void
  /** Latest clock issued or observed. */
  peek(): Clock
}

export interface HybridClockInit {
  /** @default Date.now */
  now?: () => number
  /** @default { wall: 0, counter: 0 } */
  start?: Clock
}

export function createHybridClock (init: HybridClockInit = {}): HybridClock {
  const now = init.now ?? Date.now
  let last: Clock = { ...(init.start ?? { wall: 0, counter: 0 }) }
  return {
    tick () {
      const wall = now()
      last = wall > last.wall
        ? { wall, counter: 0 }
        : last.counter < MAX_COUNTER ? { wall: last.wall, counter: last.counter + 1 } : { wall: last.wall + 1, counter: 0 }
      return { ...last }
    },
    observe (remote) {
      if (compareClocks(remote, last) > 0) last = { ...remote }
    },
    peek () {
      return { ...last }
    }
  }
}
