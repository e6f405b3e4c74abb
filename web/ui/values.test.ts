import { describe, expect, test } from 'vitest'
import { describeExpiry, fullValue, kindOf, MAX_EDIT_CHARS, parseTtl, parseValue, previewValue, toEditText } from './values.ts'

describe('typed values', () => {
  test('a number stays a number, JSON an object, booleans booleans, text text', () => {
    expect(parseValue('number', ' 42 ')).toEqual({ ok: true, value: 42 })
    expect(parseValue('number', '-12.5e2')).toEqual({ ok: true, value: -1250 })
    expect(parseValue('boolean', 'False')).toEqual({ ok: true, value: false })
    expect(parseValue('json', '{"name":"Ada","n":[1,null]}')).toEqual({ ok: true, value: { name: 'Ada', n: [1, null] } })
    expect(parseValue('string', '42')).toEqual({ ok: true, value: '42' })
    expect(parseValue('string', '')).toEqual({ ok: true, value: '' })
  })

  test('input that is not of the chosen type is refused with a reason', () => {
    for (const text of ['', 'abc', '0x10', '1_000', 'Infinity', '1e999', '--1', '1.2.3']) {
      expect(parseValue('number', text).ok, text).toBe(false)
    }
    expect(parseValue('number', '1e999')).toMatchObject({ message: 'Number is too large' })
    expect(parseValue('boolean', 'yes')).toMatchObject({ ok: false, message: 'Choose true or false' })
    expect(parseValue('json', '{"a":')).toMatchObject({ ok: false, message: expect.stringMatching(/^Not valid JSON/) })
    expect(parseValue('string', 'x'.repeat(MAX_EDIT_CHARS + 1)).ok).toBe(false)
  })

  test('the editor text of a stored value parses back to the same value and type', () => {
    for (const value of ['text', '', 0, -3.25, true, false, null, { a: [1, { b: 'c' }] }, [1, 2]]) {
      const kind = kindOf(value)
      expect(parseValue(kind, toEditText(value))).toEqual({ ok: true, value })
    }
  })

  test('previews are one bounded line; the full value is complete', () => {
    const long = 'y'.repeat(30 * 1024)
    expect(previewValue(long)).toHaveLength(161)
    expect(previewValue('a\n b\tc')).toBe('a b c')
    expect(previewValue({ a: 1 })).toBe('{"a":1}')
    expect(fullValue(long)).toBe(long)
    expect(fullValue({ a: 1 })).toBe('{\n  "a": 1\n}')
  })

  test('time to live: empty is none, whole seconds within bounds', () => {
    expect(parseTtl('')).toEqual({ ok: true })
    expect(parseTtl(' 90 ')).toEqual({ ok: true, ms: 90_000 })
    for (const text of ['0', '-1', '1.5', 'soon', String(366 * 24 * 3600)]) expect(parseTtl(text).ok, text).toBe(false)
  })

  test('expiry countdown in words', () => {
    expect(describeExpiry(0, 1000)).toBe('')
    expect(describeExpiry(6_500, 1000)).toBe('expires in 6 s')
    expect(describeExpiry(1000 + 125_000, 1000)).toBe('expires in 2 min 5 s')
    expect(describeExpiry(1000 + 3 * 3600_000, 1000)).toBe('expires in 3 h')
    expect(describeExpiry(500, 1000)).toBe('expiring now')
  })
})
