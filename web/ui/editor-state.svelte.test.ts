import { flushSync } from 'svelte'
import { afterEach, describe, expect, it } from 'vitest'
import { EditorState, MAX_KEY_CHARS } from './editor-state.svelte.ts'

describe('EditorState', () => {
  let stop: (() => void) | undefined
  afterEach(() => { stop?.(); stop = undefined })

  it('returns a number as a number, not its text', () => {
    const editor = new EditorState()
    editor.key = 'count'
    editor.setKind('number')
    editor.text = ' -12.5 '
    const result = editor.validate()
    expect(result).toEqual({ ok: true, key: 'count', value: -12.5, ttl: undefined })
    expect(typeof (result as { value: unknown }).value).toBe('number')
  })

  it('refuses text that is not a number, without a value', () => {
    const editor = new EditorState()
    editor.key = 'count'
    editor.setKind('number')
    editor.text = '12abc'
    expect(editor.validate()).toEqual({ ok: false })
    expect(editor.valueError).toMatch(/^Not a number/)
    expect(editor.keyError).toBe('')
  })

  it('validates JSON and returns the parsed structure', () => {
    const editor = new EditorState()
    editor.key = 'cfg'
    editor.setKind('json')
    editor.text = '{"a": [1, true, null]}'
    expect(editor.validate()).toEqual({ ok: true, key: 'cfg', value: { a: [1, true, null] }, ttl: undefined })
    editor.text = '{"a": '
    expect(editor.validate()).toEqual({ ok: false })
    expect(editor.valueError).toMatch(/^Not valid JSON/)
  })

  it('turns the time to live in seconds into milliseconds and refuses a bad one', () => {
    const editor = new EditorState()
    editor.key = 'k'
    editor.text = 'v'
    editor.ttl = '90'
    expect(editor.validate()).toEqual({ ok: true, key: 'k', value: 'v', ttl: 90_000 })
    for (const bad of ['1.5', '-3', '0', 'soon']) {
      editor.ttl = bad
      expect(editor.validate(), bad).toEqual({ ok: false })
      expect(editor.ttlError, bad).toMatch(/^Expiry must be/)
    }
  })

  it('reports every bad field at once and clears errors on the next success', () => {
    const editor = new EditorState()
    editor.setKind('json')
    editor.text = 'nope'
    editor.ttl = 'x'
    expect(editor.validate()).toEqual({ ok: false })
    expect(editor.keyError).toBe('Enter a key')
    expect(editor.valueError).not.toBe('')
    expect(editor.ttlError).not.toBe('')
    editor.key = 'k'
    editor.text = '"fine"'
    editor.ttl = ''
    expect(editor.validate()).toEqual({ ok: true, key: 'k', value: 'fine', ttl: undefined })
    expect([editor.keyError, editor.valueError, editor.ttlError]).toEqual(['', '', ''])
  })

  it('bounds the key length in characters', () => {
    const editor = new EditorState()
    editor.text = 'v'
    editor.key = 'k'.repeat(MAX_KEY_CHARS)
    expect(editor.validate().ok).toBe(true)
    editor.key = 'k'.repeat(MAX_KEY_CHARS + 1)
    expect(editor.validate()).toEqual({ ok: false })
    expect(editor.keyError).toMatch(/too long/)
  })

  it('loads a row keeping its type, and a deleted row as empty text', () => {
    const editor = new EditorState()
    editor.ttl = '5'
    editor.load({ key: 'n', value: 42, deleted: false })
    expect([editor.editing, editor.kind, editor.text, editor.ttl]).toEqual(['n', 'number', '42', ''])
    expect(editor.validate()).toEqual({ ok: true, key: 'n', value: 42, ttl: undefined })
    editor.load({ key: 'obj', value: { a: 1 }, deleted: false })
    expect(editor.kind).toBe('json')
    expect(editor.validate()).toEqual({ ok: true, key: 'obj', value: { a: 1 }, ttl: undefined })
    editor.load({ key: 'gone', value: null, deleted: true })
    expect([editor.kind, editor.text]).toEqual(['string', ''])
  })

  it('converts to boolean only text that reads as one', () => {
    const editor = new EditorState()
    editor.key = 'flag'
    editor.text = 'FALSE'
    editor.setKind('boolean')
    expect(editor.text).toBe('FALSE')
    expect(editor.validate()).toEqual({ ok: true, key: 'flag', value: false, ttl: undefined })
    editor.setKind('string')
    editor.text = 'maybe'
    editor.setKind('boolean')
    expect(editor.text).toBe('true')
  })

  it('asks for a key before a delete', () => {
    const editor = new EditorState()
    expect(editor.validateKey()).toBeUndefined()
    expect(editor.keyError).toBe('Enter the key to delete')
    editor.key = 'k'
    expect(editor.validateKey()).toBe('k')
    expect(editor.keyError).toBe('')
  })

  it('makes its errors reactive: an effect reading them reruns when validation sets them', () => {
    const editor = new EditorState()
    const seen: string[] = []
    stop = $effect.root(() => {
      $effect(() => { seen.push(editor.keyError) })
    })
    flushSync()
    editor.validate()
    flushSync()
    editor.key = 'k'
    editor.text = 'v'
    editor.validate()
    flushSync()
    expect(seen).toEqual(['', 'Enter a key', ''])
  })

  it('reset empties every field and the edited key', () => {
    const editor = new EditorState()
    editor.load({ key: 'n', value: 1, deleted: false })
    editor.validateKey()
    editor.reset()
    expect([editor.key, editor.kind, editor.text, editor.ttl, editor.editing, editor.keyError]).toEqual(['', 'string', '', '', '', ''])
  })

  it('after a slow write, resets only if nothing was typed since it was submitted', () => {
    const editor = new EditorState()
    editor.key = 'person'
    editor.kind = 'json'
    editor.text = '{"name":"Ada"}'
    const submitted = editor.snapshot()
    editor.key = 'label' // the next entry, typed while the save was in flight
    editor.kind = 'string'
    editor.text = '42'
    editor.resetIfUnchanged(submitted)
    expect([editor.key, editor.kind, editor.text]).toEqual(['label', 'string', '42'])
    editor.resetIfUnchanged(editor.snapshot())
    expect([editor.key, editor.kind, editor.text]).toEqual(['', 'string', ''])
  })
})
