/**
 * When each step of joining a room happened, so a slow join says which step
 * was slow. Times are `performance.now()`: ms since the page's navigation
 * start in a tab, since process start in Node. Each phase is recorded once
 * (the first time it happens); in a tab each also becomes a
 * `performance.mark('roomkv:<phase>')`, visible in DevTools profiles.
 */

/** The join steps, in the order they normally happen. */
export const JOIN_PHASES = [
  /** The tab's room module was evaluated (JS loaded and running). */
  'scriptLoaded',
  /** joinRoom() was called. */
  'joinStarted',
  /** Room keys derived from the link's secret. */
  'keysDerived',
  /** Relay addresses known (inlined in the page, or fetched). */
  'relayInfo',
  /** The libp2p node is started. */
  'nodeStarted',
  /** A relay connection is open. */
  'relayConnected',
  /** A relay reservation is held: others can reach this peer. */
  'reserved',
  /** A relay told us who else is in the room (maybe nobody). */
  'membersKnown',
  /** A direct (unlimited, e.g. WebRTC) connection to a room member is open. */
  'direct',
  /** The first catch-up sync with a peer finished. */
  'synced'
] as const

export type JoinPhase = typeof JOIN_PHASES[number]

export type JoinPhases = Partial<Record<JoinPhase, number>>

export interface JoinTimeline {
  /** Record `phase` now, unless it was recorded before. */
  mark(phase: JoinPhase): void
  /** Recorded phases, ms since the time origin (see the module comment). */
  phases(): JoinPhases
  /** Resolves once `phase` is recorded (at once if it was). */
  reached(phase: JoinPhase): Promise<void>
}

/** `initial`: phases recorded before the timeline existed (e.g. the script's load time). */
export function createJoinTimeline (initial: JoinPhases = {}): JoinTimeline {
  const recorded: JoinPhases = { ...initial }
  const waiting = new Map<JoinPhase, Array<() => void>>()
  return {
    mark (phase) {
      if (recorded[phase] != null) return
      recorded[phase] = performance.now()
      for (const resolve of waiting.get(phase) ?? []) resolve()
      waiting.delete(phase)
      try {
        // Shows in Chromium's performance panel and in traces; absent in old runtimes.
        performance.mark?.(`roomkv:${phase}`)
      } catch {}
    },
    async reached (phase) {
      if (recorded[phase] != null) return
      await new Promise<void>(resolve => {
        const list = waiting.get(phase)
        if (list == null) waiting.set(phase, [resolve])
        else list.push(resolve)
      })
    },
    phases () {
      const out: JoinPhases = {}
      // In join order, whatever order they were recorded in.
      for (const phase of JOIN_PHASES) if (recorded[phase] != null) out[phase] = Math.round(recorded[phase] * 10) / 10
      return out
    }
  }
}
