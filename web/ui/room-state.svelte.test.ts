import { flushSync } from 'svelte'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { KeyEntry } from '../../shared/room.ts'
import { entry, FakeClient, LINK, status } from './fake-room-client.ts'
import { publishInterval, RoomState, type RoomStateClient } from './room-state.svelte.ts'

async function joined (client = new FakeClient(), highlightMs = 1000): Promise<{ room: RoomState, client: FakeClient }> {
  const room = new RoomState({ join: async () => client, highlightMs })
  await room.join({ link: LINK })
  return { room, client }
}

/** Let every pending promise callback run (the fake's deliveries settle in microtasks). */
const settle = async (): Promise<void> => { await vi.advanceTimersByTimeAsync(0) }

describe('publishInterval', () => {
  it('publishes every frame in a small room and less often as it grows, at least every 2 s', () => {
    expect(publishInterval(0)).toBe(0)
    expect(publishInterval(1999)).toBe(0)
    const sizes = [2000, 10_000, 30_000, 100_000, 1_000_000]
    const waits = sizes.map(publishInterval)
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1])
    expect(waits[0]).toBeGreaterThan(0)
    expect(publishInterval(1_000_000)).toBe(2000)
  })
})

describe('RoomState', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 1_000_000 }) })
  afterEach(() => { vi.useRealTimers() })

  it('joins with the given client and shows the listed rows', async () => {
    const client = new FakeClient()
    client.rows = [entry('a', 1), entry('b', 'two')]
    const { room } = await joined(client)
    expect(room.phase).toBe('ready')
    expect(room.entries.map(e => [e.key, e.value])).toEqual([['a', 1], ['b', 'two']])
    expect(room.line.connection).toBe('online')
    expect(client.watchers.size).toBe(1)
    await room.close()
    expect(client.closed).toBe(1)
    expect(client.watchers.size).toBe(0)
    expect(client.statusWatchers.size).toBe(0)
  })

  it('reports a failed join with its message', async () => {
    const room = new RoomState({ join: async () => { throw Object.assign(new Error('no answer'), { code: 'ERR_RELAY_UNREACHABLE' }) } })
    await room.join({ link: LINK })
    expect(room.phase).toBe('failed')
    expect(room.error).toBe('The relay cannot be reached: no answer')
  })

  it('patches rows from watch() changes at the next frame, without listing again', async () => {
    const client = new FakeClient()
    client.rows = [entry('a', 1), entry('b', 2), entry('c', 3)]
    const { room } = await joined(client)
    const list = vi.spyOn(client.session, 'list')
    client.emit({ ...entry('b', 20), source: 'remote' })
    client.emit({ ...entry('aa', 'new'), source: 'local' })
    client.emit({ ...entry('c', undefined, { deleted: true }), source: 'remote' })
    expect(room.entries.map(e => e.key)).toEqual(['a', 'b', 'c']) // not before the frame
    await vi.advanceTimersByTimeAsync(16)
    expect(room.entries.map(e => [e.key, e.value])).toEqual([['a', 1], ['aa', 'new'], ['b', 20]])
    expect(room.entry('b')?.value).toBe(20)
    expect(room.entry('c')).toBeUndefined()
    expect(list).not.toHaveBeenCalled()
    await room.close()
  })

  it('keeps a deleted row while a conflicting value remains', async () => {
    const { room, client } = await joined()
    client.emit({ ...entry('k', undefined, { deleted: true, conflicts: [entry('k', 'theirs')] }), source: 'remote' })
    await vi.advanceTimersByTimeAsync(16)
    expect(room.entry('k')?.conflicts.map(c => c.value)).toEqual(['theirs'])
    await room.close()
  })

  it('highlights keys someone else changed, for highlightMs', async () => {
    const { room, client } = await joined(new FakeClient(), 1000)
    client.emit({ ...entry('theirs', 1), source: 'remote' })
    client.emit({ ...entry('mine', 1), source: 'local' })
    await vi.advanceTimersByTimeAsync(16)
    expect([...room.fresh]).toEqual(['theirs'])
    await vi.advanceTimersByTimeAsync(1000)
    expect(room.fresh.size).toBe(0)
    await room.close()
  })

  it('drops a row when its version expires', async () => {
    const client = new FakeClient()
    client.rows = [entry('long', 'y'), entry('short', 'x', { expiresAt: Date.now() + 5000 })]
    const { room } = await joined(client)
    await vi.advanceTimersByTimeAsync(4999)
    expect(room.entries.map(e => e.key)).toEqual(['long', 'short'])
    await vi.advanceTimersByTimeAsync(2)
    expect(room.entries.map(e => e.key)).toEqual(['long'])
    await room.close()
  })

  it('applies changes heard while the list is read on top of it', async () => {
    const client = new FakeClient()
    const listed = Promise.withResolvers<KeyEntry[]>()
    client.session.list = async () => await listed.promise
    const room = new RoomState({ join: async () => client })
    const joining = room.join({ link: LINK })
    await settle()
    client.emit({ ...entry('a', 'newer'), source: 'remote' })
    listed.resolve([entry('a', 'older'), entry('b', 1)])
    await joining
    expect(room.entries.map(e => [e.key, e.value])).toEqual([['a', 'newer'], ['b', 1]])
    await room.close()
  })

  describe('delivery notices', () => {
    it('says "on this device" at once, then how many peers stored it', async () => {
      const { room, client } = await joined()
      expect(await room.save('k', 1)).toBe(true)
      expect(room.notice).toMatchObject({ key: 'k', tone: 'busy', text: 'Saved "k" on this device; sending…' })
      client.deliveries[0].resolve({ peers: 2, storedOn: ['p1', 'p2'], refused: [] })
      await settle()
      expect(room.notice).toMatchObject({ tone: 'done', text: 'Saved "k": stored on 2 peers' })
      expect(room.busy).toBe(false)
      await room.close()
    })

    it('says a write no peer took is kept here, and counts it while offline', async () => {
      const { room, client } = await joined()
      client.setStatus(status('disconnected'))
      await room.save('k', 1)
      client.deliveries[0].resolve({ peers: 0, storedOn: [], refused: [] })
      await settle()
      expect(room.notice?.tone).toBe('local')
      expect(room.line.text).toBe('Offline, 1 change waiting')
      client.setStatus(status('reserved'))
      expect(room.line.waiting).toBe(0)
      await room.close()
    })

    it('warns when peers refused it or the delivery failed', async () => {
      const { room, client } = await joined()
      await room.save('k', 1)
      client.deliveries[0].resolve({ peers: 0, storedOn: [], refused: ['too large'] })
      await settle()
      expect(room.notice).toMatchObject({ tone: 'warn', text: 'Saved "k": kept on this device only, peers refused it (too large)' })
      await room.save('k', 2)
      client.deliveries[1].reject(new Error('stream reset'))
      await settle()
      expect(room.notice).toMatchObject({ tone: 'warn', text: expect.stringContaining('(stream reset)') })
      await room.close()
    })

    it('lets a slow report not overwrite a newer action\'s notice', async () => {
      const { room, client } = await joined()
      await room.save('first', 1)
      await room.save('second', 2)
      client.deliveries[0].resolve({ peers: 3, storedOn: [], refused: [] })
      await settle()
      expect(room.notice).toMatchObject({ key: 'second', tone: 'busy' })
      await room.close()
    })

    it('shows a refused write as an error, with no notice', async () => {
      const client = new FakeClient()
      client.failPut = Object.assign(new Error('8 KiB at most'), { code: 'ERR_RECORD_TOO_LARGE' })
      const { room } = await joined(client)
      expect(await room.save('k', 'x')).toBe(false)
      expect(room.error).toBe('Too large to store: 8 KiB at most')
      expect(room.notice).toBeUndefined()
      expect(room.busy).toBe(false)
      await room.close()
    })
  })

  describe('keep() of a conflict version', () => {
    it('writes exactly that version: its value with its type, no time to live', async () => {
      const { room, client } = await joined()
      const version = entry('k', 7)
      expect(await room.keep('k', version)).toBe(true)
      expect(await room.keep('k', entry('k', { a: [1] }))).toBe(true)
      expect(client.writes).toEqual([{ op: 'put', args: ['k', 7] }, { op: 'put', args: ['k', { a: [1] }] }])
      expect(typeof client.writes[0].args[1]).toBe('number')
      await room.close()
    })

    it('deletes the key when the chosen version is a deletion', async () => {
      const { room, client } = await joined()
      expect(await room.keep('k', entry('k', undefined, { deleted: true }))).toBe(true)
      expect(client.writes).toEqual([{ op: 'delete', args: ['k'] }])
      expect(room.notice?.text).toBe('Deleted "k" on this device; sending…')
      await room.close()
    })
  })

  describe('remove() and undo()', () => {
    it('refuses to delete a key that is not set', async () => {
      const { room, client } = await joined()
      expect(await room.remove('nothing')).toBe(false)
      expect(room.error).toBe('"nothing" is not set: nothing to delete')
      expect(client.writes).toEqual([])
      await room.close()
    })

    it('undoes a delete by writing the value back with what is left of its time to live', async () => {
      const client = new FakeClient()
      client.rows = [entry('k', 5, { expiresAt: Date.now() + 60_000 })]
      const { room } = await joined(client)
      await room.remove('k')
      vi.advanceTimersByTime(10_000)
      expect(await room.undo()).toBe(true)
      expect(client.writes).toEqual([{ op: 'delete', args: ['k'] }, { op: 'put', args: ['k', 5, { ttl: 50_000 }] }])
      await room.close()
    })

    it('undoes the creation of a key by deleting it', async () => {
      const { room, client } = await joined()
      await room.save('new', 'v')
      expect(await room.undo()).toBe(true)
      expect(client.writes.map(w => w.op)).toEqual(['put', 'delete'])
      await room.close()
    })
  })

  describe('joining and closing', () => {
    it('closes the client a join was opening when the room closed meanwhile', async () => {
      const client = new FakeClient()
      const opening = Promise.withResolvers<RoomStateClient>()
      const room = new RoomState({ join: async () => await opening.promise })
      const joining = room.join({ link: LINK })
      await room.close()
      opening.resolve(client)
      await joining
      expect(client.closed).toBe(1)
      expect(client.watchers.size).toBe(0)
      expect(room.phase).toBe('closed')
      expect(room.error).toBe('')
    })

    it('closes the client when the join was aborted', async () => {
      const client = new FakeClient()
      const opening = Promise.withResolvers<RoomStateClient>()
      const abort = new AbortController()
      const room = new RoomState({ join: async () => await opening.promise })
      const joining = room.join({ link: LINK, signal: abort.signal })
      abort.abort()
      opening.resolve(client)
      await joining
      expect(client.closed).toBe(1)
      expect(client.watchers.size).toBe(0)
      expect(room.phase).not.toBe('ready')
      await room.close()
    })

    it('holds a write made while joining until the room is open', async () => {
      const client = new FakeClient()
      const opening = Promise.withResolvers<RoomStateClient>()
      const room = new RoomState({ join: async () => await opening.promise })
      const joining = room.join({ link: LINK })
      const saving = room.save('early', true)
      await settle()
      expect(client.writes).toEqual([])
      opening.resolve(client)
      await joining
      expect(await saving).toBe(true)
      expect(client.writes).toEqual([{ op: 'put', args: ['early', true, {}] }])
      await room.close()
    })

    it('joins once', async () => {
      const join = vi.fn(async () => new FakeClient())
      const room = new RoomState({ join })
      await room.join({ link: LINK })
      await room.join({ link: LINK })
      expect(join).toHaveBeenCalledTimes(1)
      await room.close()
    })
  })

  it('writes an import in batches, reporting progress and stopping at the first refusal', async () => {
    const { room, client } = await joined()
    const keys = Array.from({ length: 150 }, (_, i) => ({ key: `k${i}`, value: i }))
    const progress: number[] = []
    expect(await room.writeMany(keys, n => { progress.push(n) })).toEqual({ written: 150 })
    expect(progress).toEqual([100, 150])
    client.failPut = new Error('full')
    expect(await room.writeMany(keys.slice(0, 3), () => {})).toEqual({ written: 0, error: '"k0": full' })
    await room.close()
  })

  it('publishes its state reactively', async () => {
    const { room, client } = await joined()
    const seen: string[] = []
    const stop = $effect.root(() => {
      $effect(() => { seen.push(`${room.entries.length}: ${room.notice?.text ?? '-'}`) })
    })
    try {
      flushSync()
      client.emit({ ...entry('a', 1), source: 'remote' })
      await vi.advanceTimersByTimeAsync(16)
      flushSync()
      await room.save('b', 2)
      flushSync()
      expect(seen).toEqual(['0: -', '1: -', '1: Saving "b"…', '1: Saved "b" on this device; sending…'])
    } finally {
      stop()
      await room.close()
    }
  })
})
