/**
 * Member handling with real libp2p nodes connected over WebRTC
 * (node-datachannel, see webrtc-member.ts) through a real relay process:
 * a member that closes or crashes leaves the others' member list within
 * seconds, although its WebRTC connection gives no close signal; two
 * members that join at the same moment build one WebRTC connection, not two.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import { joinWebRtcMember, type WebRtcMember, type WebRtcMemberOptions } from './webrtc-member.ts'

let relay: RelayProcess
const members: WebRtcMember[] = []
const children = new Set<ChildProcess>()

beforeAll(async () => {
  relay = await startRelayProcess()
})

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  await Promise.allSettled(members.map(async m => { await m.client.close() }))
  await relay?.stop()
})

async function join (link: string, options: WebRtcMemberOptions = {}): Promise<WebRtcMember> {
  const member = await joinWebRtcMember(link, relay.url, options)
  members.push(member)
  return member
}

/** Two members of a fresh room, directly connected. */
async function directPair (): Promise<{ a: WebRtcMember, b: WebRtcMember, bId: string }> {
  const link = formatRoomLink(relay.url, newRoomSecret())
  const a = await join(link)
  const b = await join(link)
  const bId = b.client.node.peerId.toString()
  await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(bId)
  return { a, b, bId }
}

/** A member in its own process, so it can crash (SIGKILL): no goodbye reaches anyone. */
async function joinInChild (link: string): Promise<{ peerId: string, child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/node/webrtc-member.ts', link, relay.url], { env: { ...process.env, DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const peerId = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString()
      const id = /peer id: (\S+)/.exec(output)?.[1]
      if (id != null) resolve(id)
    })
    child.once('exit', (code) => { reject(new Error(`member exited with ${code}:\n${output}`)) })
  })
  return { peerId, child }
}

const memberIds = (m: WebRtcMember): string[] => m.client.session.status().members.map(p => p.id)
const directIds = (m: WebRtcMember): string[] => m.client.session.status().members.filter(p => p.connection === 'direct').map(p => p.id)

