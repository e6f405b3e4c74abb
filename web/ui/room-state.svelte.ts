/**
 * Reactive state of one joined room for the UI. Components read the getters
 * and call the methods; only this class talks to the SDK (never libp2p).
 * One instance per room view: join() once, close() once (the view's
 * $effect owns both, with an abort, so a room closed mid-join still closes
 * the node that join was starting).
 */
import { logger } from '@libp2p/logger'
import type { ClientStatus, RoomClient } from '../node/room-client.ts'
import { loadNode } from './node-loader.ts'
import { writerId } from '../node/writer-id.ts'
import type { KeyEntry, PutResult, RoomChange } from '../../shared/room.ts'
import type { RoomEntry } from '../../shared/record.ts'
import type { RoomDiagnostics } from '../../shared/room-diagnostics.ts'
import { describeError } from './messages.ts'
import type { RoomFileKey } from './room-file.ts'
import { RoomRows } from './room-rows.ts'
import { statusLine, type StatusLine } from './status-line.ts'

export { RoomRows, shownConflicts } from './room-rows.ts'

const log = logger('roomkv:ui:room')

export interface JoinOptions {
  link: string
  iceServers?: RTCIceServer[]
  /** Aborting it before join finishes closes whatever join had started. */
  signal?: AbortSignal
}

/** Optional SDK extras, used when the client has them (join phases for the status details). */
type ClientExtras = { phases?: () => Record<string, number> }

/** The part of the SDK's RoomClient this class uses (all a test's fake client needs). */
export type RoomStateClient = Pick<RoomClient, 'status' | 'onStatus' | 'diagnostics' | 'close'> & ClientExtras & {
  session: Pick<RoomClient['session'], 'watch' | 'list' | 'put' | 'get' | 'delete'>
}

export type JoinRoomFn = (init: { link: string, iceServers?: RTCIceServer[] }) => Promise<RoomStateClient>

export interface RoomStateInit {
  /** How long a change from someone else stays highlighted. @default 2500 ms */
  highlightMs?: number
  /** Opens the room. @default the tab's libp2p node (joinTabRoom, loaded lazily) */
  join?: JoinRoomFn
}

/** The app's join: the libp2p node's chunk is fetched on the first room opened. */
const joinTab: JoinRoomFn = async (init) => {
  const { joinTabRoom } = await loadNode()
  return await joinTabRoom(init)
}

/** The `setTimeout` limit; a later expiry is checked again then. */
const MAX_TIMER = 2 ** 31 - 1
const DEFAULT_HIGHLIGHT_MS = 2500
/** Puts in flight during an import: enough to batch IndexedDB writes, few enough to keep frames smooth. */
const IMPORT_BATCH = 100

export type JoinPhase = 'joining' | 'ready' | 'failed' | 'closed'

/** Where the last write stands: the notice line under the editor says this in words. */
export interface WriteNotice {
  /** The key written. */
  key: string
  text: string
  tone: 'busy' | 'done' | 'local' | 'warn'
  /** What undoing the write restores: the previous value, or (`previous` absent) no key at all. */
  undo?: { key: string, previous?: { value: unknown, expiresAt: number } }
}

/** A version a user can pick in a conflict: its value with its type, or a deletion. */
export type KeptVersion = Pick<RoomEntry, 'value' | 'deleted'>

export type Diagnosis = { state: 'idle' } | { state: 'running' } | { state: 'done', report: RoomDiagnostics } | { state: 'failed', error: string }

/** A key in a message: quoted, and cut so a 256-byte key does not fill the screen. */
const quoted = (key: string): string => `"${key.length > 48 ? `${key.slice(0, 48)}…` : key}"`

/**
 * How long rows wait between two publishes: none for a small room (every
 * frame), then growing with the room. Each publish costs O(rows) in the
 * list, its filter and groups; at one per frame a 30,000-key catch-up spent
 * most of its main thread re-publishing (rows / 25 ms keeps that share
 * flat, up to one publish every 2 s from 50,000 keys). A change after a
 * quiet moment still shows at the next frame.
 */
