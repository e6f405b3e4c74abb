/**
 * Callers waiting for a Worker to say it has loaded (crypto-pool.ts,
 * idb-storage.ts): each is told once, true when one has, false when none
 * can (it failed, or the owner closed).
 */
export interface ReadyWaiters {
  wait(): Promise<boolean>
  settle(ready: boolean): void
}

export function readyWaiters (): ReadyWaiters {
  let waiting: Array<(ready: boolean) => void> = []
  return {
    async wait () {
      return new Promise<boolean>((resolve) => { waiting.push(resolve) })
    },
    settle (ready) {
      const told = waiting
      waiting = []
      for (const resolve of told) resolve(ready)
    }
  }
}
