// Benchmark probe, injected into every bench page before the app's own
// scripts (playwright addInitScript). Plain browser JavaScript on purpose:
// bench/run.ts only calls `globalThis.__bench.*` through page.evaluate, so
// no TypeScript/esbuild helpers ever end up inside the page.
//
// Clocks: `performance.now()` is ms since this document's navigation start
// (`performance.timeOrigin`). `epochNow()` = timeOrigin + now() is a
// sub-millisecond wall clock that is comparable across tabs of one browser
// on one machine (bench/run.ts estimates and reports the residual skew).
(() => {
  const epochNow = () => performance.timeOrigin + performance.now()
  const bench = {
    /** performance.now() when `globalThis.__roomkv` (the joined RoomClient) appeared. */
    joinedAt: undefined,
    /** performance.now() when the relay first showed as connected in the room status. */
    relayAt: undefined,
    /** performance.now() when this tab first had a direct (WebRTC) room member. */
    firstDirectAt: undefined,
    /** performance.now() when a membership announcement (DHT provide) first reached a peer. */
    announcedAt: undefined,
    /** performance.now() at the start of each room-member lookup (DHT findProviders), first few. */
    lookupsAt: [],
    /** Durations (ms) of the network steps inside put(): rooms.push per peer, dht.put per call. */
    pushMs: [],
    /** Peer id of each rooms.push in pushMs, same order. */
    pushPeers: [],
    dhtPutMs: [],
    /** key -> epochNow() of the first watch() callback for it (remote changes only). */
    arrivals: {},
    /** watch() callbacks seen so far (any key, any source). */
    changes: 0,
    /**
     * Only when `globalThis.__benchListTarget` is set before the page loads:
     * performance.now() when session.list() first returned at least that
     * many entries, and when the watch() count first reached it.
     */
    listFullAt: undefined,
    changesFullAt: undefined,
    listCalls: 0,
    listEntries: 0,
    /** session.list() calls made by the app itself (the UI re-lists on changes) and their summed duration (calls may overlap). */
    appListCalls: 0,
    appListMs: 0,
    epochNow
  }
  globalThis.__bench = bench

  const noteStatus = (status) => {
    if (bench.relayAt === undefined && status.relaysConnected >= 1) bench.relayAt = performance.now()
    if (bench.firstDirectAt === undefined && status.direct >= 1) bench.firstDirectAt = performance.now()
  }

  const hook = (client) => {
    bench.joinedAt = performance.now()
    client.session.onStatus(noteStatus)
    noteStatus(client.session.status())
    client.session.watch(() => {
      bench.changes++
      if (bench.changesFullAt === undefined && typeof globalThis.__benchListTarget === 'number' && bench.changes >= globalThis.__benchListTarget) bench.changesFullAt = performance.now()
    })
    // Timing wrapper only: the app's own list() calls are counted and timed;
    // the bench's polling below calls the unwrapped method.
    const list = client.session.list.bind(client.session)
    client.session.list = async (...args) => {
      const t0 = performance.now()
      try {
        return await list(...args)
      } finally {
        bench.appListCalls++
        bench.appListMs += performance.now() - t0
      }
    }
    if (typeof globalThis.__benchListTarget === 'number') watchList(list, globalThis.__benchListTarget)
    // Observe (not change) membership announcements: the room session calls
    // node.services.dht.provide(roomMembersCid) ~300 ms after it starts.
    const dht = client.node.services.dht
    const provide = dht.provide.bind(dht)
    dht.provide = async function * (...args) {
      let acked = 0
      for await (const event of provide(...args)) {
        if (event.name === 'PEER_RESPONSE') acked++
        yield event
      }
      if (acked > 0 && bench.announcedAt === undefined) bench.announcedAt = performance.now()
    }
    // Timing wrappers only: arguments and results pass through unchanged.
    const findProviders = dht.findProviders.bind(dht)
    dht.findProviders = (...args) => {
      if (bench.lookupsAt.length < 5) bench.lookupsAt.push(performance.now())
      return findProviders(...args)
    }
    const put = dht.put.bind(dht)
    dht.put = async function * (...args) {
      const t0 = performance.now()
      try {
        yield * put(...args)
      } finally {
        bench.dhtPutMs.push(performance.now() - t0)
      }
    }
    const rooms = client.node.services.rooms
    const push = rooms.push.bind(rooms)
    rooms.push = async (...args) => {
      const t0 = performance.now()
      try {
        return await push(...args)
      } finally {
        bench.pushMs.push(performance.now() - t0)
        bench.pushPeers.push(String(args[0]))
      }
    }
  }

  /**
   * Poll session.list() until it returns `target` entries. list() opens
   * every entry, so it runs only once the watch() count says enough records
   * arrived, or every 10 s as a fallback.
   */
  const watchList = (list, target) => {
    let lastList = 0
    const check = async () => {
      if (bench.changes >= target || performance.now() - lastList > 10_000) {
        lastList = performance.now()
        bench.listCalls++
        try {
          bench.listEntries = (await list()).length
        } catch {}
        if (bench.listEntries >= target) {
          bench.listFullAt = performance.now()
          return
        }
      }
      setTimeout(check, 20)
    }
    void check()
  }

  // The app sets globalThis.__roomkv right after joining; catch it within ~2 ms.
  const waitClient = setInterval(() => {
    const client = globalThis.__roomkv
    if (client == null) return
    clearInterval(waitClient)
    hook(client)
  }, 2)
  // Fallback in case a status change happens without an onStatus event.
  const pollStatus = setInterval(() => {
    const client = globalThis.__roomkv
    if (client == null) return
    noteStatus(client.session.status())
    if (bench.firstDirectAt !== undefined) clearInterval(pollStatus)
  }, 10)

  /** Record the arrival time of every remote change whose key starts with prefix. */
  bench.watchArrivals = (prefix) => {
    globalThis.__roomkv.session.watch((change) => {
      if (change.source !== 'remote' || !change.key.startsWith(prefix)) return
      if (bench.arrivals[change.key] === undefined) bench.arrivals[change.key] = epochNow()
    })
  }

  bench.arrivalCount = (prefix) => Object.keys(bench.arrivals).filter(k => k.startsWith(prefix)).length

  /** Sequential puts; the send time is taken just before each put() call. */
  bench.putSequential = async (prefix, count, valueBytes, deadlineMs) => {
    const session = globalThis.__roomkv.session
    const started = performance.now()
    const out = []
    for (let i = 0; i < count; i++) {
      if (performance.now() - started > deadlineMs) break
      const key = `${prefix}${String(i).padStart(4, '0')}`
      const value = `${i}:`.padEnd(valueBytes, 'x')
      const sentAt = epochNow()
      let peers = -1
      let storedOn = []
      let error
      try {
        const result = await session.put(key, value)
        peers = result.peers
        storedOn = result.storedOn
      } catch (err) {
        error = String(err && err.message ? err.message : err)
      }
      out.push({ key, sentAt, doneAt: epochNow(), peers, storedOn, error })
    }
    return out
  }

  /**
   * Raw kad-dht GET (node.services.dht.get) for each DHT key, one at a time.
   * Returns per key: total time until dht.get yielded its VALUE (the whole
   * query incl. kad-dht's correction step), time to the first peer response
   * carrying a record, who answered, and whether the value came from our
   * own datastore (it must not: the tab is not supposed to hold the record).
   */
  bench.dhtGet = async (dhtKeys, timeoutMs) => {
    const node = globalThis.__roomkv.node
    const self = node.peerId.toString()
    const out = []
    for (const keyBytes of dhtKeys) {
      const key = new Uint8Array(keyBytes)
      const t0 = performance.now()
      let firstRecordMs
      let value
      let from
      const answeredBy = []
      let error
      try {
        for await (const event of node.services.dht.get(key, { signal: AbortSignal.timeout(timeoutMs) })) {
          if (event.name === 'PEER_RESPONSE' && event.record != null) {
            if (firstRecordMs === undefined) firstRecordMs = performance.now() - t0
            answeredBy.push(event.from.toString())
          }
          if (event.name === 'VALUE') {
            value = Array.from(event.value)
            from = event.from.toString()
          }
        }
      } catch (err) {
        error = String(err && err.message ? err.message : err)
      }
      out.push({ ms: performance.now() - t0, firstRecordMs, value, from, fromSelf: from === self, answeredBy, error })
    }
    return out
  }

  /** RoomSession.get(key, { network: true }) for each key, one at a time. */
  bench.sessionGet = async (keys) => {
    const session = globalThis.__roomkv.session
    const out = []
    for (const key of keys) {
      const t0 = performance.now()
      let value
      let error
      try {
        value = (await session.get(key, { network: true }))?.value
      } catch (err) {
        error = String(err && err.message ? err.message : err)
      }
      out.push({ key, ms: performance.now() - t0, value, error })
    }
    return out
  }

  /**
   * Offset of the sub-ms epoch clock against Date.now(), sampled in a busy
   * loop: mean of (epochNow() - Date.now()) = true offset + ~0.5 ms. The
   * difference of this value between two tabs estimates their clock skew.
   */
  bench.clockOffset = (samples) => {
    let sum = 0
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now()
      while (performance.now() - t0 < 0.05) { /* spread samples over Date.now() ticks */ }
      sum += epochNow() - Date.now()
    }
    return sum / samples
  }
})()
