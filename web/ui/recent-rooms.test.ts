import { describe, expect, test } from 'vitest'
import { formatRoomLink } from '../../shared/link.ts'
import { RecentRoomsStore, type TextStorage } from './recent-rooms.ts'

const memory = (): TextStorage & { data: Map<string, string> } => {
  const data = new Map<string, string>()
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => { data.set(k, v) } }
}
const link = (n: number, origin = 'http://127.0.0.1:8080'): string => formatRoomLink(origin, new Uint8Array(32).fill(n))

describe('recent rooms', () => {
  test('newest first, one entry per room, names kept until replaced', () => {
    const store = new RecentRoomsStore({ storage: memory() })
    store.touch(link(1), 'Shopping', 1)
    store.touch(link(2), '', 2)
    const rooms = store.touch(link(1), '', 3)
    expect(rooms.map(r => [r.link, r.name, r.openedAt])).toEqual([[link(1), 'Shopping', 3], [link(2), '', 2]])
    expect(store.touch(link(1), 'Groceries', 4)[0].name).toBe('Groceries')
    expect(store.forget(link(1)).map(r => r.link)).toEqual([link(2)])
  })

  test('bounded, and hostile stored data is dropped rather than trusted', () => {
    const storage = memory()
    const store = new RecentRoomsStore({ storage, limit: 3 })
    for (let i = 1; i <= 5; i++) store.touch(link(i), `room ${i}`, i)
    expect(store.list().map(r => r.name)).toEqual(['room 5', 'room 4', 'room 3'])
    storage.data.set('roomkv:recent-rooms', JSON.stringify([
      { link: 'javascript:alert(1)#v1.x' }, { link: link(7), name: 'a\u0000b'.padEnd(500, 'c'), openedAt: 'soon' }, 42, null, { link: link(7) }
    ]))
    const rooms = store.list()
    expect(rooms).toHaveLength(1)
    expect(rooms[0].name).toHaveLength(80)
    expect(rooms[0].name.startsWith('a b')).toBe(true)
    expect(rooms[0].openedAt).toBe(0)
    storage.data.set('roomkv:recent-rooms', '{not json')
    expect(store.list()).toEqual([])
  })

  test('a throwing storage (private mode, full) does not break opening a room', () => {
    const store = new RecentRoomsStore({ storage: { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError') } } })
    expect(store.touch(link(1), 'x')).toHaveLength(1)
  })
})