export function publishInterval (rows: number): number {
  return rows < 2000 ? 0 : Math.min(2000, rows / 25)
}

/** More keys changed by others than this at once is a bulk arrival (a catch-up): not highlighted. */
const MAX_HIGHLIGHTED = 200

/** Run `fn` before the next paint (or in 16 ms where there are no frames); returns a cancel. */
function nextFrame (fn: () => void): () => void {
  if (typeof requestAnimationFrame === 'function' && globalThis.document?.visibilityState !== 'hidden') {
    const handle = requestAnimationFrame(fn)
    return () => { cancelAnimationFrame(handle) }
  }
  const timer = setTimeout(fn, 16)
  return () => { clearTimeout(timer) }
}

export class RoomState {
  #status = $state.raw<ClientStatus | undefined>()
  /** Every visible key, sorted; replaced (never mutated) at most once per animation frame. */
  #entries = $state.raw<KeyEntry[]>([])
  #error = $state('')
  #notice = $state.raw<WriteNotice | undefined>()
  #phase = $state<JoinPhase>('joining')
  #busy = $state(false)
  /** Keys someone else changed in the last moments (highlighted in the list). */
  #fresh = $state.raw<ReadonlySet<string>>(new Set())
  #phases = $state.raw<Record<string, number>>({})
  #diagnosis = $state.raw<Diagnosis>({ state: 'idle' })
  /** Writes that reached no peer since the tab was last online ("N changes waiting"). */
  #keptHere = $state(0)

  readonly #self = writerId()
  readonly #highlightMs: number
  readonly #joinRoom: JoinRoomFn
  #client?: RoomStateClient
  #unsubscribe: Array<() => void> = []
  readonly #rows = new RoomRows()
  /** Changes heard while a list is being read; applied on top of it. */
  #loading?: KeyEntry[]
  #cancelFrame?: () => void
  /** When rows were last published (Date.now()). */
  #lastPublish = 0
  #expiryTimer?: ReturnType<typeof setTimeout>
  #expiryAt?: number
  readonly #freshUntil = new Map<string, number>()
  #freshTimer?: ReturnType<typeof setTimeout>
  /** Settles when join() ends: writes made while joining wait for it instead of being dropped. */
  readonly #joined: Promise<void>
  #joinDone!: () => void
  /** Bumped by every action, so a slow delivery report never overwrites a newer notice. */
  #action = 0

  constructor (init: RoomStateInit = {}) {
    this.#highlightMs = init.highlightMs ?? DEFAULT_HIGHLIGHT_MS
    this.#joinRoom = init.join ?? joinTab
    this.#joined = new Promise(resolve => { this.#joinDone = resolve })
  }

