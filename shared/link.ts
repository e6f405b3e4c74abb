/**
 * Room links. The secret lives only in the URL fragment, which browsers never
 * send to a server: `<origin>/#v1.<base64url(32-byte secret)>`.
 */
import { fromString, toString } from 'uint8arrays'
import { ROOM_SECRET_BYTES } from './constants.ts'
import { InvalidLinkError } from './errors.ts'

export const LINK_VERSION = 'v1'
const SECRET_CHARS = Math.ceil(ROOM_SECRET_BYTES * 8 / 6) // 43, unpadded
const CODE_PATTERN = /^v(\d+)\.([A-Za-z0-9_-]*)$/

/** Most extra relays one link may name (a longer list is refused, not truncated). */
export const MAX_LINK_RELAYS = 8

export interface RoomLink {
  /** Where the room's relay serves the app, e.g. `http://127.0.0.1:8080`; empty for a bare room code. */
  origin: string
  /** The 32-byte room secret. */
  secret: Uint8Array
  /**
   * Fallback relays (origins, in preference order) named by `?relay=` query
   * parameters, tried when the origin's relay is unreachable. Not secret:
   * the query string reaches the server, the fragment does not.
   */
  relays: string[]
}

/** The fragment part alone, `v1.<secret>`: enough to join when the relay is known. */
export function formatRoomCode (secret: Uint8Array): string {
  if (secret.length !== ROOM_SECRET_BYTES) throw new InvalidLinkError(`Room secret must be ${ROOM_SECRET_BYTES} bytes`)
  return `${LINK_VERSION}.${toString(secret, 'base64url')}`
}

/** `relays`: fallback relay origins, added as `?relay=` parameters (links without them stay as before). */
export function formatRoomLink (origin: string, secret: Uint8Array, options: { relays?: string[] } = {}): string {
  const relays = (options.relays ?? []).map(r => relayOrigin(r))
  if (relays.length > MAX_LINK_RELAYS) throw new InvalidLinkError(`A link names at most ${MAX_LINK_RELAYS} extra relays`)
  const query = relays.length === 0 ? '' : `?${relays.map(r => `relay=${encodeURIComponent(r)}`).join('&')}`
  return `${origin.replace(/\/+$/, '')}/${query}#${formatRoomCode(secret)}`
}

/** The origin of a relay URL; InvalidLinkError unless it is http(s). */
function relayOrigin (text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new InvalidLinkError(`Relay ${JSON.stringify(text.slice(0, 100))} is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidLinkError(`Relay must be http(s), got ${url.protocol}`)
  return url.origin
}

/**
 * Accepts a full link (`http://host/#v1.xxx`), a fragment (`#v1.xxx`) or a
 * bare code (`v1.xxx`). Throws InvalidLinkError saying what is wrong.
 */
export function parseRoomLink (input: string): RoomLink {
  if (typeof input !== 'string' || input.trim() === '') throw new InvalidLinkError('Room link is empty')
  const text = input.trim()
  let origin = ''
  let relays: string[] = []
  let code: string
  const hash = text.indexOf('#')
  if (hash >= 0) {
    code = text.slice(hash + 1)
    const before = text.slice(0, hash)
    if (before !== '') {
      let url: URL
      try {
        url = new URL(before)
      } catch {
        throw new InvalidLinkError('Room link is not a URL')
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidLinkError(`Room link must be http(s), got ${url.protocol}`)
      origin = url.origin
      const named = url.searchParams.getAll('relay')
      if (named.length > MAX_LINK_RELAYS) throw new InvalidLinkError(`A link names at most ${MAX_LINK_RELAYS} extra relays`)
      relays = [...new Set(named.map(r => relayOrigin(r)))].filter(r => r !== origin)
    }
  } else if (/^[a-z]+:\/\//i.test(text)) {
    throw new InvalidLinkError('Room link has no #fragment with the room secret')
  } else {
    code = text
  }
  const match = CODE_PATTERN.exec(code)
  if (match == null) throw new InvalidLinkError('Room link fragment must look like v1.<secret>')
  if (`v${match[1]}` !== LINK_VERSION) throw new InvalidLinkError(`Unsupported room link version v${match[1]}`)
  if (match[2].length !== SECRET_CHARS) {
    throw new InvalidLinkError(`Room secret is ${match[2].length} characters, expected ${SECRET_CHARS} (truncated link?)`)
  }
  let secret: Uint8Array
  try {
    secret = fromString(match[2], 'base64url')
  } catch {
    throw new InvalidLinkError('Room secret is not canonical base64url')
  }
  // Reject non-canonical encodings (stray low bits in the last char) so one secret has one link.
  if (secret.length !== ROOM_SECRET_BYTES || toString(secret, 'base64url') !== match[2]) {
    throw new InvalidLinkError('Room secret is not canonical base64url')
  }
  return { origin, secret, relays }
}