describe('members over WebRTC', () => {
  test('a member that crashes leaves the others\' member list within seconds', async ({ annotate }) => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const a = await join(link)
    const b = await joinInChild(link)
    await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(b.peerId)

    const exited = new Promise(resolve => b.child.once('exit', resolve))
    b.child.kill('SIGKILL')
    await exited
    const crashedAt = Date.now()
    // Its WebRTC connection is still "connected" for A (no close signal over
    // UDP), yet the member is gone from A's list and from its peer count.
    await expect.poll(() => memberIds(a), { timeout: 10_000, interval: 250 }).not.toContain(b.peerId)
    await annotate(`left the member list ${Date.now() - crashedAt} ms after the crash`)
    const status = a.client.session.status()
    expect(status.direct + status.relayed).toBe(0)
  })

  test('the relay tells the remaining members who left (/roomkv/left/1.0.0)', async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const a = await join(link)
    const told: Array<{ from: string, peers: string[] }> = []
    a.client.node.services.rooms.onLeft((from, _roomId, peers) => { told.push({ from: from.toString(), peers: peers.map(p => p.toString()) }) })
    const b = await joinInChild(link)
    await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(b.peerId)
    expect(told).toEqual([])
    b.child.kill('SIGKILL')
    await expect.poll(() => told, { timeout: 5_000, interval: 100 }).toContainEqual({ from: relay.peerId, peers: [b.peerId] })
  })

  test('a member that crashes while no relay is up leaves within seconds too (probes over WebRTC)', async ({ annotate }) => {
    const own = await startRelayProcess()
    const link = formatRoomLink(own.url, newRoomSecret())
    const a = await joinWebRtcMember(link, own.url)
    members.push(a)
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/node/webrtc-member.ts', link, own.url], { env: { ...process.env, DEBUG: '' }, stdio: ['ignore', 'pipe', 'ignore'] })
    children.add(child)
    let output = ''
    const bId = await new Promise<string>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => { output += d.toString(); const id = /peer id: (\S+)/.exec(output)?.[1]; if (id != null) resolve(id) })
    })
    await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(bId)
    await own.kill('SIGKILL')
    await expect.poll(() => a.client.session.status().relaysConnected, { timeout: 20_000 }).toBe(0)
    // Still together over WebRTC without the relay.
    expect(directIds(a)).toContain(bId)
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    const crashedAt = Date.now()
    await expect.poll(() => memberIds(a), { timeout: 10_000, interval: 250 }).not.toContain(bId)
    await annotate(`left the member list ${Date.now() - crashedAt} ms after the crash, no relay up`)
    await own.stop()
  })

  test('a member that closes leaves the others\' member list at once', async () => {
    const { a, b, bId } = await directPair()
    members.splice(members.indexOf(b), 1)
    await b.client.close()
    await expect.poll(() => memberIds(a), { timeout: 5_000, interval: 250 }).not.toContain(bId)
  })

  test('a member that stays is not dropped: it answers the probes', async () => {
    const { a, b, bId } = await directPair()
    // Several probe rounds (every 2 s) pass.
    await sleep(7_000)
    expect(directIds(a)).toContain(bId)
    expect(directIds(b)).toContain(a.client.node.peerId.toString())
  })

  test('two members joining at the same moment build one WebRTC connection', async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const started = Date.now()
    const [a, b] = await Promise.all([join(link), join(link)])
    const aId = a.client.node.peerId.toString()
    const bId = b.client.node.peerId.toString()
    await expect.poll(() => directIds(a), { timeout: 30_000 }).toContain(bId)
    await expect.poll(() => directIds(b), { timeout: 30_000 }).toContain(aId)
    // Past the second side's head start (3 s, 6 s while the first dials):
    // a second dial would have happened by now.
    await sleep(7_000)
    const [first, second] = aId < bId ? [a, b] : [b, a]
    const firstId = first.client.node.peerId.toString()
    const secondId = second.client.node.peerId.toString()
    const log = JSON.stringify({ first: first.webrtcDialLog.map(d => ({ ...d, at: d.at - started })), second: second.webrtcDialLog.map(d => ({ ...d, at: d.at - started })) })
    // Nobody dials a member it already has a WebRTC connection to.
    expect([...first.webrtcDialLog, ...second.webrtcDialLog].filter(d => d.whileOpen), log).toEqual([])
    // The room dialled from the side whose id sorts first (the connection
    // itself may be the other side's: kad-dht dials members too).
    const firstTries = first.webrtcDialLog.filter(d => d.peer === secondId)
    expect(firstTries.length, log).toBeGreaterThanOrEqual(1)
    // The other side dials only after its head start, when the first one's
    // tries had not connected (the WebRTC dial bug: a try can hang; a loaded
    // machine can take longer than the head start too).
    const secondTries = second.webrtcDialLog.filter(d => d.peer === firstId)
    for (const d of secondTries) expect(d.at - started, log).toBeGreaterThanOrEqual(3_000)
    const dials = (a.webrtcDials.get(bId) ?? 0) + (b.webrtcDials.get(aId) ?? 0)
    // One try from one side: exactly one connection.
    if (firstTries.length === 1 && secondTries.length === 0) expect(dials, log).toBe(1)
    expect(dials, log).toBeLessThanOrEqual(firstTries.length + secondTries.length)
  })

  test('a WebRTC dial is signalled through the relay\'s room session: no relayed connection between the members', async () => {
    const { a, b, bId } = await directPair()
    const aId = a.client.node.peerId.toString()
    await expect.poll(() => directIds(b), { timeout: 30_000 }).toContain(aId)
    expect(a.relayedConnections.get(bId) ?? 0).toBe(0)
    expect(b.relayedConnections.get(aId) ?? 0).toBe(0)
    // Records flow over the connection it made.
    await a.client.session.put('signalled', 1)
    await expect.poll(async () => (await b.client.session.get('signalled'))?.value, { timeout: 10_000 }).toBe(1)
  })

  test('a member that takes no signals (older code) is still reached, over a circuit', async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const old = await join(link, { signals: false })
    const current = await join(link)
    const oldId = old.client.node.peerId.toString()
    const currentId = current.client.node.peerId.toString()
    await expect.poll(() => directIds(current), { timeout: 30_000 }).toContain(oldId)
    await expect.poll(() => directIds(old), { timeout: 30_000 }).toContain(currentId)
    // Its handshake went over a relayed connection (the relay refused to pass signals to it).
    expect((current.relayedConnections.get(oldId) ?? 0) + (old.relayedConnections.get(currentId) ?? 0)).toBeGreaterThan(0)
  })
})
