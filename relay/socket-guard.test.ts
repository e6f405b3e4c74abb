import { describe, expect, test } from 'vitest'
import { createSocketGuard, type SocketRefusal } from './socket-guard.ts'

describe('socket guard', () => {
  test('caps open sockets per IP and frees a slot when one closes', () => {
    const refused: SocketRefusal[] = []
    const guard = createSocketGuard({ maxSocketsPerIp: 2, onRefused: (reason) => refused.push(reason) })
    expect(guard.admitSocket?.('10.0.0.1')).toBe(true)
    expect(guard.admitSocket?.('10.0.0.1')).toBe(true)
    expect(guard.admitSocket?.('10.0.0.1')).toBe(false)
    expect(guard.admitSocket?.('10.0.0.2')).toBe(true) // another address has its own cap
    expect(refused).toEqual(['sockets_per_ip'])
    guard.socketClosed?.('10.0.0.1')
    expect(guard.admitSocket?.('10.0.0.1')).toBe(true)
    expect(guard.sockets()).toBe(3)
  })

  test('pending connections: a per-IP share first, then the global cap', () => {
    const refused: SocketRefusal[] = []
    const guard = createSocketGuard({ maxPendingPerIp: 2, maxPending: 3, onRefused: (reason) => refused.push(reason) })
    expect(guard.admitUpgrade?.('a')).toBe(true)
    expect(guard.admitUpgrade?.('a')).toBe(true)
    expect(guard.admitUpgrade?.('a')).toBe(false)
    expect(guard.admitUpgrade?.('b')).toBe(true)
    expect(guard.admitUpgrade?.('c')).toBe(false)
    expect(refused).toEqual(['pending_per_ip', 'pending_total'])
    expect(guard.pending()).toBe(3)
    guard.upgradeSettled?.('a')
    expect(guard.admitUpgrade?.('c')).toBe(true)
  })

  test('releasing more than was admitted never goes below zero', () => {
    const guard = createSocketGuard()
    guard.socketClosed?.('x')
    guard.upgradeSettled?.('x')
    expect(guard.sockets()).toBe(0)
    expect(guard.pending()).toBe(0)
  })

  test('drops are reported with their reason', () => {
    const dropped: string[] = []
    const guard = createSocketGuard({ onDropped: (reason) => dropped.push(reason) })
    guard.socketDropped?.('x', 'handshake-timeout')
    guard.socketDropped?.('x', 'websocket-error')
    expect(dropped).toEqual(['handshake_timeout', 'invalid_websocket'])
  })
})
