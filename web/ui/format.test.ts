import { describe, expect, it } from 'vitest'
import { formatCount } from './format.ts'

describe('formatCount', () => {
  it('groups thousands like toLocaleString("en")', () => {
    expect(formatCount(0)).toBe('0')
    expect(formatCount(7)).toBe('7')
    expect(formatCount(999)).toBe('999')
    expect(formatCount(1000)).toBe('1,000')
    expect(formatCount(12345)).toBe('12,345')
    expect(formatCount(100000)).toBe('100,000')
    expect(formatCount(1234567)).toBe('1,234,567')
    expect(formatCount(-1234)).toBe('-1,234')
    expect(formatCount(Number.MAX_SAFE_INTEGER)).toBe('9,007,199,254,740,991')
  })

  it('matches toLocaleString("en") on integers of every length and on non-integers', () => {
    for (let digits = 1; digits <= 16; digits++) {
      const n = Number('9'.repeat(digits).slice(0, 15) + (digits > 15 ? '1' : ''))
      for (const x of [n, -n, Math.floor(n / 7), 10 ** (digits - 1)]) expect(formatCount(x)).toBe(x.toLocaleString('en'))
    }
    for (const x of [1234.5678, NaN, Infinity]) expect(formatCount(x)).toBe(x.toLocaleString('en'))
  })
})
