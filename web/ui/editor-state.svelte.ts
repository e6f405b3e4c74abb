/**
 * The key editor's form: key, type, value text and time to live, validated
 * before anything is written (values.ts parses; this holds the fields).
 */
import type { KeyEntry } from '../../shared/room.ts'
import { kindOf, parseTtl, parseValue, toEditText, type ValueKind } from './values.ts'

export type EditorSubmit = { ok: true, key: string, value: unknown, ttl?: number } | { ok: false }

/** Longest key the editor accepts before asking the SDK (which has its own, byte-based limit). */
export const MAX_KEY_CHARS = 1024

export class EditorState {
  key = $state('')
  kind = $state<ValueKind>('string')
  text = $state('')
  ttl = $state('')
  #keyError = $state('')
  #valueError = $state('')
  #ttlError = $state('')
  /** The key being edited (loaded from a row), or '' for a new one. */
  #editing = $state('')

  get keyError (): string { return this.#keyError }
  get valueError (): string { return this.#valueError }
  get ttlError (): string { return this.#ttlError }
  get editing (): string { return this.#editing }

  /** Fill the form from a row: its value keeps its type. */
  load (entry: Pick<KeyEntry, 'key' | 'value' | 'deleted'>): void {
    this.key = entry.key
    this.kind = entry.deleted ? 'string' : kindOf(entry.value)
    this.text = entry.deleted ? '' : toEditText(entry.value)
    this.ttl = ''
    this.#editing = entry.key
    this.clearErrors()
  }

  /** Change the type, converting the text when it reads as the new type. */
  setKind (kind: ValueKind): void {
    if (kind === 'boolean' && !/^(true|false)$/i.test(this.text.trim())) this.text = 'true'
    this.kind = kind
    this.#valueError = ''
  }

  reset (): void {
    this.key = ''
    this.kind = 'string'
    this.text = ''
    this.ttl = ''
    this.#editing = ''
    this.clearErrors()
  }

  /** The fields as they are now, to tell later whether the user changed them. */
  snapshot (): string {
    return JSON.stringify([this.key, this.kind, this.text, this.ttl])
  }

  /**
   * Reset after a write finished, unless the fields changed since it was
   * submitted (`snapshot()` then): a slow write must not wipe what the user
   * has typed meanwhile.
   */
  resetIfUnchanged (snapshot: string): void {
    if (this.snapshot() === snapshot) this.reset()
  }

  clearErrors (): void {
    this.#keyError = ''
    this.#valueError = ''
    this.#ttlError = ''
  }

  /** Validate every field; on success, the typed value ready for `RoomState.save`. */
  validate (): EditorSubmit {
    this.clearErrors()
    const key = this.key
    if (key === '') this.#keyError = 'Enter a key'
    else if (key.length > MAX_KEY_CHARS) this.#keyError = `Key is too long: at most ${MAX_KEY_CHARS} characters`
    const value = parseValue(this.kind, this.text)
    if (!value.ok) this.#valueError = value.message
    const ttl = parseTtl(this.ttl)
    if (!ttl.ok) this.#ttlError = ttl.message
    if (this.#keyError !== '' || !value.ok || !ttl.ok) return { ok: false }
    return { ok: true, key, value: value.value, ttl: ttl.ms }
  }

  /** Key for a delete: needs only a key. */
  validateKey (): string | undefined {
    this.clearErrors()
    if (this.key === '') { this.#keyError = 'Enter the key to delete'; return undefined }
    return this.key
  }
}
