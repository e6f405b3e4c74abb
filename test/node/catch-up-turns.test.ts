/**
 * A member joining a big room while another member is online catches up
 * once: its syncs take turns, so the member it reaches over WebRTC during
 * the relay's catch-up is synced with after it (and has nothing left to
 * send), instead of streaming the whole room a second time alongside it;
 * and that member, syncing with the newcomer, pushes back only a little of
 * what the newcomer lacks (it pulls the rest itself).
 * Real relay process (seeded with sealed records in its own storage), real
 * libp2p nodes over WebRTC (node-datachannel, see webrtc-member.ts).
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sealManyAsync, seedRelayDataDir } from '../../bench/seed.ts'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../../shared/room-keys.ts'
import { joinWebRtcMember, type WebRtcMember } from './webrtc-member.ts'

const KEYS = 6000
const secret = newRoomSecret()
let relay: RelayProcess
const members: WebRtcMember[] = []

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'roomkv-turns-'))
  await seedRelayDataDir(dataDir, await sealManyAsync(deriveRoomKeys(secret), KEYS, 'item/'))
  relay = await startRelayProcess({ dataDir })
}, 60_000)

afterAll(async () => {
  await Promise.allSettled(members.map(async m => { await m.client.close() }))
  await relay?.stop()
})

describe('catch-up', () => {
  test('a member joining while another is online receives the room once, not once per source', async () => {
    const link = formatRoomLink(relay.url, secret)
    const a = await joinWebRtcMember(link, relay.url)
    members.push(a)
    await expect.poll(async () => (await a.client.session.list()).length, { timeout: 60_000, interval: 250 }).toBe(KEYS)
    const b = await joinWebRtcMember(link, relay.url)
    members.push(b)
    const aId = a.client.node.peerId.toString()
    await expect.poll(async () => (await b.client.session.list()).length, { timeout: 60_000, interval: 250 }).toBe(KEYS)
    // B reached A directly, and synced with it too (after the relay).
    await expect.poll(() => b.syncs.some(s => s.peer === aId), { timeout: 30_000, interval: 250 }).toBe(true)
    const log = JSON.stringify({ syncs: b.syncs, merged: b.merged })
    const received = b.syncs.reduce((n, s) => n + s.received, 0)
    // Whole room once; anything a sync may count twice is a handful, not thousands.
    expect(received, log).toBeGreaterThanOrEqual(KEYS)
    expect(received, log).toBeLessThan(KEYS + 100)
    // By every path, A's pushes to B included: A pushes a member at most
    // 256 records it lacks (MEMBER_PUSH_BACK); B pulls the rest in turn.
    expect(b.merged.records, log).toBeLessThan(KEYS + 256 + 100)
    // One at a time: no two of B's syncs overlapped.
    const byStart = [...b.syncs].sort((x, y) => x.started - y.started)
    for (let i = 1; i < byStart.length; i++) expect(byStart[i].started, log).toBeGreaterThanOrEqual(byStart[i - 1].ended)
  }, 120_000)
})
