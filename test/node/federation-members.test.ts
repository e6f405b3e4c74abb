/**
 * Federation and room members: a relay started with `--bootstrap` joins the
 * other relay's rooms as a member (a replication session), so that relay
 * forwards records to it. It is no tab: member lists sent to tabs leave it
 * out, and no tab tries a WebRTC dial to it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import { health } from './relay-observe.ts'
import { joinWebRtcMember, type WebRtcMember } from './webrtc-member.ts'

let relay1: RelayProcess
let relay2: RelayProcess
const members: WebRtcMember[] = []

beforeAll(async () => {
  relay1 = await startRelayProcess()
  const info = await (await fetch(`${relay1.url}/roomkv.json`)).json()
  relay2 = await startRelayProcess({ args: ['--bootstrap', info.multiaddrs[0], '--log-level', 'debug'] })
})

afterAll(async () => {
  await Promise.allSettled(members.map(async m => { await m.client.close() }))
  await relay2?.stop()
  await relay1?.stop()
})

/** A room with a member on relay 2 (so relay 2 links it on relay 1), then two members on relay 1. */
async function roomAcrossRelays (): Promise<{ one: WebRtcMember, two: WebRtcMember }> {
  await expect.poll(async () => (await health(relay2)).connections, { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
  const link = formatRoomLink(relay1.url, newRoomSecret())
  const far = await joinWebRtcMember(link, relay2.url)
  members.push(far)
  await far.client.relay.connected(15_000)
  await far.client.session.put('from-far', 1, { quorum: 1 })
  await expect.poll(() => relay2.output(), { timeout: 20_000 }).toMatch(/room linked with another relay/)
  // The second's hello is answered with the first (and relay 2); the first is told about the second.
  const one = await joinWebRtcMember(link, relay1.url)
  members.push(one)
  const two = await joinWebRtcMember(link, relay1.url)
  members.push(two)
  const twoId = two.client.node.peerId.toString()
  await expect.poll(() => one.client.session.status().members.filter(m => m.connection === 'direct').map(m => m.id), { timeout: 30_000 }).toContain(twoId)
  await expect.poll(async () => (await two.client.session.get('from-far'))?.value, { timeout: 20_000 }).toBe(1)
  return { one, two }
}

describe('federated relays in a room', () => {
  test('never count as members, even when connected to one directly', async () => {
    const { one, two } = await roomAcrossRelays()
    // Past every head start a member gives another to dial first (3 s, 6 s
    // while a connection from it is open) and the tries after it.
    await sleep(7_000)
    for (const m of [one, two]) {
      // Node members reach relay 2 directly for DHT queries (tabs may not:
      // their gater allows only their own relays); still no member.
      expect(m.client.session.status().members.map(p => p.id)).not.toContain(relay2.peerId)
      expect(m.client.session.status().members.map(p => p.id)).not.toContain(relay1.peerId)
    }
  })

  // A relay's member list is built from every live session, relay links
  // included: relays leave out the peers identify showed to be relays.
  test('are left out of the member lists relays send', async () => {
    const { one, two } = await roomAcrossRelays()
    for (const m of [one, two]) {
      expect(m.memberLists.length).toBeGreaterThan(0)
      expect(m.memberLists.flat()).not.toContain(relay2.peerId)
      expect(m.webrtcDialTargets).not.toContain(relay2.peerId)
    }
  })
})
