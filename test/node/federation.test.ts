/**
 * Federation: a relay started with `--bootstrap <other relay>` joins the
 * other's DHT. A record written through relay 1 is readable through relay 2
 * and the other way round, by peers that only ever talk to their own relay
 * (as `roomkv get --relay` does).
 */
import { runCli as cli } from './run-process.ts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { openRoom } from '../../cli/node-peer.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import type { RoomClient } from '../../shared/room-client.ts'
import { health } from './relay-observe.ts'

let relay1: RelayProcess
let relay2: RelayProcess
const clients: RoomClient[] = []

async function enter (link: string, relay: RelayProcess): Promise<RoomClient> {
  const client = await openRoom(link, { relayUrl: relay.url })
  clients.push(client)
  await client.relay.connected(15_000)
  return client
}

async function leave (client: RoomClient): Promise<void> {
  clients.splice(clients.indexOf(client), 1)
  await client.close()
}

beforeAll(async () => {
  relay1 = await startRelayProcess()
  const info = await (await fetch(`${relay1.url}/roomkv.json`)).json()
  relay2 = await startRelayProcess({ args: ['--bootstrap', info.multiaddrs[0], '--log-level', 'debug'] })
})

afterAll(async () => {
  await Promise.allSettled(clients.map(async c => { await c.close() }))
  await relay2?.stop()
  await relay1?.stop()
})

describe('two relays joined with --bootstrap', () => {
  test('a record put through relay 1 is read through relay 2, and back', async () => {
    // Relay 2 dials relay 1 at start.
    await expect.poll(async () => (await health(relay2)).connections, { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
    const link = formatRoomLink(relay1.url, newRoomSecret())
    const writer = await enter(link, relay1)
    expect((await writer.session.put('greeting', 'from relay 1', { quorum: 1 })).storedOn).toContain(relay1.peerId)
    // A one-shot CLI writer leaves right after its write.
    await leave(writer)

    const reader = await enter(link, relay2)
    await expect.poll(async () => (await reader.session.get('greeting', { network: true }))?.value, { timeout: 20_000 }).toBe('from relay 1')
    await leave(reader)

    const writer2 = await enter(link, relay2)
    await writer2.session.put('reply', 'from relay 2', { quorum: 1 })
    await leave(writer2)
    const reader1 = await enter(link, relay1)
    await expect.poll(async () => (await reader1.session.get('reply', { network: true }))?.value, { timeout: 20_000 }).toBe('from relay 2')
  })

  test('members on different relays get each other\'s writes live, and list the whole room', async () => {
    const link = formatRoomLink(relay1.url, newRoomSecret())
    const one = await enter(link, relay1)
    const two = await enter(link, relay2)
    const seenByTwo: string[] = []
    two.session.watch((change) => { if (change.source === 'remote') seenByTwo.push(change.key) })
    const seenByOne: string[] = []
    one.session.watch((change) => { if (change.source === 'remote') seenByOne.push(change.key) })
    await one.session.put('from-one', 1, { quorum: 1 })
    await two.session.put('from-two', 2, { quorum: 1 })
    await expect.poll(() => seenByTwo, { timeout: 20_000 }).toContain('from-one')
    await expect.poll(() => seenByOne, { timeout: 20_000 }).toContain('from-two')
    // Relay 2 itself joined the room on relay 1 (peers may also reach relay 1
    // directly: a relay lists its --bootstrap relays as fallbacks).
    expect(relay2.output()).toMatch(/room linked with another relay/)
    // A newcomer on relay 2 lists both keys after its catch-up.
    const late = await enter(link, relay2)
    await expect.poll(async () => (await late.session.list()).map(e => e.key), { timeout: 20_000 }).toEqual(['from-one', 'from-two'])
  })

  test('CLI: put --relay <relay 1>, then get --relay <relay 2> in another process', async () => {
    const link = formatRoomLink(relay1.url, newRoomSecret())
    const put = await cli(['put', link, 'city', 'Lisbon', '--relay', relay1.url])
    expect(put.stderr).toBe('')
    expect(put.status).toBe(0)
    const get = await cli(['get', link, 'city', '--relay', relay2.url])
    expect(get.stderr).toBe('')
    expect(get.stdout.trim()).toBe('city = "Lisbon"')
  })
})
