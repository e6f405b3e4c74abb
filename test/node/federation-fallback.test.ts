/**
 * Several relays for one room: a link whose first relay is dead joins
 * through the next one it names (`?relay=`), and the diagnostics report
 * (SDK and `roomkv doctor`) names the dead relay and why.
 */
import { runCli as cli } from './run-process.ts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort, startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { openRoom } from '../../cli/node-peer.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import type { RoomClient } from '../../shared/room-client.ts'

let relay: RelayProcess
let dead: string
const clients: RoomClient[] = []

beforeAll(async () => {
  relay = await startRelayProcess()
  // Nothing listens here: the first relay of the link is down.
  dead = `http://127.0.0.1:${await freePort()}`
})

afterAll(async () => {
  await Promise.allSettled(clients.map(async c => { await c.close() }))
  await relay?.stop()
})

describe('a link naming several relays', () => {
  test('joins through the second when the first is dead, and the report names the dead one', async () => {
    const link = formatRoomLink(dead, newRoomSecret(), { relays: [relay.url] })
    const client = await openRoom(link)
    clients.push(client)
    await client.relay.connected(15_000)
    expect((await client.session.put('k', 'v', { quorum: 1 })).storedOn).toContain(relay.peerId)

    // The reservation may still be under way after the first write; the
    // report's reason speaks of it until then, so wait for it (bounded).
    let report = await client.diagnostics()
    for (let i = 0; i < 150 && report.relays.find(r => r.id === relay.peerId)?.state !== 'reserved'; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      report = await client.diagnostics()
    }
    expect(report.relays.find(r => r.id === relay.peerId)?.state).toBe('reserved')
    const down = report.relays.find(r => r.addrs.includes(dead))
    expect(down).toMatchObject({ state: 'unreachable', errorCode: 'ERR_RELAY_UNREACHABLE' })
    expect(down?.error).toContain(dead)
    expect(report.peers.find(p => p.id === relay.peerId)).toMatchObject({ role: 'relay', path: 'direct' })
    // Nobody else is in the room: the report says so, and names the dead relay.
    expect(report.direct).toBe(0)
    expect(report.reason).toMatch(/no other member/)
    expect(report.reason).toContain(dead)
    expect(report.phases.relayConnected).toBeGreaterThan(0)
    expect(JSON.parse(JSON.stringify(report))).toEqual(report)
  })

  test('roomkv doctor prints the report as JSON; exit 1 with a reason when no relay answers', async () => {
    const secret = newRoomSecret()
    const ok = await cli(['doctor', formatRoomLink(dead, secret, { relays: [relay.url] })])
    expect(ok.status).toBe(0)
    const report = JSON.parse(ok.stdout)
    expect(report.relays.map((r: { state: string }) => r.state)).toContain('unreachable')
    expect(report.relays.some((r: { id: string, state: string }) => r.id === relay.peerId && r.state === 'reserved')).toBe(true)

    const none = await cli(['doctor', formatRoomLink(dead, secret)])
    expect(none.status).toBe(1)
    expect(JSON.parse(none.stdout).reason).toContain(dead)
    expect(none.stderr).toMatch(/ERR_RELAY_UNREACHABLE/)
  })
})
