/**
 * kill -9 of a real relay process in the middle of a burst of writes from a
 * real client: after a restart on the same data dir, every record the relay
 * acknowledged is there.
 */
import { startRelayProcess, stopAll } from '../../e2e/harness.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { openRoom } from '../../cli/node-peer.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import type { RoomClient } from '../../shared/room-client.ts'

const clients = new Set<RoomClient>()
let dataDir: string | undefined

async function enter (link: string, relayUrl: string): Promise<RoomClient> {
  const client = await openRoom(link, { relayUrl })
  clients.add(client)
  await client.relay.connected(15_000)
  return client
}

async function close (client: RoomClient): Promise<void> {
  clients.delete(client)
  await Promise.race([client.close(), new Promise(resolve => setTimeout(resolve, 5000))]).catch(() => {})
}

afterAll(async () => {
  await Promise.allSettled([...clients].map(close))
  await stopAll()
  if (dataDir != null) await rm(dataDir, { recursive: true, force: true })
})

test('kill -9 mid-burst: every record the relay acknowledged is there after a restart', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'roomkv-crash-'))
  const first = await startRelayProcess({ dataDir })
  const link = formatRoomLink(first.url, newRoomSecret())
  const writer = await enter(link, first.url)

  // Four writers put keys one after another, as fast as the relay answers;
  // a key counts as acknowledged when the relay is among the peers that
  // stored it. The relay is killed once 150 are acknowledged, with puts in flight.
  const acked = new Set<string>()
  let attempted = 0
  let killed: Promise<NodeJS.Signals | null> | undefined
  const KILL_AFTER = 150
  const burst = async (lane: number): Promise<void> => {
    for (let i = 0; killed == null; i++) {
      const key = `lane${lane}/${String(i).padStart(5, '0')}`
      attempted++
      try {
        const result = await writer.session.put(key, { lane, i }, { quorum: 1 })
        if (result.storedOn.includes(first.peerId)) acked.add(key)
      } catch {}
      if (acked.size >= KILL_AFTER && killed == null) killed = first.kill('SIGKILL')
    }
  }
  await Promise.all([0, 1, 2, 3].map(burst))
  expect(await killed).toBe('SIGKILL')
  expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER)
  // The writer goes away too: nothing it holds may fill the restarted relay back in.
  await close(writer)

  const second = await startRelayProcess({ dataDir })
  expect(second.peerId).toBe(first.peerId)
  const reader = await enter(link, second.url)
  await expect.poll(async () => {
    const keys = new Set((await reader.session.list()).map(e => e.key))
    return [...acked].filter(k => !keys.has(k))
  }, { timeout: 30_000, interval: 500 }).toEqual([])
  // node:sqlite's ExperimentalWarning is not in the relay's output.
  expect(first.output() + second.output()).not.toMatch(/ExperimentalWarning/)
  await close(reader)
  await second.stop()
  console.log(`crash test: ${acked.size} acknowledged of ${attempted} attempted before kill -9; all present after restart`)
})
