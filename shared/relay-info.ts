/**
 * Where the relays are: asked from the server that served the page
 * (`/roomkv.json`), so nobody copies a multiaddr by hand.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { RelayUnreachableError } from './errors.ts'

export interface RelayInfo {
  peerId: string
  /** Dial order: the relay's own addresses first, then other relays. */
  addrs: Multiaddr[]
  /** STUN/TURN servers the relay operator offers for WebRTC. */
  iceServers: Array<{ urls: string }>
}

/** What /roomkv.json says (also inlined into the page the relay serves). */
export interface RelayJson {
  peerId: string
  multiaddrs: string[]
  p2pPort: number
  relays?: string[]
  iceServers?: Array<{ urls: string }>
}

export async function fetchRelayInfo (relayUrl: string, options: { timeout?: number, inline?: RelayJson } = {}): Promise<RelayInfo> {
  let json: RelayJson
  if (options.inline != null && typeof options.inline.peerId === 'string' && Array.isArray(options.inline.multiaddrs)) {
    return relayInfoFrom(options.inline, relayUrl)
  }
  try {
    const response = await fetch(new URL('/roomkv.json', relayUrl), { signal: AbortSignal.timeout(options.timeout ?? 5000), cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    json = await response.json()
  } catch (err: any) {
    throw new RelayUnreachableError(`Relay ${relayUrl} did not answer /roomkv.json: ${err.message}`)
  }
  return relayInfoFrom(json, relayUrl)
}

function relayInfoFrom (json: RelayJson, relayUrl: string): RelayInfo {
  const addrs: string[] = []
  // The host the page was loaded from is reachable by definition; the relay's
  // own list may hold addresses only valid on its side of a NAT or proxy.
  const { hostname, protocol } = new URL(relayUrl)
  const isIp = /^\d+\.\d+\.\d+\.\d+$/.test(hostname)
  // Pages on https may only open wss:// (the relay runs with --tls-*).
  if (json.p2pPort > 0 && (protocol === 'http:' || protocol === 'https:')) {
    addrs.push(`/${isIp ? 'ip4' : 'dns'}/${hostname}/tcp/${json.p2pPort}/${protocol === 'https:' ? 'tls/ws' : 'ws'}/p2p/${json.peerId}`)
  }
  addrs.push(...json.multiaddrs, ...(json.relays ?? []))
  const parsed: Multiaddr[] = []
  for (const addr of new Set(addrs)) {
    try {
      parsed.push(multiaddr(addr))
    } catch {}
  }
  const iceServers = Array.isArray(json.iceServers) ? json.iceServers.filter(s => typeof s?.urls === 'string') : []
  return { peerId: json.peerId, addrs: parsed, iceServers }
}
