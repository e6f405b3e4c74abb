/**
 * Reactive state of the joined room for the UI. Components stay thin: they
 * read these fields and call these methods, never the network.
 */
import { joinTabRoom, type ClientStatus, type RoomClient } from '../node/room-client.ts'
import type { KeyEntry, PutResult } from '../../shared/room.ts'
import { describeError } from './messages.ts'

export interface JoinOptions {
  link: string
  iceServers?: RTCIceServer[]
}

export class RoomState {
  status = $state<ClientStatus | undefined>()
  entries = $state.raw<KeyEntry[]>([])
  error = $state('')
  notice = $state('')
  joining = $state(true)
  #client?: RoomClient
  #unsubscribe: Array<() => void> = []

  async join (options: JoinOptions): Promise<void> {
    try {
      const client = await joinTabRoom({ link: options.link, iceServers: options.iceServers })
      this.#client = client
      ;(globalThis as any).__roomkv = client // debugging and end-to-end tests
      this.status = client.status()
      this.#unsubscribe.push(client.onStatus(s => { this.status = s }))
      this.#unsubscribe.push(client.session.watch(() => { this.#reloadSoon() }))
      await this.reload()
    } catch (err) {
      this.error = describeError(err)
    } finally {
      this.joining = false
    }
  }

  #reloadTimer?: ReturnType<typeof setTimeout>
  /**
   * Changes arrive in bursts (a catch-up merges thousands of records): list
   * the room once per burst, not once per record, which was quadratic.
   */
  #reloadSoon (): void {
    if (this.#reloadTimer != null) return
    this.#reloadTimer = setTimeout(() => {
      this.#reloadTimer = undefined
      void this.reload()
    }, 50)
  }

  async reload (): Promise<void> {
    if (this.#client == null) return
    this.entries = await this.#client.session.list()
  }

  async put (key: string, value: string): Promise<void> {
    await this.#run(async (session) => this.#report('Stored', await session.put(key, value)))
  }

  async remove (key: string): Promise<void> {
    await this.#run(async (session) => this.#report('Deleted', await session.delete(key)))
  }

  async get (key: string): Promise<void> {
    await this.#run(async (session) => {
      const entry = await session.get(key, { network: true })
      const conflicts = entry?.conflicts.length ?? 0
      this.notice = entry == null
        ? `"${key}" is not set`
        : `"${key}" = ${entry.deleted ? '(deleted)' : JSON.stringify(entry.value)}${conflicts > 0 ? ` (${conflicts} conflicting value${conflicts === 1 ? '' : 's'})` : ''}`
    })
  }

  #report (verb: string, result: PutResult): void {
    // A write that reached nobody is kept locally and synced later; say so.
    this.notice = result.peers === 0
      ? `${verb} "${result.key}" locally only: no peer reachable yet, it will sync when one is`
      : `${verb} "${result.key}" on ${result.peers} peer${result.peers === 1 ? '' : 's'}`
  }

  async #run (fn: (session: RoomClient['session']) => Promise<void>): Promise<void> {
    if (this.#client == null) return
    this.error = ''
    try {
      await fn(this.#client.session)
    } catch (err) {
      this.error = describeError(err)
    }
  }

  async close (): Promise<void> {
    clearTimeout(this.#reloadTimer)
    for (const unsubscribe of this.#unsubscribe) unsubscribe()
    await this.#client?.close()
  }
}