  get status (): ClientStatus | undefined { return this.#status }
  get line (): StatusLine { return statusLine(this.#status, this.#phase === 'joining', this.#keptHere) }
  get entries (): KeyEntry[] { return this.#entries }
  get error (): string { return this.#error }
  get notice (): WriteNotice | undefined { return this.#notice }
  get phase (): JoinPhase { return this.#phase }
  get busy (): boolean { return this.#busy }
  get fresh (): ReadonlySet<string> { return this.#fresh }
  get self (): string { return this.#self }
  /** Join steps and when they happened, when the SDK reports them. */
  get phases (): Record<string, number> { return this.#phases }
  /** The last connectivity report (client.diagnostics()), for the status details. */
  get diagnosis (): Diagnosis { return this.#diagnosis }

  /** Ask the SDK's doctor how this tab is connected (pings relays and members). */
  async diagnose (): Promise<void> {
    const client = this.#client
    if (client == null || this.#diagnosis.state === 'running') return
    this.#diagnosis = { state: 'running' }
    try {
      const report = await client.diagnostics({ ping: true })
      if (!this.#isClosed()) this.#diagnosis = { state: 'done', report }
    } catch (err) {
      if (!this.#isClosed()) this.#diagnosis = { state: 'failed', error: describeError(err) }
    }
  }

  /** The key's current row (undefined when not set). */
  entry (key: string): KeyEntry | undefined {
    void this.#entries // re-read when rows are published
    return this.#rows.get(key)
  }

  /** Checked after awaits: close() may have run meanwhile. */
  #isClosed (): boolean { return this.#phase === 'closed' }

  async join (options: JoinOptions): Promise<void> {
    if (this.#phase !== 'joining' || this.#client != null) return
    try {
      const client = await this.#joinRoom({ link: options.link, iceServers: options.iceServers })
      if (options.signal?.aborted === true || this.#isClosed()) {
        log('room closed during join; closing its node')
        await client.close()
        return
      }
      this.#client = client
      ;(globalThis as any).__roomkv = client // benchmarks, end-to-end tests and debugging
      const phases = client.phases
      const readPhases = (): void => { if (typeof phases === 'function') this.#phases = phases.call(client) }
      this.#status = client.status()
      readPhases()
      this.#unsubscribe.push(client.onStatus(s => {
        this.#status = s
        readPhases()
        // Back online: the session syncs what was kept here with the relay and members.
        if (this.#keptHere > 0 && statusLine(s, false).connection === 'online') this.#keptHere = 0
      }))
      // Watch before listing, so nothing merged during the list is missed.
      this.#unsubscribe.push(client.session.watch(change => { this.#onChange(change) }))
      await this.reload()
      if (this.#phase === 'joining') this.#phase = 'ready'
    } catch (err) {
      if (this.#isClosed()) return
      log.error('join failed: %e', err)
      this.#error = describeError(err)
      this.#phase = 'failed'
    } finally {
      this.#joinDone()
    }
  }

  /**
   * A change carries the key's whole state after a merge: patch that row
   * instead of listing and decrypting the room again (which made a burst of
   * n changes into a room of m keys cost n x m). Rows show at the next frame.
   */
  #onChange (change: RoomChange): void {
    const { source, ...entry } = change
    if (source === 'remote' && this.#freshUntil.size < MAX_HIGHLIGHTED) this.#freshUntil.set(entry.key, Date.now() + this.#highlightMs)
    if (this.#loading != null) { this.#loading.push(entry); return }
    this.#rows.apply(entry)
    this.#watchExpiry(entry)
    if (this.#cancelFrame != null) return
    const wait = this.#lastPublish + publishInterval(this.#entries.length) - Date.now()
    if (wait <= 0) {
      this.#cancelFrame = nextFrame(() => { this.#publish() })
      return
    }
    let cancelFrame: (() => void) | undefined
    const timer = setTimeout(() => { cancelFrame = nextFrame(() => { this.#publish() }) }, wait)
    this.#cancelFrame = () => { clearTimeout(timer); cancelFrame?.() }
  }

  #publish (): void {
    this.#cancelFrame?.()
    this.#cancelFrame = undefined
    this.#lastPublish = Date.now()
    this.#entries = this.#rows.sorted()
    this.#publishFresh()
  }

  /** Highlighted keys: published with the rows, dropped by one timer when the oldest highlight ends. */
  #publishFresh (): void {
    clearTimeout(this.#freshTimer)
    this.#freshTimer = undefined
    if (this.#freshUntil.size === 0 && this.#fresh.size === 0) return
    const now = Date.now()
    let next = Infinity
    for (const [key, until] of this.#freshUntil) {
      if (until <= now) this.#freshUntil.delete(key)
      else next = Math.min(next, until)
    }
    this.#fresh = new Set(this.#freshUntil.keys())
    if (next !== Infinity) this.#freshTimer = setTimeout(() => { this.#publishFresh() }, next - now)
  }

  /** One timer for the soonest expiry: an expired version disappears from the rows as it does from `list()`. */
  #watchExpiry (entry?: KeyEntry): void {
    // Per change, so no array: a catch-up sends thousands.
    const earlier = (min: number | undefined, at: number): number | undefined => at > 0 && (min == null || at < min) ? at : min
    let soonest: number | undefined
    if (entry == null) soonest = this.#rows.nextExpiry()
    else {
      soonest = earlier(this.#expiryAt, entry.expiresAt)
      for (const c of entry.conflicts) soonest = earlier(soonest, c.expiresAt)
    }
    if (soonest === this.#expiryAt && this.#expiryTimer != null) return
    clearTimeout(this.#expiryTimer)
    this.#expiryTimer = undefined
    this.#expiryAt = soonest
    if (soonest == null || this.#phase === 'closed') return
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined
      this.#expiryAt = this.#rows.expire(Date.now())
      if (this.#expiryAt != null) this.#watchExpiry()
      this.#publish()
    }, Math.min(MAX_TIMER, Math.max(0, soonest - Date.now())))
  }

  /** List the whole room once (on join; callable again to start over from storage). */
  async reload (): Promise<void> {
    if (this.#client == null) return
    const heard: KeyEntry[] = []
    this.#loading = heard
    try {
      const listed = await this.#client.session.list()
      if (this.#loading !== heard) return // a newer reload took over
      this.#rows.reset(listed)
    } finally {
      if (this.#loading === heard) {
        this.#loading = undefined
        for (const entry of heard) this.#rows.apply(entry)
        this.#expiryAt = undefined
        this.#watchExpiry()
        this.#publish()
      }
    }
  }

  /** Store `value` (any JSON value, its type kept) under `key`; `ttl` in ms. The previous value can be undone. */
  async save (key: string, value: unknown, options: { ttl?: number } = {}): Promise<boolean> {
    return this.#run(key, `Saving ${quoted(key)}…`, async (session) => {
      const before = this.#rows.get(key)
      const result = await session.put(key, value, options.ttl != null ? { ttl: options.ttl } : {})
      return { verb: 'Saved', result, undo: { key, previous: before == null || before.deleted ? undefined : { value: before.value, expiresAt: before.expiresAt } } }
    })
  }

  /**
   * Resolve a conflict by writing exactly the chosen version again: its
   * value with its type (a number stays a number, an object an object), or
   * a deletion when the chosen version is one.
   */
  async keep (key: string, version: KeptVersion): Promise<boolean> {
    return this.#run(key, `Keeping the chosen version of ${quoted(key)}…`, async (session) => {
      if (version.deleted) return { verb: 'Deleted', result: await session.delete(key) }
      return { verb: 'Saved', result: await session.put(key, version.value) }
    })
  }

  /** Delete `key`; a key that is not set says so instead of pretending. The deleted value can be undone. */
  async remove (key: string): Promise<boolean> {
    return this.#run(key, `Deleting ${quoted(key)}…`, async (session) => {
      const before = this.#rows.get(key) ?? await session.get(key)
      if (before == null || (before.deleted && before.conflicts.every(c => c.deleted))) {
        throw Object.assign(new Error(`${quoted(key)} is not set: nothing to delete`), { code: 'ERR_NOT_SET' })
      }
      const result = await session.delete(key)
      const undo = before.deleted ? undefined : { key, previous: { value: before.value, expiresAt: before.expiresAt } }
      return { verb: 'Deleted', result, undo }
    })
  }

  /** Write back the value a delete removed (with what was left of its time to live). */
  async undo (): Promise<boolean> {
    const undo = this.#notice?.undo
    if (undo == null) return false
    const previous = undo.previous
    if (previous == null) {
      // The write created the key: undoing it deletes it (a delete cannot itself be undone here).
      return this.#run(undo.key, `Undoing ${quoted(undo.key)}…`, async (session) => ({ verb: 'Removed', result: await session.delete(undo.key) }))
    }
    const ttl = previous.expiresAt > 0 ? previous.expiresAt - Date.now() : undefined
    if (ttl != null && ttl <= 0) {
      this.#error = `${quoted(undo.key)} had expired meanwhile: nothing to restore`
      return false
    }
    return this.#run(undo.key, `Restoring ${quoted(undo.key)}…`, async (session) => ({ verb: 'Restored', result: await session.put(undo.key, previous.value, ttl != null ? { ttl } : {}) }))
  }

  async #run (key: string, busyText: string, fn: (session: RoomStateClient['session']) => Promise<{ verb: string, result: PutResult, undo?: WriteNotice['undo'] }>): Promise<boolean> {
    const action = ++this.#action
    this.#error = ''
    this.#busy = true
    this.#notice = { key, text: busyText, tone: 'busy' }
    try {
      if (this.#phase === 'joining') await this.#joined
      const client = this.#client
      if (client == null) throw new Error('The room is not open')
      const { verb, result, undo } = await fn(client.session)
      if (action !== this.#action) return true
      this.#notice = { key, text: `${verb} ${quoted(result.key)} on this device; sending…`, tone: 'busy', undo }
      void this.#report(action, verb, result, undo)
      return true
    } catch (err) {
      if (action === this.#action) {
        this.#error = describeError(err)
        this.#notice = undefined
      }
      return false
    } finally {
      if (action === this.#action) this.#busy = false
    }
  }

  /**
   * put() resolves once the record is in this tab's store; the peers'
   * answers follow. Say "on this device" at once, then how many peers hold
   * it (or that it waits on this device) once they have answered.
   */
  async #report (action: number, verb: string, result: PutResult, undo?: WriteNotice['undo']): Promise<void> {
    let delivered: Awaited<PutResult['delivered']>
    try {
      delivered = await result.delivered
    } catch (err) {
      delivered = { peers: 0, storedOn: [], refused: [describeError(err)] }
    }
    if (this.#isClosed()) return
    const peers = delivered.peers
    // Counted for every write, also those whose notice a newer action replaced.
    if (peers === 0 && delivered.refused.length === 0) this.#keptHere++
    if (action !== this.#action) return // a newer action took over the notice
    const key = result.key
    this.#notice = peers > 0
      ? { key, text: `${verb} ${quoted(result.key)}: stored on ${peers} peer${peers === 1 ? '' : 's'}`, tone: 'done', undo }
      : delivered.refused.length > 0
        ? { key, text: `${verb} ${quoted(result.key)}: kept on this device only, peers refused it (${delivered.refused[0]})`, tone: 'warn', undo }
        : { key, text: `${verb} ${quoted(result.key)}: kept on this device; it syncs when someone is reachable`, tone: 'local', undo }
  }

  /**
   * Write many keys (an import), `IMPORT_BATCH` at a time so a big file
   * neither floods the store nor stalls the page; calls `onProgress` after
   * each batch and stops at the first refused write (or when aborted).
   */
  async writeMany (keys: readonly RoomFileKey[], onProgress: (done: number) => void, signal?: AbortSignal): Promise<{ written: number, error?: string }> {
    if (this.#phase === 'joining') await this.#joined
    const session = this.#client?.session
    if (session == null) return { written: 0, error: 'The room is not open' }
    let written = 0
    for (let i = 0; i < keys.length; i += IMPORT_BATCH) {
      if (signal?.aborted === true || this.#isClosed()) return { written, error: 'Import stopped' }
      const batch = keys.slice(i, i + IMPORT_BATCH)
      const now = Date.now()
      const results = await Promise.allSettled(batch.map(async item => {
        const ttl = item.expiresAt != null ? item.expiresAt - now : undefined
        if (ttl != null && ttl <= 0) return // expired while importing: nothing to write
        await session.put(item.key, item.value, ttl != null ? { ttl } : {})
      }))
      const failed = results.findIndex(r => r.status === 'rejected')
      written += results.filter(r => r.status === 'fulfilled').length
      onProgress(written)
      if (failed >= 0) return { written, error: `${quoted(batch[failed].key)}: ${describeError((results[failed] as PromiseRejectedResult).reason)}` }
    }
    return { written }
  }

  /** Clear the error and notice (e.g. when the user starts a new action). */
  dismiss (): void {
    this.#error = ''
    if (this.#notice?.tone !== 'busy') this.#notice = undefined
  }

  async close (): Promise<void> {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    this.#cancelFrame?.()
    clearTimeout(this.#expiryTimer)
    clearTimeout(this.#freshTimer)
    for (const unsubscribe of this.#unsubscribe) unsubscribe()
    this.#unsubscribe = []
    const client = this.#client
    this.#client = undefined
    if (client != null && (globalThis as any).__roomkv === client) (globalThis as any).__roomkv = undefined
    await client?.close()
  }
}
