import { describe, expect, test } from 'vitest'
import type { ClientStatus } from '../node/room-client.ts'
import { statusLine } from './status-line.ts'

function status (relay: Partial<ClientStatus['relay']>, room: Partial<ClientStatus['room']> = {}): ClientStatus {
  return {
    peerId: '12D3KooWtest',
    relay: { phase: 'reserved', attempts: 1, detail: '', ...relay },
    room: { roomId: 'r', relaysConnected: 1, members: [], direct: 0, relayed: 0, alone: '', outbox: 0, dhtPending: 0, ...room }
  }
}

describe('status line', () => {
  test('plain words for each state', () => {
    expect(statusLine(undefined, true).text).toBe('Connecting…')
    expect(statusLine(status({ phase: 'connecting', attempts: 1 }), false).text).toBe('Connecting…')
    expect(statusLine(status({ phase: 'reserved' }), false).text).toBe('Online, only you here')
    expect(statusLine(status({ phase: 'reserved' }, { direct: 1, relayed: 1 }), false).text).toBe('Online, 3 people here')
    expect(statusLine(status({ phase: 'reserved' }, { direct: 1, outbox: 2 }), false).text).toBe('Online, 2 people here, sending 2 changes')
    expect(statusLine(status({ phase: 'unreachable', attempts: 3 }, { outbox: 1 }), false)).toMatchObject({ connection: 'offline', text: 'Offline, 1 change waiting' })
    expect(statusLine(status({ phase: 'stopped' }), false).text).toBe('Offline, changes are kept on this device')
  })

  test('a catch-up says how far it got, and nothing once done', () => {
    const syncing = (received: number, total: number): Partial<ClientStatus['room']> => ({ direct: 1, syncing: { peer: 'p', received, total } })
    expect(statusLine(status({ phase: 'reserved' }, syncing(12_000, 100_000)), false).text).toBe('Online, 2 people here, loading 12,000 of 100,000 keys')
    expect(statusLine(status({ phase: 'reserved' }, { ...syncing(0, 1), outbox: 1 }), false).text).toBe('Online, 2 people here, loading 0 of 1 key, sending 1 change')
    expect(statusLine(status({ phase: 'reserved' }, syncing(100, 100)), false).text).toBe('Online, 2 people here')
    expect(statusLine(status({ phase: 'reserved' }, syncing(0, 0)), false).text).toBe('Online, 2 people here')
  })

  test('writes kept on this device count as waiting while offline', () => {
    expect(statusLine(status({ phase: 'unreachable', attempts: 2 }), false, 3).text).toBe('Offline, 3 changes waiting')
    expect(statusLine(status({ phase: 'reserved' }), false, 3).text).toBe('Online, only you here')
  })

  test('a retry after a failure stays "Offline" (no flicker with every backoff round)', () => {
    expect(statusLine(status({ phase: 'connecting', attempts: 4 }), false).connection).toBe('offline')
  })

  test('a member reached directly is "Online" even without the relay', () => {
    expect(statusLine(status({ phase: 'unreachable', attempts: 5 }, { direct: 1 }), false)).toMatchObject({ connection: 'online', others: 1 })
  })
})
