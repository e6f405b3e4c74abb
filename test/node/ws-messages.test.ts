/**
 * The @libp2p/websockets patch (patches/, item 6): the chunks of one write
 * go as one WebSocket message, at most 65,537 bytes each (one Noise frame
 * with its length prefix, what a listener's `maxPayload` allows), instead
 * of one message per chunk (a Noise frame went as two, its 2-byte prefix
 * alone). Two stock libp2p nodes in this process, a 1 MiB echo between them;
 * the messages are seen through ws's `send`.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, describe, expect, test } from 'vitest'

const nodes: Libp2p[] = []
afterAll(async () => { await Promise.allSettled(nodes.map(async n => { await n.stop() })) })

async function node (listen: string[] = []): Promise<Libp2p> {
  const created = await createLibp2p({
    addresses: { listen },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: Infinity }
  })
  nodes.push(created)
  return created
}

describe('WebSocket messages', () => {
  test('a write goes as one message per 65,537 bytes, never a lone length prefix; data intact', async () => {
    // `ws` (the transport's WebSocket in Node) is not a direct dependency and has no types here.
    const ws: any = await import('ws' as string)
    const sizes: number[] = []
    const send = ws.WebSocket.prototype.send
    ws.WebSocket.prototype.send = function (data: Uint8Array | ArrayBuffer, ...rest: unknown[]) {
      sizes.push(data.byteLength)
      return send.call(this, data, ...rest)
    }
    try {
      const server = await node(['/ip4/127.0.0.1/tcp/0/ws'])
      await server.handle('/echo/1.0.0', async (stream) => {
        for await (const chunk of stream) {
          if (!stream.send(chunk.subarray())) await stream.onDrain()
        }
        await stream.close()
      })
      const client = await node()
      const stream = await client.dialProtocol(server.getMultiaddrs()[0], '/echo/1.0.0')
      const sent = new Uint8Array(1024 * 1024).map((_, i) => (i * 7 + 3) & 0xff)
      const received: Uint8Array[] = []
      const reading = (async () => { for await (const chunk of stream) received.push(chunk.subarray()) })()
      for (let offset = 0; offset < sent.length; offset += 200_000) {
        if (!stream.send(sent.subarray(offset, offset + 200_000))) await stream.onDrain()
      }
      await stream.close()
      await reading
      const echoed = new Uint8Array(received.reduce((n, c) => n + c.length, 0))
      let at = 0
      for (const chunk of received) { echoed.set(chunk, at); at += chunk.length }
      expect(echoed.length).toBe(sent.length)
      expect(Buffer.compare(echoed, sent)).toBe(0)
      // At least one way's MiB was seen (the listener's sockets may come from
      // another copy of ws), in big messages.
      expect(sizes.reduce((n, s) => n + s, 0)).toBeGreaterThan(sent.length)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(65_537)
      expect(sizes.filter(s => s === 2)).toEqual([])
      expect(sizes.filter(s => s > 60_000).length).toBeGreaterThanOrEqual(12)
    } finally {
      ws.WebSocket.prototype.send = send
    }
  })
})
