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
    /**
     * Durations (ms) of each replication.send(peer, ...) call until the
     * peer's answers came back (queue + batch + ack round trip); put() no
     * longer waits for them, `delivered` does. Peer id of each, same order.
     */
    sendMs: [],
    sendPeers: [],
    /** Durations (ms) of the background DHT PUTs (shared/dht-publisher.ts), not part of put(). */
    dhtPutMs: [],
    /** node.services.dht.get calls so far (to tell whether a read used the Kademlia DHT). */
    dhtGetCalls: 0,
    /** key -> epochNow() of the first watch() callback for it (remote changes only). */
    arrivals: {},
    /** prefix -> keys of watchArrivals(prefix) seen, and epochNow() of the last new one. */
    arrivalCounts: {},
    lastArrivalAt: {},
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
    /** Main-thread tasks over 50 ms (PerformanceObserver 'longtask'): [start, duration] ms, first 1,000. */
    longTasks: [],
    epochNow
  }
  globalThis.__bench = bench
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (bench.longTasks.length < 1000) bench.longTasks.push([entry.startTime, entry.duration])
    }).observe({ type: 'longtask', buffered: true })
  } catch {}

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
    // The room's DHT publisher calls dht.put in the background (never inside put()).
    const put = dht.put.bind(dht)
    dht.put = async function * (...args) {
      const t0 = performance.now()
      try {
        yield * put(...args)
      } finally {
        if (bench.dhtPutMs.length < 100_000) bench.dhtPutMs.push(performance.now() - t0)
      }
    }
    const get = dht.get.bind(dht)
    dht.get = (...args) => {
      bench.dhtGetCalls++
      return get(...args)
    }
    // Records travel over replication sessions: time each send until the peer answered.
    const replication = client.node.services.rooms.replication
    const send = replication.send.bind(replication)
    replication.send = async (...args) => {
      const t0 = performance.now()
      try {
        return await send(...args)
      } finally {
        if (bench.sendMs.length < 100_000) {
          bench.sendMs.push(performance.now() - t0)
          bench.sendPeers.push(String(args[0]))
        }
      }
    }
  }

  /**
   * Poll session.list() until it returns `target` entries. list() opens
   * every entry, so it runs only once the watch() count says enough records
   * arrived, or as a fallback every 10 s while no change arrives (so the
   * bench's own list() does not land in the middle of a catch-up).
   */
  const watchList = (list, target) => {
    let lastList = 0
    let lastCount = -1
    let lastChangeAt = performance.now()
    const check = async () => {
      if (bench.changes !== lastCount) {
        lastCount = bench.changes
        lastChangeAt = performance.now()
      }
      if (bench.changes >= target || (performance.now() - lastList > 10_000 && performance.now() - lastChangeAt > 3_000)) {
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
  // Fallback in case a status change happens without an onStatus event. A
  // room status reads the node's own addresses and every member's connection:
  // making one every 10 ms cost the joining tab tens of ms of main thread.
  // Every 10 ms only count the unlimited connections (a direct member needs
  // one); make a status when that count changed, else every 100 ms.
  let unlimitedSeen = -1
  let statusAt = -Infinity
  const pollStatus = setInterval(() => {
    const client = globalThis.__roomkv
    if (client == null) return
    let unlimited = 0
    for (const connection of client.node.getConnections()) if (connection.limits == null) unlimited++
    const now = performance.now()
    if (unlimited === unlimitedSeen && now - statusAt < 100) return
    unlimitedSeen = unlimited
    statusAt = now
    noteStatus(client.session.status())
    if (bench.firstDirectAt !== undefined) clearInterval(pollStatus)
  }, 10)

  /** Record the arrival time of every remote change whose key starts with prefix. */
  bench.watchArrivals = (prefix) => {
    bench.arrivalCounts[prefix] = 0
    globalThis.__roomkv.session.watch((change) => {
      if (change.source !== 'remote' || !change.key.startsWith(prefix)) return
      if (bench.arrivals[change.key] !== undefined) return
      const at = epochNow()
      bench.arrivals[change.key] = at
      bench.arrivalCounts[prefix]++
      bench.lastArrivalAt[prefix] = at
    })
  }

  bench.arrivalCount = (prefix) => bench.arrivalCounts[prefix] ?? 0

  const message = (err) => String(err && err.message ? err.message : err)

  /**
   * Sequential puts, one at a time: the send time is taken just before each
   * put() call, `doneAt` when put() resolved (the local store holds the
   * record), `deliveredAt` when its `delivered` promise resolved (every peer
   * it was sent to answered, or the session's step timeout passed); the
   * next put starts only then, so no put waits behind another.
   */
  bench.putSequential = async (prefix, count, valueBytes, deadlineMs) => {
    const session = globalThis.__roomkv.session
    const started = performance.now()
    const out = []
    for (let i = 0; i < count; i++) {
      if (performance.now() - started > deadlineMs) break
      const key = `${prefix}${String(i).padStart(4, '0')}`
      const value = `${i}:`.padEnd(valueBytes, 'x')
      const sentAt = epochNow()
      const row = { key, sentAt, doneAt: undefined, deliveredAt: undefined, peers: -1, storedOn: [], refused: [], error: undefined }
      try {
        const result = await session.put(key, value)
        row.doneAt = epochNow()
        const delivered = await result.delivered
        row.deliveredAt = epochNow()
        row.peers = delivered.peers
        row.storedOn = delivered.storedOn
        row.refused = delivered.refused
      } catch (err) {
        row.doneAt ??= epochNow()
        row.error = message(err)
      }
      out.push(row)
    }
    return out
  }

  /**
   * `count` puts as fast as the page issues them: put() calls of a chunk
   * run concurrently (Promise.all), chunks one after another; nothing waits
   * for the network. Then waits (at most `deliveredTimeoutMs`) for every
   * put's `delivered`. Times are epochNow().
   */
  bench.putBurst = async (prefix, count, chunk, valueBytes, deliveredTimeoutMs) => {
    const session = globalThis.__roomkv.session
    const delivered = []
    let errors = 0
    let firstError
    const startedAt = epochNow()
    for (let c = 0; c < count; c += chunk) {
      const calls = []
      for (let i = c; i < Math.min(count, c + chunk); i++) {
        calls.push(session.put(`${prefix}${String(i).padStart(5, '0')}`, `${i}:`.padEnd(valueBytes, 'x')).then(
          (result) => { delivered.push(result.delivered) },
          (err) => { errors++; firstError ??= message(err) }))
      }
      await Promise.all(calls)
    }
    const putsDoneAt = epochNow()
    const storedOn = {}
    const refused = {}
    let answered = 0
    let deliveredAt
    const all = Promise.all(delivered.map(p => p.then((d) => {
      answered++
      for (const peer of d.storedOn) storedOn[peer] = (storedOn[peer] ?? 0) + 1
      for (const code of d.refused) refused[code] = (refused[code] ?? 0) + 1
    }, () => {}))).then(() => { deliveredAt = epochNow() })
    await Promise.race([all, new Promise(resolve => setTimeout(resolve, deliveredTimeoutMs))])
    return { startedAt, putsDoneAt, deliveredAt, puts: delivered.length, errors, firstError, answered, storedOn, refused }
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
        error = message(err)
      }
      out.push({ ms: performance.now() - t0, firstRecordMs, value, from, fromSelf: from === self, answeredBy, error })
    }
    return out
  }

  /**
   * RoomSession.get(key, { network: true }) for each key, one at a time.
   * `heldBefore`: a remote change for the key had reached this tab before
   * the call (needs watchArrivals for its prefix); `usedDht`: the call ran a
   * Kademlia GET (node.services.dht.get) rather than only the session query.
   */
  bench.sessionGet = async (keys) => {
    const session = globalThis.__roomkv.session
    const out = []
    for (const key of keys) {
      const heldBefore = bench.arrivals[key] !== undefined
      const dhtCalls = bench.dhtGetCalls
      const t0 = performance.now()
      let value
      let error
      try {
        value = (await session.get(key, { network: true }))?.value
      } catch (err) {
        error = message(err)
      }
      out.push({ key, ms: performance.now() - t0, value, heldBefore, usedDht: bench.dhtGetCalls > dhtCalls, error })
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
