import { describe, expect, it } from 'vitest'
import { toString } from 'uint8arrays'
import { RoomkvError } from './errors.ts'
import { LINK_VERSION, formatRoomCode, formatRoomLink, parseRoomLink } from './link.ts'
import { newRoomSecret } from './room-keys.ts'

const ORIGIN = 'http://127.0.0.1:8080'
/** 0x00..0x1f */
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i)

/** Runs fn, which must throw a RoomkvError; returns it. */
function thrown (fn: () => unknown): RoomkvError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(RoomkvError)
    return err as RoomkvError
  }
  throw new Error('expected an error, none was thrown')
}

function expectInvalidLink (input: string, message?: RegExp): void {
  const err = thrown(() => parseRoomLink(input))
  expect(err.code).toBe('ERR_INVALID_LINK')
  expect(err.name).toBe('InvalidLinkError')
  if (message != null) expect(err.message).toMatch(message)
}

describe('formatRoomCode / formatRoomLink', () => {
  it('formats a code as v1.<unpadded base64url>', () => {
    const code = formatRoomCode(SECRET)
    expect(code).toBe('v1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8')
    expect(code.startsWith(`${LINK_VERSION}.`)).toBe(true)
    expect(code.length).toBe(3 + 43)
  })

  it('formats a link as <origin>/#<code>, without doubling slashes', () => {
    const code = formatRoomCode(SECRET)
    expect(formatRoomLink(ORIGIN, SECRET)).toBe(`${ORIGIN}/#${code}`)
    expect(formatRoomLink(`${ORIGIN}/`, SECRET)).toBe(`${ORIGIN}/#${code}`)
    expect(formatRoomLink(`${ORIGIN}///`, SECRET)).toBe(`${ORIGIN}/#${code}`)
  })

  it('refuses secrets of the wrong length', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      expect(thrown(() => formatRoomCode(new Uint8Array(length))).code).toBe('ERR_INVALID_LINK')
      expect(thrown(() => formatRoomLink(ORIGIN, new Uint8Array(length))).code).toBe('ERR_INVALID_LINK')
    }
  })
})

describe('parseRoomLink round trip', () => {
  const secrets = [
    SECRET,
    new Uint8Array(32),
    new Uint8Array(32).fill(0xff),
    new Uint8Array(32).fill(0xfb), // base64url of 0xfb.. uses '-' and '_'
    ...Array.from({ length: 100 }, () => newRoomSecret())
  ]

  it('parses a full link back to origin and secret', () => {
    for (const secret of secrets) {
      const parsed = parseRoomLink(formatRoomLink(ORIGIN, secret))
      expect(parsed.origin).toBe(ORIGIN)
      expect(parsed.secret).toEqual(secret)
    }
  })

  it('parses a #fragment alone, with an empty origin', () => {
    for (const secret of secrets) {
      const parsed = parseRoomLink(`#${formatRoomCode(secret)}`)
      expect(parsed.origin).toBe('')
      expect(parsed.secret).toEqual(secret)
    }
  })

  it('parses a bare code, with an empty origin', () => {
    for (const secret of secrets) {
      const parsed = parseRoomLink(formatRoomCode(secret))
      expect(parsed.origin).toBe('')
      expect(parsed.secret).toEqual(secret)
    }
  })

  it('accepts https, trims whitespace and keeps only the origin of the URL', () => {
    const code = formatRoomCode(SECRET)
    expect(parseRoomLink(`https://rooms.example.com/#${code}`)).toEqual({ origin: 'https://rooms.example.com', secret: SECRET, relays: [] })
    expect(parseRoomLink(`  ${ORIGIN}/#${code}\n`)).toEqual({ origin: ORIGIN, secret: SECRET, relays: [] })
    expect(parseRoomLink(`${ORIGIN}/some/path?x=1#${code}`)).toEqual({ origin: ORIGIN, secret: SECRET, relays: [] })
    expect(parseRoomLink(`${ORIGIN}#${code}`)).toEqual({ origin: ORIGIN, secret: SECRET, relays: [] })
  })

  it('one secret has exactly one code', () => {
    const code = formatRoomCode(SECRET)
    expect(formatRoomCode(parseRoomLink(code).secret)).toBe(code)
    expect(toString(parseRoomLink(code).secret, 'hex')).toBe(toString(SECRET, 'hex'))
  })
})

