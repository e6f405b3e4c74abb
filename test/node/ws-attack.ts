/**
 * Tools for attacking the relay's libp2p port by hand, as a hostile client
 * would: raw TCP sockets, a hand-built WebSocket upgrade, hand-built frames,
 * and a legitimate client's view (health, a real put) to check the relay
 * still serves. Shared by hostile-transport.test.ts and fuzz-transport.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { expect } from 'vitest'
import type { RelayProcess } from '../../e2e/harness.ts'
import { openRoom } from '../../cli/node-peer.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import { health, metric as observedMetric } from './relay-observe.ts'

export { MiB } from '../../shared/constants.ts'

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const

export interface FrameOptions {
  opcode?: number
  payload?: Uint8Array
  fin?: boolean
  /** RSV1-3 as a 3-bit number (4 = RSV1). */
  rsv?: number
  /** Clients must mask; false builds an illegal unmasked client frame. */
  mask?: boolean
  /** Length to announce instead of the payload's. */
  length?: bigint
}

/** One WebSocket frame as a client sends it (RFC 6455 section 5.2). */
export function wsFrame ({ opcode = OPCODE.binary, payload = new Uint8Array(0), fin = true, rsv = 0, mask = true, length }: FrameOptions = {}): Buffer {
  const announced = length ?? BigInt(payload.length)
  const head: number[] = [((fin ? 1 : 0) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)]
  const maskBit = mask ? 0x80 : 0
  if (announced < 126n) {
    head.push(maskBit | Number(announced))
  } else if (announced < 65536n) {
    head.push(maskBit | 126, Number(announced >> 8n) & 0xff, Number(announced) & 0xff)
  } else {
    head.push(maskBit | 127)
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((announced >> shift) & 0xffn))
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload])
  const key = randomBytes(4)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3]
  return Buffer.concat([Buffer.from(head), key, body])
}

/** A multistream-select message: varint length, then the text. */
export function multistreamMessage (text: string): Buffer {
  const body = Buffer.from(text)
  const length: number[] = []
  let n = body.length
  while (n >= 0x80) { length.push((n & 0x7f) | 0x80); n >>>= 7 }
  length.push(n)
  return Buffer.concat([Buffer.from(length), body])
}

/** The invalid frames that each killed an unpatched relay (issue 7, item 1). */
export const INVALID_FRAMES: Record<string, Buffer> = {
  'RSV bits set': wsFrame({ rsv: 4, payload: Buffer.from('x') }),
  'unmasked frame': wsFrame({ mask: false, payload: Buffer.from('x') }),
  '2^63 length': wsFrame({ length: 2n ** 63n }),
  'bad close code': wsFrame({ opcode: OPCODE.close, payload: Buffer.from([0x03, 0xee]) }), // 1006 may not be sent
  'reserved opcode': wsFrame({ opcode: 3, payload: Buffer.from('x') }),
  'oversized ping': wsFrame({ opcode: OPCODE.ping, payload: Buffer.alloc(126) })
}

export interface SocketOptions {
  /** Source address: 127.0.0.x stands for another client IP on loopback. */
  localAddress?: string
  /** Connect over TLS (wss), trusting this CA. */
  ca?: string
}

/** A connected TCP (or TLS) socket that never throws; its data is drained. */
export async function openSocket (port: number, { localAddress = '127.0.0.1', ca }: SocketOptions = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = ca == null
      ? connect({ port, host: '127.0.0.1', localAddress })
      : tlsConnect({ socket: connect({ port, host: '127.0.0.1', localAddress }), ca, servername: 'localhost' })
    const onError = (err: Error): void => { reject(err) }
    socket.once('error', onError)
    socket.once(ca == null ? 'connect' : 'secureConnect', () => {
      socket.off('error', onError)
      socket.on('error', () => {})
      resolve(socket)
    })
  })
}

export function upgradeRequest (port: number): Buffer {
  return Buffer.from([
    'GET / HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    '', ''
  ].join('\r\n'))
}

/** A socket past a completed WebSocket upgrade (101), its later data drained. */
export async function wsUpgrade (port: number, options: SocketOptions = {}): Promise<Socket> {
  const socket = await openSocket(port, options)
  socket.write(upgradeRequest(port))
  await new Promise<void>((resolve, reject) => {
    let answer = ''
    const onData = (d: Buffer): void => {
      answer += d.toString('latin1')
      const end = answer.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', onData)
      if (!answer.startsWith('HTTP/1.1 101')) { reject(new Error(`upgrade refused: ${answer.slice(0, end)}`)); return }
      socket.resume()
      resolve()
    }
    socket.on('data', onData)
    socket.once('close', () => reject(new Error('closed during the upgrade')))
  })
  return socket
}

/** Resolves true when the socket closes within `ms`, false otherwise. */
export async function closedWithin (socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.closed) return true
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), ms)
    socket.once('close', () => { clearTimeout(timer); resolve(true) })
  })
}

/** The relay process's pid, found by its unique data dir on the command line. */
export function relayPid (relay: RelayProcess): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (cmdline.includes('relay/main.ts') && cmdline.includes(relay.dataDir)) return Number(entry)
    } catch {}
  }
  throw new Error(`no process for relay ${relay.dataDir}`)
}

export function alive (pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

export function fdCount (pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

export function rssBytes (pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return Number(kb) * 1024
}

export { metricsText } from './relay-observe.ts'

/** Sum of the samples of `name` whose labels include `labels`; 0 when none. */
export function metric (text: string, name: string, labels: Record<string, string> = {}): number {
  return observedMetric(text, name, labels) ?? 0
}

export async function p2pPortOf (relay: RelayProcess): Promise<number> {
  return (await (await fetch(`${relay.url}/roomkv.json`)).json()).p2pPort as number
}

export interface ServingFigures { healthMs: number, connectMs: number, putMs: number }

/**
 * What a legitimate user sees: /health answers 200 within 1 s, a fresh
 * libp2p client connects (from 127.0.0.1) and its put is stored on the relay
 * within 2 s. The connect bound is generous (client start-up included) but
 * below the attacks' hold times.
 */
export async function expectServing (relay: RelayProcess, pid: number, connectBoundMs = 4000): Promise<ServingFigures> {
  expect(alive(pid), 'relay process alive').toBe(true)
  let started = Date.now()
  expect((await health(relay, 1000)).ok).toBe(true)
  const healthMs = Date.now() - started
  started = Date.now()
  const client = await openRoom(formatRoomLink(relay.url, newRoomSecret()))
  try {
    await client.relay.connected(connectBoundMs)
    const connectMs = Date.now() - started
    started = Date.now()
    const put = await client.session.put('still', 'serving', { quorum: 1 })
    const putMs = Date.now() - started
    expect(put.storedOn).toContain(relay.peerId)
    expect(putMs, 'put stored within 2 s').toBeLessThan(2000)
    return { healthMs, connectMs, putMs }
  } finally {
    await client.close()
  }
}

/** Sockets opened by an attack; all destroyed by `closeAll`. */
export function socketPool (): { add(socket: Socket): Socket, open(): number, closeAll(): void } {
  const sockets = new Set<Socket>()
  return {
    add (socket) {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      return socket
    },
    open: () => sockets.size,
    closeAll () { for (const socket of sockets) socket.destroy(); sockets.clear() }
  }
}
