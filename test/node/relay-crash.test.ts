/**
 * kill -9 of a real relay process in the middle of a burst of writes from a
 * real client: after a restart on the same data dir, every record the relay
 * acknowledged is there. The relay is spawned here (not through the e2e
 * harness) because the test needs its process to send SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { openRoom } from '../../cli/node-peer.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import type { RoomClient } from '../../shared/room-client.ts'

interface Spawned { child: ChildProcess, url: string, peerId: string, output: () => string, exited: Promise<void> }

const children = new Set<ChildProcess>()
const clients = new Set<RoomClient>()
let dataDir: string | undefined

async function spawnRelay (dir: string): Promise<Spawned> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts', '--port', '0', '--p2p-port', '0', '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBUG: '' }
  })
  children.add(child)
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => { children.delete(child); resolve() }))
  const started = await new Promise<{ url: string, peerId: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start in 30 s:\n${output}`)), 30_000)
    const check = (): void => {
      const url = /web app:\s+(\S+)/.exec(output)?.[1]
      const peerId = /peer id:\s+(\S+)/.exec(output)?.[1]
      if (url != null && peerId != null) { clearTimeout(timer); resolve({ url, peerId }) }
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`relay exited with ${code}:\n${output}`)) })
  })
  return { child, ...started, output: () => output, exited }
}

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
  for (const child of children) child.kill('SIGKILL')
  if (dataDir != null) await rm(dataDir, { recursive: true, force: true })
})

test('kill -9 mid-burst: every record the relay acknowledged is there after a restart', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'roomkv-crash-'))
  const first = await spawnRelay(dataDir)
  const link = formatRoomLink(first.url, newRoomSecret())
  const writer = await enter(link, first.url)

  // Four writers put keys one after another, as fast as the relay answers;
  // a key counts as acknowledged when the relay is among the peers that
  // stored it. The relay is killed once 150 are acknowledged, with puts in flight.
  const acked = new Set<string>()
  let attempted = 0
  let killed = false
  const KILL_AFTER = 150
  const burst = async (lane: number): Promise<void> => {
    for (let i = 0; !killed; i++) {
      const key = `lane${lane}/${String(i).padStart(5, '0')}`
      attempted++
      try {
        const result = await writer.session.put(key, { lane, i }, { quorum: 1 })
        if (result.storedOn.includes(first.peerId)) acked.add(key)
      } catch {}
      if (acked.size >= KILL_AFTER && !killed) {
        killed = true
        first.child.kill('SIGKILL')
      }
    }
  }
  await Promise.all([0, 1, 2, 3].map(burst))
  await first.exited
  expect(first.child.signalCode).toBe('SIGKILL')
  expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER)
  // The writer goes away too: nothing it holds may fill the restarted relay back in.
  await close(writer)

  const second = await spawnRelay(dataDir)
  expect(second.peerId).toBe(first.peerId)
  const reader = await enter(link, second.url)
  await expect.poll(async () => {
    const keys = new Set((await reader.session.list()).map(e => e.key))
    return [...acked].filter(k => !keys.has(k))
  }, { timeout: 30_000, interval: 500 }).toEqual([])
  // node:sqlite's ExperimentalWarning is not in the relay's output.
  expect(first.output() + second.output()).not.toMatch(/ExperimentalWarning/)
  await close(reader)
  second.child.kill('SIGTERM')
  await second.exited
  console.log(`crash test: ${acked.size} acknowledged of ${attempted} attempted before kill -9; all present after restart`)
})
