import { flushSync } from 'svelte'
import { describe, expect, it } from 'vitest'
import { formatRoomCode, formatRoomLink, parseRoomLink } from '../../shared/link.ts'
import { RecentRoomsStore, type TextStorage } from './recent-rooms.ts'
import { StartState } from './start-state.svelte.ts'

const ORIGIN = 'http://relay.test:8080'
const secret = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const link = (n: number, origin = ORIGIN): string => formatRoomLink(origin, secret(n))

/** localStorage stand-in; `broken` makes every write throw as a full or blocked storage does. */
function memory (broken = false): TextStorage & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      if (broken) throw new Error('QuotaExceededError')
      data.set(k, v)
    }
  }
}

function setup (storage = memory()): { start: StartState, opened: string[], storage: ReturnType<typeof memory> } {
  const opened: string[] = []
  const start = new StartState({ store: new RecentRoomsStore({ storage }), navigate: l => { opened.push(l) }, origin: ORIGIN })
  return { start, opened, storage }
}

describe('StartState', () => {
  it('creates a room with a fresh secret on this origin, opens it and lists it with its name', () => {
    const { start, opened } = setup()
    const first = start.create('Shopping')
    const second = start.create('')
    expect(parseRoomLink(first).origin).toBe(ORIGIN)
    expect(parseRoomLink(first).secret).not.toEqual(parseRoomLink(second).secret)
    expect(opened).toEqual([first, second])
    expect(start.recent.map(r => [r.link, r.name])).toEqual([[second, ''], [first, 'Shopping']])
  })

  it('reads the rooms already stored on this device', () => {
    const storage = memory()
    new RecentRoomsStore({ storage }).touch(link(1), 'Old')
    const { start } = setup(storage)
    expect(start.recent.map(r => r.name)).toEqual(['Old'])
  })

  it('joins a full link through its own relay, a fragment or bare code through this one', () => {
    const { start, opened } = setup()
    const other = link(1, 'https://elsewhere.test')
    expect(start.join(`  ${other}  `)).toBe(true)
    expect(start.join(`#${formatRoomCode(secret(2))}`)).toBe(true)
    expect(start.join(formatRoomCode(secret(3)))).toBe(true)
    expect(opened).toEqual([other, `${ORIGIN}/#${formatRoomCode(secret(2))}`, `${ORIGIN}/#${formatRoomCode(secret(3))}`])
    expect(start.recent).toHaveLength(3)
    expect(start.joinError).toBe('')
  })

  it('explains a malformed link and opens nothing', () => {
    const { start, opened, storage } = setup()
    const code = formatRoomCode(secret(1))
    for (const bad of ['', 'hello', `${ORIGIN}/`, `ftp://x/#${code}`, `#${code.slice(0, -3)}`]) {
      expect(start.join(bad), bad).toBe(false)
      expect(start.joinError, bad).toMatch(/^This room link is not valid: /)
    }
    expect(opened).toEqual([])
    expect(start.recent).toEqual([])
    expect(storage.data.size).toBe(0)
    start.clearJoinError()
    expect(start.joinError).toBe('')
  })

  it('clears the previous join error when a good link follows', () => {
    const { start } = setup()
    start.join('nope')
    expect(start.joinError).not.toBe('')
    start.join(link(1))
    expect(start.joinError).toBe('')
  })

  it('reopens, renames and forgets recent rooms, one entry per room', () => {
    const { start, opened } = setup()
    start.create('A')
    const b = start.create('B')
    start.open(start.recent[1])
    expect(start.recent.map(r => r.name)).toEqual(['A', 'B'])
    expect(start.rename(b, '  Groceries\u0007 ')).toBe('Groceries')
    expect(start.recent[0]).toMatchObject({ link: b, name: 'Groceries' })
    expect(start.opened(b)).toBe('Groceries')
    start.forget(start.recent[0])
    expect(start.recent.map(r => r.name)).toEqual(['A'])
    expect(opened).toHaveLength(3)
  })

  it('opened() of a malformed link keeps the list and names nothing', () => {
    const { start } = setup()
    start.create('A')
    expect(start.opened('not a link')).toBe('')
    expect(start.recent.map(r => r.name)).toEqual(['A'])
  })

  it('still opens rooms when storage refuses writes', () => {
    const { start, opened } = setup(memory(true))
    const created = start.create('X')
    expect(opened).toEqual([created])
    expect(start.join(link(2))).toBe(true)
    expect(opened).toHaveLength(2)
  })

  it('makes the recent list and join error reactive', () => {
    const { start } = setup()
    const seen: Array<[number, string]> = []
    const stop = $effect.root(() => {
      $effect(() => { seen.push([start.recent.length, start.joinError]) })
    })
    try {
      flushSync()
      start.join('nope')
      flushSync()
      start.join(link(1))
      flushSync()
      expect(seen.map(([n]) => n)).toEqual([0, 0, 1])
      expect(seen[1][1]).toMatch(/not valid/)
      expect(seen[2][1]).toBe('')
    } finally {
      stop()
    }
  })
})
