import { describe, expect, test } from 'vitest'
import { dialTurn } from './room.ts'

const low = '12D3KooWAAAA'
const high = '12D3KooWBBBB'

describe('dialTurn: one dialler per pair, on every path', () => {
  test('the peer whose id sorts first dials at once', () => {
    expect(dialTurn({ self: low, peer: high, waited: 0, inbound: false, grace: 3000 })).toEqual({ dial: true })
    expect(dialTurn({ self: low, peer: high, waited: 0, inbound: true, grace: 3000 })).toEqual({ dial: true })
  })

  test('the other waits for the head start, then dials if nothing connected', () => {
    expect(dialTurn({ self: high, peer: low, waited: 0, inbound: false, grace: 3000 })).toEqual({ dial: false, retryIn: 3000 })
    expect(dialTurn({ self: high, peer: low, waited: 1000, inbound: false, grace: 3000 })).toEqual({ dial: false, retryIn: 2000 })
    expect(dialTurn({ self: high, peer: low, waited: 3000, inbound: false, grace: 3000 })).toEqual({ dial: true })
  })

  test('an inbound connection from the peer (its handshake under way) doubles the wait', () => {
    expect(dialTurn({ self: high, peer: low, waited: 3000, inbound: true, grace: 3000 })).toEqual({ dial: false, retryIn: 3000 })
    expect(dialTurn({ self: high, peer: low, waited: 6000, inbound: true, grace: 3000 })).toEqual({ dial: true })
  })

  test('both sides of a pair agree: exactly one dials at once', () => {
    const ids = ['12D3KooWQx', '12D3KooWQy', '12D3KooWA1', '12D3KooWz9']
    for (const a of ids) {
      for (const b of ids) {
        if (a === b) continue
        const dials = [dialTurn({ self: a, peer: b, waited: 0, inbound: false, grace: 3000 }), dialTurn({ self: b, peer: a, waited: 0, inbound: false, grace: 3000 })]
        expect(dials.filter(d => d.dial)).toHaveLength(1)
      }
    }
  })
})