describe('parseRoomLink rejects bad links with InvalidLinkError', () => {
  const code = formatRoomCode(SECRET)
  const secretText = code.slice(3)

  it('empty input', () => {
    expectInvalidLink('', /empty/)
    expectInvalidLink('   ', /empty/)
    expectInvalidLink(undefined as unknown as string, /empty/)
  })

  it('text that is not a URL', () => {
    expectInvalidLink('not a url')
    expectInvalidLink(`not a url#${code}`, /not a URL/)
    expectInvalidLink(`http://[::1#${code}`, /not a URL/)
  })

  it('a non-http(s) scheme', () => {
    expectInvalidLink(`ftp://127.0.0.1/#${code}`, /http\(s\).*ftp:/)
    expectInvalidLink(`javascript:alert(1)#${code}`, /http\(s\)/)
    expectInvalidLink(`file:///tmp/#${code}`, /http\(s\)/)
  })

  it('a URL without a fragment', () => {
    expectInvalidLink(`${ORIGIN}/`, /no #fragment/)
    expectInvalidLink(ORIGIN, /no #fragment/)
    expectInvalidLink(`${ORIGIN}/?room=${code}`, /no #fragment/)
    expectInvalidLink(`ftp://127.0.0.1/${code}`, /no #fragment/)
  })

  it('an empty or malformed fragment', () => {
    expectInvalidLink(`${ORIGIN}/#`, /v1\.<secret>/)
    expectInvalidLink('#', /v1\.<secret>/)
    expectInvalidLink(`${ORIGIN}/#${secretText}`, /v1\.<secret>/)
    expectInvalidLink(`${ORIGIN}/#V1.${secretText}`, /v1\.<secret>/)
    expectInvalidLink(`${ORIGIN}/#v1${secretText}`, /v1\.<secret>/)
    expectInvalidLink(`${ORIGIN}/#v1.${secretText}&x=1`, /v1\.<secret>/)
  })

  it('a wrong version', () => {
    expectInvalidLink(`v2.${secretText}`, /Unsupported room link version v2/)
    expectInvalidLink(`${ORIGIN}/#v2.${secretText}`, /version v2/)
    expectInvalidLink(`v0.${secretText}`, /version v0/)
    expectInvalidLink(`v01.${secretText}`, /version v01/)
  })

  it('a truncated secret (42 chars)', () => {
    expectInvalidLink(`${ORIGIN}/#v1.${secretText.slice(0, 42)}`, /42 characters, expected 43/)
    expectInvalidLink(`v1.${secretText.slice(0, 1)}`, /1 characters/)
    expectInvalidLink('v1.', /0 characters/)
  })

  it('a secret that is too long', () => {
    expectInvalidLink(`v1.${secretText}A`, /44 characters/)
    expectInvalidLink(`v1.${secretText}${secretText}`, /86 characters/)
  })

  it('characters outside base64url (padding, + and /, spaces, non-ASCII)', () => {
    const at = (i: number, c: string): string => `v1.${secretText.slice(0, i)}${c}${secretText.slice(i + 1)}`
    for (const c of ['+', '/', '=', '.', ' ', '%', 'é', '\u0000']) {
      expectInvalidLink(at(10, c))
      expectInvalidLink(`${ORIGIN}/#${at(0, c)}`)
    }
    expectInvalidLink(`v1.${secretText}=`)
  })

  it('a non-canonical last character (stray low bits) is not accepted', () => {
    // 32 bytes = 256 bits; 43 chars carry 258, so the last char has 2 unused
    // bits that must be zero. 'A' -> 'B' sets one of them.
    const canonical = formatRoomCode(new Uint8Array(32))
    expect(canonical.endsWith('A')).toBe(true)
    for (const last of ['B', 'C', 'D']) {
      expect(() => parseRoomLink(canonical.slice(0, -1) + last)).toThrow()
    }
  })

  // Regression guard (shared/link.ts, parseRoomLink): `fromString(match[2], 'base64url')`
  // (multiformats' rfc4648 decoder) throws a plain SyntaxError('Unexpected end
  // of data') for non-zero trailing bits, so the canonical-encoding check after
  // it is never reached and callers get no InvalidLinkError / ERR_INVALID_LINK.
  it('a non-canonical last character gives ERR_INVALID_LINK', () => {
    const canonical = formatRoomCode(new Uint8Array(32))
    expectInvalidLink(canonical.slice(0, -1) + 'B', /canonical/)
  })
})

describe('fallback relays (?relay=)', () => {
  const code = formatRoomCode(SECRET)

  it('round-trips a list of relays, in order, as origins', () => {
    const link = formatRoomLink(ORIGIN, SECRET, { relays: ['https://b.example/app', 'http://10.0.0.2:8080'] })
    expect(link).toBe(`${ORIGIN}/?relay=${encodeURIComponent('https://b.example')}&relay=${encodeURIComponent('http://10.0.0.2:8080')}#${code}`)
    const parsed = parseRoomLink(link)
    expect(parsed.origin).toBe(ORIGIN)
    expect(parsed.relays).toEqual(['https://b.example', 'http://10.0.0.2:8080'])
    expect(toString(parsed.secret, 'base16')).toBe(toString(SECRET, 'base16'))
  })

  it('keeps links without relays exactly as before, and parses them with an empty list', () => {
    expect(formatRoomLink(ORIGIN, SECRET, { relays: [] })).toBe(`${ORIGIN}/#${code}`)
    expect(parseRoomLink(`${ORIGIN}/#${code}`).relays).toEqual([])
    expect(parseRoomLink(code).relays).toEqual([])
  })

  it('drops duplicates and the link\'s own origin', () => {
    const parsed = parseRoomLink(`${ORIGIN}/?relay=${encodeURIComponent(ORIGIN)}&relay=https://b.example&relay=https://b.example/#${code}`)
    expect(parsed.relays).toEqual(['https://b.example'])
  })

  it('refuses relays that are not http(s) URLs, and too many of them', () => {
    expectInvalidLink(`${ORIGIN}/?relay=javascript:alert(1)#${code}`, /http\(s\)/)
    expectInvalidLink(`${ORIGIN}/?relay=not%20a%20url#${code}`, /not a URL/)
    const many = Array.from({ length: 9 }, (_, i) => `relay=http://10.0.0.${i}:1`).join('&')
    expectInvalidLink(`${ORIGIN}/?${many}#${code}`, /at most 8/)
    expect(thrown(() => formatRoomLink(ORIGIN, SECRET, { relays: ['ftp://x'] })).code).toBe('ERR_INVALID_LINK')
  })
})
