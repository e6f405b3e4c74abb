/**
 * Give the event loop a turn in the middle of long work (a catch-up merges
 * tens of thousands of records), so a tab keeps painting and answering
 * input: `scheduler.yield()` in browsers that have it (the continuation
 * runs before other queued tasks), `setImmediate` in Node, else a timer.
 */
export function yieldToEventLoop (): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler
  if (typeof scheduler?.yield === 'function') return scheduler.yield()
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate
  return new Promise(resolve => { if (typeof immediate === 'function') immediate(resolve); else setTimeout(resolve, 0) })
}
