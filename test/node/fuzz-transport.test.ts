/**
 * Seeded fuzzer for the relay's libp2p port: random and mutated bytes at the
 * WebSocket frame layer, inside valid frames at multistream-select, and as
 * Noise handshake messages after a valid `/noise` negotiation. Fixed budget;
 * the relay must never exit and must serve a legitimate client afterwards.
 * Reproduce a failure with FUZZ_SEED=<printed seed>.
 */
import type { Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { pick, prng, randomInt } from '../../shared/test-support.ts'
import { alive, expectServing, fdCount, multistreamMessage, p2pPortOf, relayPid, rssBytes, socketPool, wsFrame, wsUpgrade, MiB, OPCODE } from './ws-attack.ts'

const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 35_000)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
const CONCURRENCY = 8
const MULTISTREAM = '/multistream/1.0.0\n'

type Random = () => number

function randomBytes (random: Random, max: number): Buffer {
  const out = Buffer.alloc(randomInt(random, max + 1))
  for (let i = 0; i < out.length; i++) out[i] = randomInt(random, 256)
  return out
}

/** Flip bits, overwrite, insert, delete or truncate: a few edits of `input`. */
function mutate (random: Random, input: Buffer): Buffer {
  let bytes = Buffer.from(input)
  for (let edits = 1 + randomInt(random, 4); edits > 0; edits--) {
    const at = bytes.length === 0 ? 0 : randomInt(random, bytes.length)
    switch (randomInt(random, 5)) {
      case 0: if (bytes.length > 0) bytes[at] ^= 1 << randomInt(random, 8); break
      case 1: if (bytes.length > 0) bytes[at] = pick(random, [0, 0x7f, 0x80, 0xff, randomInt(random, 256)]); break
      case 2: bytes = Buffer.concat([bytes.subarray(0, at), randomBytes(random, 8), bytes.subarray(at)]); break
      case 3: bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + randomInt(random, 4))]); break
      default: bytes = bytes.subarray(0, at)
    }
  }
  return bytes
}

/** What to send after the upgrade, per layer. */
const LAYERS: Record<string, (random: Random) => Buffer[]> = {
  'ws-random': (random) => [randomBytes(random, 512)],
  'ws-mutated-frame': (random) => [mutate(random, wsFrame({
    opcode: pick(random, [OPCODE.binary, OPCODE.text, OPCODE.ping, OPCODE.close, OPCODE.continuation]),
    fin: random() < 0.8,
    payload: randomBytes(random, pick(random, [8, 130, 70_000]))
  }))],
  multistream: (random) => {
    const messages = [MULTISTREAM, '/noise\n', '/yamux/1.0.0\n', 'ls\n', 'na\n']
    return Array.from({ length: 1 + randomInt(random, 3) }, () => {
      const message = multistreamMessage(pick(random, messages))
      return wsFrame({ payload: random() < 0.7 ? mutate(random, message) : randomBytes(random, 64) })
    })
  },
  noise: (random) => {
    // A valid negotiation, then Noise XX message 1 (2-byte length + 32-byte
    // ephemeral key) mutated, then random later handshake messages.
    const e = randomBytes(random, 32)
    const msg1 = Buffer.concat([Buffer.from([0, 32]), e, Buffer.alloc(32 - e.length)])
    const frames = [
      wsFrame({ payload: multistreamMessage(MULTISTREAM) }),
      wsFrame({ payload: multistreamMessage('/noise\n') }),
      wsFrame({ payload: random() < 0.5 ? mutate(random, msg1) : msg1 })
    ]
    if (random() < 0.6) {
      const length = randomInt(random, 65536)
      const body = randomBytes(random, Math.min(length, 512))
      frames.push(wsFrame({ payload: Buffer.concat([Buffer.from([length >> 8, length & 0xff]), body]) }))
    }
    return frames
  }
}

describe('transport fuzzer', () => {
  let relay: RelayProcess
  const pool = socketPool()
  beforeAll(async () => { relay = await startRelayProcess() })
  afterAll(async () => {
    pool.closeAll()
    await relay?.stop()
  })

  test(`random and mutated input at the WebSocket, multistream and Noise layers (seed ${SEED})`, async () => {
    console.log(`fuzz-transport: seed ${SEED} (FUZZ_SEED=${SEED} to replay), budget ${BUDGET_MS} ms`)
    const random = prng(SEED)
    const pid = relayPid(relay)
    const port = await p2pPortOf(relay)
    const fdBefore = fdCount(pid)
    const rssBefore = rssBytes(pid)
    const deadline = Date.now() + BUDGET_MS
    const counts: Record<string, number> = {}
    let cases = 0

    const runCase = async (n: number): Promise<void> => {
      const layer = pick(random, Object.keys(LAYERS))
      const frames = LAYERS[layer](random)
      const hangUp = randomInt(random, 3) // 0: at once, 1: after a pause, 2: leave it to the relay
      counts[layer] = (counts[layer] ?? 0) + 1
      let socket: Socket
      try {
        socket = pool.add(await wsUpgrade(port, { localAddress: `127.0.0.${2 + (n % 60)}` }))
      } catch {
        return // refused by a per-IP limit: also a correct answer
      }
      for (const frame of frames) if (!socket.destroyed) socket.write(frame)
      if (hangUp === 0) socket.destroy()
      else if (hangUp === 1) setTimeout(() => socket.destroy(), 200)
      else setTimeout(() => socket.destroy(), 8000) // the relay's timeouts should come first
    }

    while (Date.now() < deadline) {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => runCase(cases++)))
      expect(alive(pid), `relay exited at case ${cases} (seed ${SEED})\n${relay.output().slice(-3000)}`).toBe(true)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    console.log(`fuzz-transport: ${cases} cases`, counts)
    expect(cases).toBeGreaterThan(100)

    // The relay still serves a legitimate client, and gave back what the fuzz took.
    const figures = await expectServing(relay, pid, 10_000)
    console.log('fuzz-transport: after the fuzz', figures)
    pool.closeAll()
    await expect.poll(() => fdCount(pid), { timeout: 15_000 }).toBeLessThanOrEqual(fdBefore + 10)
    expect(rssBytes(pid) - rssBefore, 'RSS growth over the fuzz').toBeLessThan(128 * MiB)
  })
})
