import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import type { Replication } from '../shared/protocol/replication.ts'
import { createFederation } from './federation.ts'
import type { RelayLog } from './log.ts'

const quiet: RelayLog = { error () {}, warn () {}, info () {}, debug () {} } as unknown as RelayLog
const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const room = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise(resolve => setTimeout(resolve, 1)) }

/** Records every session open and sync; `hold` keeps syncs pending to observe concurrency. */
async function setup (options: { hold?: boolean } = {}) {
  const other = await newPeer()
  const opened: string[] = []
  const synced: string[] = []
  let running = 0
  let mostAtOnce = 0
  const release: Array<() => void> = []
  const federation = createFederation({
    relays: [`/ip4/10.0.0.2/tcp/443/tls/ws/p2p/${other.toString()}`],
    replication: () => ({
      open: async (peer: PeerId, roomId: Uint8Array) => { opened.push(`${peer.toString()}/${roomId[0]}`); return true }
    }) as unknown as Replication,
    sync: async (peer, roomId) => {
      running++
      mostAtOnce = Math.max(mostAtOnce, running)
      if (options.hold === true) await new Promise<void>(resolve => release.push(resolve))
      running--
      synced.push(`${peer.toString()}/${roomId[0]}`)
    },
    connected: () => true,
    log: quiet,
    concurrency: 2
  })
  return { federation, other, opened, synced, release, mostAtOnce: () => mostAtOnce }
}

describe('federation', () => {
  it('joins the other relay\'s room once a member shows up here, once per room', async () => {
    const { federation, other, opened, synced } = await setup()
    const member = await newPeer()
    federation.onRoomPeer(member, room(1))
    federation.onRoomPeer(member, room(1))
    await settle()
    expect(opened).toEqual([`${other.toString()}/1`])
    expect(synced).toEqual([`${other.toString()}/1`])
  })

  it('does not answer the other relay\'s own session with a link back', async () => {
    const { federation, other, opened } = await setup()
    federation.onRoomPeer(other, room(2))
    await settle()
    expect(opened).toEqual([])
  })

  it('re-links every known room when the other relay reconnects, a few at a time', async () => {
    const { federation, other, synced, release, mostAtOnce } = await setup({ hold: true })
    const member = await newPeer()
    for (let n = 1; n <= 5; n++) federation.onRoomPeer(member, room(n))
    for (let i = 0; i < 10; i++) { await settle(); release.splice(0).forEach(r => { r() }) }
    expect(synced.length).toBe(5)
    federation.onRelayConnected(other)
    for (let i = 0; i < 10; i++) { await settle(); release.splice(0).forEach(r => { r() }) }
    expect(synced.length).toBe(10)
    expect(mostAtOnce()).toBe(2)
    // A peer that is not one of the --bootstrap relays re-links nothing.
    federation.onRelayConnected(await newPeer())
    await settle()
    expect(synced.length).toBe(10)
  })
})
