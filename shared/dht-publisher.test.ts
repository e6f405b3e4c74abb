import { describe, expect, it } from 'vitest'
import { createDhtPublisher } from './dht-publisher.ts'

/** A fake kad-dht: records every put; answers with one peer unless told to fail. */
function fakeDht (fail = 0): { puts: Array<{ key: string, value: number }>, dht: any } {
  const puts: Array<{ key: string, value: number }> = []
  let failures = fail
  return {
    puts,
    dht: {
      async * put (key: Uint8Array, value: Uint8Array) {
        puts.push({ key: String(key[0]), value: value[0] })
        if (failures-- > 0) throw new Error('unreachable')
        yield { name: 'PEER_RESPONSE', messageName: 'PUT_VALUE', from: { toString: () => 'peer-1' } }
      }
    }
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('createDhtPublisher', () => {
  it('publishes only the newest record of a key, after writes pause', async () => {
    const { puts, dht } = fakeDht()
    const published: string[][] = []
    const publisher = createDhtPublisher({ dht, canPublish: () => true, quietPeriod: 100, onPublished: (_k, peers) => { published.push(peers) } })
    for (let v = 1; v <= 5; v++) publisher.publish(Uint8Array.of(1), Uint8Array.of(v))
    publisher.publish(Uint8Array.of(2), Uint8Array.of(9))
    await sleep(50)
    expect(puts).toEqual([]) // still writing: nothing yet
    await sleep(200)
    expect(puts).toEqual([{ key: '1', value: 5 }, { key: '2', value: 9 }])
    expect(published).toEqual([['peer-1'], ['peer-1']])
    expect(publisher.pending()).toBe(0)
    publisher.stop()
  })

  it('retries a failed publish with backoff, and waits while it cannot reach anyone', async () => {
    const { puts, dht } = fakeDht(1)
    let online = false
    const publisher = createDhtPublisher({ dht, canPublish: () => online, quietPeriod: 0, retryDelay: 20 })
    publisher.publish(Uint8Array.of(7), Uint8Array.of(1))
    await sleep(50)
    expect(puts).toEqual([])
    online = true
    publisher.kick()
    await sleep(150)
    expect(puts).toEqual([{ key: '7', value: 1 }, { key: '7', value: 1 }])
    expect(publisher.pending()).toBe(0)
    publisher.stop()
  })

  it('holds records back at most maxDelay under continuous writes', async () => {
    const { puts, dht } = fakeDht()
    const publisher = createDhtPublisher({ dht, canPublish: () => true, quietPeriod: 100, maxDelay: 150 })
    for (let i = 0; i < 12; i++) {
      publisher.publish(Uint8Array.of(i), Uint8Array.of(i))
      await sleep(25)
    }
    expect(puts.length).toBeGreaterThan(0) // published during the writes, not after
    publisher.stop()
  })

  it('keeps at most maxPendingBytes of records waiting, dropping the oldest', async () => {
    const { puts, dht } = fakeDht()
    const publisher = createDhtPublisher({ dht, canPublish: () => true, quietPeriod: 50, maxPendingBytes: 10 })
    for (let i = 1; i <= 3; i++) publisher.publish(Uint8Array.of(i), Uint8Array.of(i, 0, 0, 0))
    expect(publisher.pending()).toBe(2)
    await sleep(150)
    expect(puts).toEqual([{ key: '2', value: 2 }, { key: '3', value: 3 }])
    publisher.stop()
  })
})
