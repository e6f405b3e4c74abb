/**
 * Ask the relay for /roomkv.json the moment the command line is parsed, so
 * the request is on the wire while libp2p (most of the CLI's startup) is
 * still loading. `connect` hands the answer to the join as inline relay
 * info. node:http rather than fetch: fetch loads undici on first use, which
 * would delay exactly the byte this module exists to send early. No agent:
 * a kept-alive socket would outlive the one request it is for.
 */
import { get as httpGet, type IncomingMessage } from 'node:http'
import { get as httpsGet } from 'node:https'
import { parseRoomLink } from '../shared/link.ts'
import type { RelayJson } from '../shared/relay-info.ts'

/** Same limit as shared/relay-info.ts fetchRelayInfo. */
export const PREFETCH_TIMEOUT = 5000
/** /roomkv.json is a few hundred bytes; anything much larger is not it. */
const MAX_BYTES = 256 * 1024

const pending = new Map<string, Promise<RelayJson | undefined>>()

/** The relay a command joins through first: `--relay`, else the link's origin (undefined when neither). */
export function firstRelayUrl (link: string | undefined, relay: string | undefined): string | undefined {
  if (relay != null) return relay
  try {
    const origin = parseRoomLink(link ?? '').origin
    return origin !== '' ? origin : undefined
  } catch {
    return undefined // the join reports the bad link with its own message
  }
}

/** Start reading `relayUrl`/roomkv.json (once per URL). Never rejects: undefined means "ask again yourself". */
export function prefetchRelayJson (relayUrl: string): Promise<RelayJson | undefined> {
  let request = pending.get(relayUrl)
  if (request == null) {
    request = readRelayJson(relayUrl).catch(() => undefined)
    pending.set(relayUrl, request)
  }
  return request
}

/**
 * What the prefetch got for `relayUrl`, if one was started. A failed
 * prefetch yields undefined and the join asks again, so every failure keeps
 * the join's own message and its fallback relays.
 */
export async function prefetchedRelayJson (relayUrl: string | undefined): Promise<RelayJson | undefined> {
  if (relayUrl == null) return undefined
  return pending.get(relayUrl)
}

async function readRelayJson (relayUrl: string): Promise<RelayJson> {
  const url = new URL('/roomkv.json', relayUrl)
  const get = url.protocol === 'https:' ? httpsGet : url.protocol === 'http:' ? httpGet : undefined
  if (get == null) throw new Error(`not an http(s) relay URL: ${relayUrl}`)
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: PREFETCH_TIMEOUT, agent: false, headers: { accept: 'application/json' } }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`HTTP ${res.statusCode}`)); return }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_BYTES) { req.destroy(new Error('response too large')); return }
        chunks.push(chunk)
      })
      res.on('end', () => {
        try {
          const json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          if (typeof json?.peerId !== 'string' || !Array.isArray(json?.multiaddrs)) throw new Error('not relay info')
          resolve(json)
        } catch (err) {
          reject(err)
        }
      })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.on('error', reject)
  })
}
