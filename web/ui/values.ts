/**
 * Typed values for the editor: what the user types is parsed to the type
 * they chose (a number stays a number, JSON an object), validated before
 * anything is written. Plain functions, no runes: unit-tested directly.
 */
import { formatCount } from './format.ts'

export type ValueKind = 'string' | 'number' | 'boolean' | 'json'

export const VALUE_KINDS: ReadonlyArray<{ kind: ValueKind, label: string }> = [
  { kind: 'string', label: 'Text' },
  { kind: 'number', label: 'Number' },
  { kind: 'boolean', label: 'True / false' },
  { kind: 'json', label: 'JSON' }
]

/**
 * Longest text the editor parses. The SDK enforces the real record limit
 * (32 KiB sealed, with its own error); this only stops a pasted megabyte
 * from being JSON-parsed on every keystroke.
 */
export const MAX_EDIT_CHARS = 256 * 1024

export type ParseResult = { ok: true, value: unknown } | { ok: false, message: string }

/** Decimal numbers only: `0x10`, `1_000`, ` ` and `Infinity` are not what a person means by a number. */
const NUMBER_PATTERN = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

export function kindOf (value: unknown): ValueKind {
  switch (typeof value) {
    case 'string': return 'string'
    case 'number': return 'number'
    case 'boolean': return 'boolean'
    default: return 'json'
  }
}

/** The editor's text for a stored value of that kind. */
export function toEditText (value: unknown): string {
  switch (kindOf(value)) {
    case 'string': return value as string
    case 'number': case 'boolean': return String(value)
    default: return JSON.stringify(value, null, 2) ?? 'null'
  }
}

export function parseValue (kind: ValueKind, text: string): ParseResult {
  if (text.length > MAX_EDIT_CHARS) return { ok: false, message: `Too long: at most ${formatCount(MAX_EDIT_CHARS)} characters` }
  switch (kind) {
    case 'string':
      return { ok: true, value: text }
    case 'number': {
      const t = text.trim()
      if (!NUMBER_PATTERN.test(t)) return { ok: false, message: 'Not a number: use digits, an optional - and . (e.g. -12.5)' }
      const n = Number(t)
      if (!Number.isFinite(n)) return { ok: false, message: 'Number is too large' }
      return { ok: true, value: n }
    }
    case 'boolean': {
      const t = text.trim().toLowerCase()
      if (t === 'true') return { ok: true, value: true }
      if (t === 'false') return { ok: true, value: false }
      return { ok: false, message: 'Choose true or false' }
    }
    case 'json':
      try {
        return { ok: true, value: JSON.parse(text) }
      } catch (err) {
        return { ok: false, message: `Not valid JSON: ${(err as Error).message}` }
      }
  }
}

/**
 * A one-line preview for the key list, cut to `max` characters: the list
 * never lays out a 30 KiB value (CSS truncates what fits; this bounds the
 * DOM text so a huge value costs nothing to render).
 */
export function previewValue (value: unknown, max = 160): string {
  const text = kindOf(value) === 'string' ? value as string : JSON.stringify(value) ?? 'null'
  const line = text.length > max ? `${text.slice(0, max)}…` : text
  return line.replace(/\s+/g, ' ')
}

/** The value in full, for the detail view. */
export function fullValue (value: unknown): string {
  return kindOf(value) === 'string' ? value as string : JSON.stringify(value, null, 2) ?? 'null'
}

export const KIND_LABEL: Record<ValueKind, string> = { string: 'text', number: 'number', boolean: 'true/false', json: 'JSON' }

/** TTL the editor accepts: whole seconds up to a year (longer is "no expiry" in practice). */
export const MAX_TTL_SECONDS = 365 * 24 * 3600

export function parseTtl (text: string): { ok: true, ms?: number } | { ok: false, message: string } {
  const t = text.trim()
  if (t === '') return { ok: true }
  if (!/^\d+$/.test(t)) return { ok: false, message: 'Expiry must be a whole number of seconds' }
  const seconds = Number(t)
  if (seconds < 1 || seconds > MAX_TTL_SECONDS) return { ok: false, message: `Expiry must be between 1 and ${formatCount(MAX_TTL_SECONDS)} seconds` }
  return { ok: true, ms: seconds * 1000 }
}

/** "in 2 min 5 s" style countdown for an expiry time; empty for none. */
export function describeExpiry (expiresAt: number, now: number): string {
  if (expiresAt === 0) return ''
  const left = Math.max(0, Math.ceil((expiresAt - now) / 1000))
  if (left === 0) return 'expiring now'
  const d = Math.floor(left / 86400)
  const h = Math.floor(left % 86400 / 3600)
  const m = Math.floor(left % 3600 / 60)
  const s = left % 60
  const parts = d > 0 ? [`${d} d`, `${h} h`] : h > 0 ? [`${h} h`, `${m} min`] : m > 0 ? [`${m} min`, `${s} s`] : [`${s} s`]
  return `expires in ${parts.filter(p => !p.startsWith('0 ')).join(' ')}`
}
