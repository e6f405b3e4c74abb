import { describe, expect, it } from 'vitest'
import { createJoinTimeline } from './join-phases.ts'

describe('join timeline', () => {
  it('records each phase once, in join order, and says when one is reached', async () => {
    const timeline = createJoinTimeline({ scriptLoaded: 1 })
    let reached = false
    const waiting = timeline.reached('membersKnown').then(() => { reached = true })
    await timeline.reached('scriptLoaded') // recorded before: at once
    timeline.mark('relayConnected')
    await Promise.resolve()
    expect(reached).toBe(false)
    timeline.mark('membersKnown')
    await waiting
    const first = timeline.phases().membersKnown
    timeline.mark('membersKnown')
    expect(timeline.phases().membersKnown).toBe(first)
    expect(Object.keys(timeline.phases())).toEqual(['scriptLoaded', 'relayConnected', 'membersKnown'])
  })
})
