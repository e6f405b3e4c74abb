import { describe, expect, test } from 'vitest'
import { decodeSegment, encodedSize, encodeSegment, encodeSegmentInSlices, SegmentFormatError } from './idb-segments.ts'

const show = (values: Array<Uint8Array | undefined>): Array<number[] | null> => values.map(v => v == null ? null : [...v])

describe('segment encoding', () => {
  test('keys, values and deletions round-trip in order, a key repeated included', () => {
    const entries = [
      { keyId: 'b', value: new Uint8Array([1, 2, 3]) },
      { keyId: 'a' },
      { keyId: 'é€😀', value: new Uint8Array([]) },
      { keyId: '', value: new Uint8Array([9]) },
      { keyId: 'b', value: new Uint8Array([4]) }
    ]
    const segment = decodeSegment(encodeSegment(entries))
    expect(segment.base).toBe(false)
    expect(segment.keyIds).toEqual(['b', 'a', 'é€😀', '', 'b'])
    expect(show(segment.values)).toEqual([[1, 2, 3], null, [], [9], [4]])
  })

  test('encoded in slices: the same bytes as at once, for any slice size, and it pauses between slices', async () => {
    const entries = Array.from({ length: 23 }, (_, i) => ({
      keyId: i % 5 === 0 ? `é€😀${i}` : `key-${i}`,
      value: i % 7 === 3 ? undefined : Uint8Array.from({ length: i * 3 }, (_, j) => (i + j) & 255)
    }))
    for (const base of [false, true]) {
      const whole = encodeSegment(entries, { base })
      for (const slice of [1, 2, 5, 23, 100]) {
        let pauses = 0
        const sliced = await encodeSegmentInSlices(entries.map(e => e.keyId), entries.map(e => e.value), { base }, async () => { pauses++ }, slice)
        expect(sliced).toEqual(whole)
        expect(pauses).toBe(2 * Math.ceil(entries.length / slice) - 1)
      }
    }
    expect(await encodeSegmentInSlices([], [], {}, async () => {})).toEqual(encodeSegment([]))
  })

  test('an empty segment, and the base flag', () => {
    expect(decodeSegment(encodeSegment([]))).toEqual({ base: false, keyIds: [], values: [] })
    expect(decodeSegment(encodeSegment([{ keyId: 'k', value: new Uint8Array([5]) }], { base: true })).base).toBe(true)
  })

  test('decodes at any byte offset (a part of a packed buffer), values are views', () => {
    const bytes = encodeSegment([{ keyId: 'k1', value: new Uint8Array([7, 8]) }, { keyId: 'k2', value: new Uint8Array(300).fill(3) }])
    const shifted = new Uint8Array(bytes.length + 3)
    shifted.set(bytes, 3)
    const segment = decodeSegment(shifted.subarray(3))
    expect(segment.keyIds).toEqual(['k1', 'k2'])
    expect([...segment.values[0]!]).toEqual([7, 8])
    expect(segment.values[1]!.buffer).toBe(shifted.buffer)
    expect(segment.values[1]!.every(b => b === 3)).toBe(true)
  })

  test('a value taken from a larger buffer is stored alone', () => {
    const frame = new Uint8Array(1000).fill(1)
    const bytes = encodeSegment([{ keyId: 'k', value: frame.subarray(10, 20) }])
    expect(bytes.byteLength).toBeLessThan(12 + 8 + 1 + 10 + 1)
    expect(encodedSize('k', frame.subarray(10, 20))).toBe(19)
  })

  test('truncated or foreign bytes are refused with a typed error', () => {
    const bytes = encodeSegment([{ keyId: 'key', value: new Uint8Array(50) }])
    expect(() => decodeSegment(bytes.subarray(0, 5))).toThrow(SegmentFormatError)
    expect(() => decodeSegment(bytes.subarray(0, bytes.length - 1))).toThrow(/past its end/)
    const foreign = bytes.slice()
    foreign[0] = 9
    expect(() => decodeSegment(foreign)).toThrow(/version/)
  })
})
