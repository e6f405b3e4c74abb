/**
 * Import and export of a room as a JSON file. Export is the rows on screen;
 * import reads a file, shows the plan (new / changed / unchanged), and only
 * writes after the user confirms, in batches with progress.
 */
import { exportRoom, MAX_IMPORT_BYTES, parseRoomFile, planImport, TOO_LARGE, type ImportPlan } from './room-file.ts'
import type { RoomState } from './room-state.svelte.ts'
import { formatCount } from './format.ts'

export class TransferState {
  #plan = $state.raw<ImportPlan | undefined>()
  #fileName = $state('')
  #error = $state('')
  #result = $state('')
  #progress = $state.raw<{ done: number, total: number } | undefined>()
  readonly #room: RoomState
  #abort?: AbortController

  constructor (room: RoomState) {
    this.#room = room
  }

  get plan (): ImportPlan | undefined { return this.#plan }
  get fileName (): string { return this.#fileName }
  get error (): string { return this.#error }
  get result (): string { return this.#result }
  get progress (): { done: number, total: number } | undefined { return this.#progress }
  get running (): boolean { return this.#progress != null }

  /** The room's keys as a JSON file's text. */
  exportText (): string {
    return JSON.stringify(exportRoom(this.#room.entries), null, 2)
  }

  /** Read a chosen file and plan the import; nothing is written yet. */
  async choose (file: { name: string, size: number, text(): Promise<string> }): Promise<void> {
    this.#plan = undefined
    this.#error = ''
    this.#result = ''
    this.#fileName = file.name
    // Checked before reading: a huge file is refused without loading it.
    if (file.size > MAX_IMPORT_BYTES) { this.#error = TOO_LARGE; return }
    const parsed = parseRoomFile(await file.text())
    if (!parsed.ok) { this.#error = parsed.message; return }
    this.#plan = planImport(parsed.keys, key => this.#room.entry(key))
  }

  cancel (): void {
    this.#abort?.abort()
    this.#plan = undefined
    this.#fileName = ''
  }

  /** Write the planned keys (new and changed ones). */
  async run (): Promise<void> {
    const plan = this.#plan
    if (plan == null || this.running) return
    const keys = [...plan.added, ...plan.changed]
    this.#abort = new AbortController()
    this.#progress = { done: 0, total: keys.length }
    const { written, error } = await this.#room.writeMany(keys, done => { this.#progress = { done, total: keys.length } }, this.#abort.signal)
    this.#progress = undefined
    this.#plan = undefined
    if (error != null) this.#error = `Imported ${formatCount(written)} of ${formatCount(keys.length)} keys, then stopped: ${error}`
    else this.#result = `Imported ${formatCount(written)} key${written === 1 ? '' : 's'} from ${this.#fileName}`
  }
}
