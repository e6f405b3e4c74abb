/**
 * Node integration: a real relay process and real libp2p peers (the Node
 * SDK) on loopback.
 */
import { spawnSync } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { openRoom } from '../../cli/node-peer.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../../shared/room-keys.ts'
import { sealRecord } from '../../shared/record-js.ts'
import type { RoomClient } from '../../shared/room-client.ts'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return port
}

async function health (relay: RelayProcess): Promise<any> {
  const response = await fetch(`${relay.url}/health`)
  expect(response.status).toBe(200)
  return response.json()
}

const clients: RoomClient[] = []
async function enter (link: string, relayUrl?: string): Promise<RoomClient> {
  const client = await openRoom(link, { relayUrl })
  clients.push(client)
  await client.relay.connected(15_000)
  return client
}

let dataDir: string
let ports: string[]
let relay: RelayProcess

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'roomkv-node-'))
  ports = ['--port', String(await freePort()), '--p2p-port', String(await freePort())]
  relay = await startRelayProcess({ dataDir, args: ports })
})

afterAll(async () => {
  await Promise.allSettled(clients.map(async c => { await c.close() }))
  await relay?.stop()
  await rm(dataDir, { recursive: true, force: true })
})

describe('relay', () => {
  test('health and bootstrap endpoints describe the node', async () => {
    const body = await health(relay)
    expect(body).toMatchObject({ ok: true, peerId: relay.peerId, dhtMode: 'server' })
    expect(body.multiaddrs[0]).toMatch(/\/ws\/p2p\/12D3/)
    expect(typeof body.connections).toBe('number')
    expect(typeof body.reservations).toBe('number')
    const info = await (await fetch(`${relay.url}/roomkv.json`)).json()
    expect(info.peerId).toBe(relay.peerId)
    expect(info.p2pPort).toBeGreaterThan(0)
  })

  test('a put reaches the relay and a later peer catches up from it', async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const a = await enter(link)
    const result = await a.session.put('colour', { name: 'teal' }, { quorum: 1 })
    expect(result.storedOn).toContain(relay.peerId)
    await a.close()
    const b = await enter(link)
    await expect.poll(async () => (await b.session.list()).map(e => [e.key, e.value]), { timeout: 15_000 })
      .toEqual([['colour', { name: 'teal' }]])
    expect((await b.session.get('colour', { network: true }))?.value).toEqual({ name: 'teal' })
  })

  test('forged and oversized records are rejected, counted, and change nothing', async () => {
    const secret = newRoomSecret()
    const keys = deriveRoomKeys(secret)
    const link = formatRoomLink(relay.url, secret)
    const a = await enter(link)
    await a.session.put('k', 'original')
    const relayId = peerIdFromString(relay.peerId)

    const forged = sealRecord(keys, { key: 'k', value: 'forged', clock: { wall: Date.now() + 1000, counter: 0 }, writer: 'evil' })
    forged[forged.length - 1] ^= 0x01 // last byte is inside the signature
    const other = deriveRoomKeys(newRoomSecret())
    const wrongRoom = sealRecord(other, { key: 'k', value: 'elsewhere', clock: { wall: Date.now() + 1000, counter: 0 }, writer: 'evil' })
    const oversized = new Uint8Array(41 * 1024).fill(7)
    // A bad signature costs a check and is refused per record; a batch with a
    // record of another room or over the size cap is refused whole, before
    // any signature check, with that record's code.
    expect(await a.node.services.rooms.push(relayId, keys.roomId, [forged])).toEqual({ stored: 0, known: 0, rejected: 1 })
    await expect(a.node.services.rooms.push(relayId, keys.roomId, [wrongRoom])).rejects.toThrow(/ERR_WRONG_ROOM/)
    await expect(a.node.services.rooms.push(relayId, keys.roomId, [forged, oversized])).rejects.toThrow(/ERR_RECORD_TOO_LARGE/)

    const rejected = (await health(relay)).rejectedRecords
    expect(rejected.ERR_BAD_SIGNATURE).toBeGreaterThanOrEqual(1)
    expect(rejected.ERR_WRONG_ROOM).toBeGreaterThanOrEqual(1)
    expect(rejected.ERR_RECORD_TOO_LARGE).toBeGreaterThanOrEqual(1)

    const b = await enter(link)
    await expect.poll(async () => (await b.session.list()).map(e => e.value), { timeout: 15_000 }).toEqual(['original'])
  })

  test('garbage and half-open sockets do not take the relay down', async () => {
    const p2pPort = (await (await fetch(`${relay.url}/roomkv.json`)).json()).p2pPort as number
    const httpPort = Number(new URL(relay.url).port)
    const sockets = []
    for (let i = 0; i < 20; i++) {
      for (const port of [p2pPort, httpPort]) {
        const socket = connect(port, '127.0.0.1')
        socket.on('error', () => {})
        if (i % 2 === 0) socket.write(Buffer.from(Array.from({ length: 512 }, () => Math.floor(Math.random() * 256))))
        sockets.push(socket) // odd ones stay silent: half-open
      }
    }
    await new Promise(resolve => setTimeout(resolve, 500))
    expect((await health(relay)).ok).toBe(true)
    const a = await enter(formatRoomLink(relay.url, newRoomSecret()))
    expect((await a.session.put('still', 'works', { quorum: 1 })).storedOn).toContain(relay.peerId)
    for (const socket of sockets) socket.destroy()
  })

  test('a restart keeps the peer id and every record; writes made while it was down arrive after', async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const a = await enter(link)
    await a.session.put('before', 1)
    await relay.stop()

    const offline = await a.session.put('during', 2)
    expect(offline.peers).toBe(0) // honest: nobody holds it yet, but it is kept locally
    expect((await a.session.get('during'))?.value).toBe(2)

    relay = await startRelayProcess({ dataDir, args: ports })
    expect(relay.peerId).toBe((await health(relay)).peerId)
    const b = await enter(link)
    await expect.poll(async () => (await b.session.list()).map(e => e.key), { timeout: 40_000, interval: 500 })
      .toEqual(['before', 'during'])
  })
})

describe('relay command line', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'relay/main.ts', ...args], { encoding: 'utf8', timeout: 30_000 })

  test('--help lists every flag with its env variable and default', () => {
    const out = cli(['--help'])
    expect(out.status).toBe(0)
    for (const flag of ['--port', '--p2p-port', '--host', '--data-dir', '--announce', '--bootstrap']) expect(out.stdout).toContain(flag)
    expect(out.stdout).toContain('ROOMKV_DATA_DIR')
  })

  test('a bad flag value exits non-zero with a clear message', () => {
    const out = cli(['--port', 'eighty'])
    expect(out.status).toBe(2)
    expect(out.stderr).toContain('--port: "eighty" is not a valid port')
    const unknown = cli(['--colour', 'blue'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/Unknown option '--colour'/)
    const badAddr = cli(['--announce', 'not-a-multiaddr'])
    expect(badAddr.status).toBe(2)
    expect(badAddr.stderr).toContain('is not a multiaddr')
    // Below one Noise message: legitimate WebSocket messages would be refused.
    const small = cli(['--max-ws-message-bytes', '65535'])
    expect(small.status).toBe(2)
    expect(small.stderr).toContain('--max-ws-message-bytes: 65535 is below the minimum 65537')
  })
})
