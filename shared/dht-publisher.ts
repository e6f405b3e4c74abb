/**
 * DHT PUTs off the write path. Every record still goes to the DHT (so the
 * DHT serves keys to non-members and across federated relays), but a put()
 * no longer waits for a Kademlia round (277 ms of a 349 ms put, measured).
 * Writes of one key coalesce: only the newest record of a key waiting here
 * is published. A failed publish is retried with backoff; publishing waits
 * while the node has no unlimited connection (kad-dht does not run over a
 * relayed circuit, and bulk data must not use one).
 */
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import type { KadDHT } from '@libp2p/kad-dht'
import { second } from './constants.ts'
import { createRateLimiter } from './rate-limit.ts'

export interface DhtPublisherInit {
  dht: Pick<KadDHT, 'put'>
  /** True when a DHT PUT can reach someone (an unlimited connection is open). */
  canPublish(): boolean
  /** Publishes in flight at once. @default 2 */
  concurrency?: number
  /** Tries per record. @default 4 */
  attempts?: number
  /** Timeout of one publish. @default 10 s */
  timeout?: number
  /** First retry delay, doubled each try. @default 1 s */
  retryDelay?: number
  /**
   * Publishes a second, sustained, with bursts of `burst`: a bulk import
   * must not spend relays' DHT allowance for the peer (it is published
   * anyway, later; members already have it over the sessions). @default 4
   */
  perSecond?: number
  /** @default 64 */
  burst?: number
  /**
   * Publishing waits until writes pause this long: a Kademlia PUT costs
   * both sides CPU (the peers that store it verify and merge it), and while
   * a user is writing, the members and relays already have every record
   * over the sessions. @default 1 s
   */
  quietPeriod?: number
  /** ...but never holds a record back longer than this. @default 30 s */
  maxDelay?: number
  /** Keys waiting at most; the oldest is dropped beyond (members and relays have it over the sessions). @default 100,000 */
  maxPending?: number
  /** Record bytes waiting at most; the oldest is dropped beyond. @default 32 MiB */
  maxPendingBytes?: number
  /** Told after each publish attempt: the peers that stored it. */
  onPublished?(dhtKey: Uint8Array, peers: string[]): void
}

export interface DhtPublisher {
  /** Publish `record` under `dhtKey` soon; replaces a waiting older record of the key. */
  publish(dhtKey: Uint8Array, record: Uint8Array): void
  /** Keys waiting or in flight. */
  pending(): number
  /** Try again now (a connection came up). */
  kick(): void
  stop(): void
}

export function createDhtPublisher (init: DhtPublisherInit): DhtPublisher {
  const log = logger('roomkv:dht-publisher')
  const concurrency = init.concurrency ?? 2
  const attempts = init.attempts ?? 4
  const timeout = init.timeout ?? 10 * second
  const retryDelay = init.retryDelay ?? second
  const maxPending = init.maxPending ?? 100_000
  const maxPendingBytes = init.maxPendingBytes ?? 32 * 1024 * 1024
  let pendingBytes = 0
  type Item = { key: Uint8Array, record: Uint8Array, tries: number, notBefore: number }
  const drop = (id: string): void => {
    const item = waiting.get(id)
    if (item == null) return
    waiting.delete(id)
    pendingBytes -= item.record.length
  }
  const add = (id: string, item: Item): void => {
    drop(id)
    // Oldest first out when over either bound.
    while (waiting.size > 0 && (waiting.size >= maxPending || pendingBytes + item.record.length > maxPendingBytes)) drop(waiting.keys().next().value as string)
    waiting.set(id, item)
    pendingBytes += item.record.length
  }
  const quietPeriod = init.quietPeriod ?? second
  const maxDelay = init.maxDelay ?? 30 * second
  let lastPublishCall = 0
  let oldestSince = 0
  const pace = createRateLimiter({ perMinute: (init.perSecond ?? 4) * 60, burst: init.burst ?? 64 })
  /** Waiting records by key (Map order = oldest first). */
  const waiting = new Map<string, { key: Uint8Array, record: Uint8Array, tries: number, notBefore: number }>()
  let running = 0
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const controller = new AbortController()

  const wake = (delay = 0): void => {
    if (stopped || timer != null) return
    timer = setTimeout(() => { timer = undefined; pump() }, delay)
    ;(timer as any).unref?.()
  }

  function pump (): void {
    if (stopped) return
    if (!init.canPublish()) return // kick() brings us back when a connection opens
    const now = Date.now()
    if (waiting.size > 0 && now - lastPublishCall < quietPeriod && now - oldestSince < maxDelay) {
      wake(quietPeriod - (now - lastPublishCall))
      return
    }
    let nextDue = Infinity
    for (const [id, item] of waiting) {
      if (running >= concurrency) break
      if (item.notBefore > now) {
        nextDue = Math.min(nextDue, item.notBefore)
        continue
      }
      if (!pace.take('dht')) {
        nextDue = Math.min(nextDue, now + 125)
        break
      }
      drop(id)
      running++
      void publishOne(id, item).finally(() => {
        running--
        pump()
      })
    }
    if (nextDue !== Infinity) wake(nextDue - now)
  }

  async function publishOne (id: string, item: { key: Uint8Array, record: Uint8Array, tries: number, notBefore: number }): Promise<void> {
    const peers: string[] = []
    try {
      for await (const event of init.dht.put(item.key, item.record, { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(timeout)]) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') peers.push(event.from.toString())
      }
    } catch (err) {
      log('dht put failed (try %d): %e', item.tries + 1, err)
    }
    init.onPublished?.(item.key, peers)
    if (peers.length > 0 || stopped) return
    item.tries++
    // A newer record of the key may be waiting already: it wins.
    if (item.tries < attempts && !waiting.has(id)) {
      item.notBefore = Date.now() + retryDelay * 2 ** (item.tries - 1) * (0.5 + Math.random())
      add(id, item)
      wake(item.notBefore - Date.now())
    }
  }

  return {
    publish (dhtKey, record) {
      const id = toString(dhtKey, 'base64')
      lastPublishCall = Date.now()
      if (waiting.size === 0) oldestSince = lastPublishCall
      add(id, { key: dhtKey, record, tries: 0, notBefore: 0 })
      wake()
    },
    pending: () => waiting.size + running,
    kick () { wake() },
    stop () {
      stopped = true
      clearTimeout(timer)
      controller.abort()
      waiting.clear()
      pendingBytes = 0
    }
  }
}
