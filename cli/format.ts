/**
 * Output of the CLI and the REPL, text or JSON. Every function returns the
 * lines to print (no I/O here): text for people, or one JSON object per
 * result for machines.
 */
import { toString } from 'uint8arrays'
import type { RoomEntry } from '../shared/record.ts'
import type { KeyEntry, PutResult, RoomChange } from '../shared/room.ts'

export interface Formatter {
  newRoom(link: string, roomId: string): string[]
  put(result: PutResult): string[]
  get(key: string, entry: KeyEntry | undefined): string[]
  del(result: PutResult): string[]
  list(entries: KeyEntry[]): string[]
  provide(key: string, result: { peers: number }): string[]
  providers(key: string, peers: string[]): string[]
  /** A change another peer made, seen live by the REPL. */
  change(change: RoomChange): string[]
  ready(info: { roomId: string, peerId: string, relay: string }): string[]
}

/**
 * How a command-line value becomes a stored value: JSON when the text is
 * valid JSON (`42`, `true`, `{"a":1}`, `"quoted"`), else the raw string.
 */
export function parseValue (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** A value as one line of JSON text (`undefined` never reaches here: deletions are told apart). */
export function showValue (value: unknown): string {
  return JSON.stringify(value) ?? 'null'
}

const quote = (key: string): string => JSON.stringify(key)
const peers = (n: number): string => `${n} ${n === 1 ? 'peer' : 'peers'}`

function versionJson (entry: RoomEntry): Record<string, unknown> {
  return {
    value: entry.deleted ? null : entry.value,
    deleted: entry.deleted,
    writer: entry.writer,
    clock: entry.clock,
    expiresAt: entry.expiresAt === 0 ? null : entry.expiresAt,
    id: toString(entry.id, 'base16')
  }
}

/** The winner's fields, plus `conflicts`: the concurrent versions that lost (usually none). */
function entryJson (entry: KeyEntry): Record<string, unknown> {
  return { key: entry.key, ...versionJson(entry), conflicts: entry.conflicts.map(versionJson) }
}

const versionText = (entry: RoomEntry): string => entry.deleted ? '(deleted)' : showValue(entry.value)

/** ` (conflicts: "a", 2)` when concurrent versions lost to the winner, else ''. */
function conflictsText (entry: KeyEntry): string {
  if (entry.conflicts.length === 0) return ''
  return ` (${entry.conflicts.length === 1 ? 'conflict' : 'conflicts'}: ${entry.conflicts.map(versionText).join(', ')})`
}

/** `k = "v"`, or `k deleted` for a deletion that still has a conflicting value beside it. */
const entryText = (entry: KeyEntry): string =>
  `${entry.key}${entry.deleted ? ' deleted' : ` = ${showValue(entry.value)}`}${conflictsText(entry)}`

export const textFormatter: Formatter = {
  newRoom: (link) => [link],
  put: (r) => [`stored ${quote(r.key)} on ${peers(r.peers)}${r.peers === 0 ? ' (kept locally, synced when a peer is reachable)' : ''}`],
  get: (key, entry) => [entry == null ? `${quote(key)} is not set` : entryText(entry)],
  del: (r) => [`deleted ${quote(r.key)} on ${peers(r.peers)}${r.peers === 0 ? ' (kept locally, synced when a peer is reachable)' : ''}`],
  list: (entries) => entries.map(e => `${e.key}\t${versionText(e)}${e.conflicts.length > 0 ? `\tconflicts: ${e.conflicts.map(versionText).join(', ')}` : ''}`),
  provide: (key, r) => [`providing ${quote(key)} (announced to ${peers(r.peers)})`],
  providers: (_key, ids) => ids,
  change: (c) => [`* ${entryText(c)}`],
  ready: (i) => [`joined room ${i.roomId} as ${i.peerId} via ${i.relay}; HELP lists commands`]
}

/** The REPL says so when a result is empty, where one-shot commands print nothing (script-friendly). */
export const replTextFormatter: Formatter = {
  ...textFormatter,
  list: (entries) => entries.length === 0 ? ['(no keys)'] : textFormatter.list(entries),
  providers: (key, ids) => ids.length === 0 ? [`no providers for ${quote(key)}`] : ids.map(id => `${quote(key)} is provided by ${id}`)
}

const line = (obj: unknown): string[] => [JSON.stringify(obj)]

export const jsonFormatter: Formatter = {
  newRoom: (link, roomId) => line({ link, roomId }),
  put: (r) => line({ key: r.key, id: r.id, peers: r.peers, storedOn: r.storedOn }),
  get: (key, entry) => line(entry == null ? { key, found: false } : { key, found: true, ...entryJson(entry) }),
  del: (r) => line({ key: r.key, deleted: true, id: r.id, peers: r.peers, storedOn: r.storedOn }),
  list: (entries) => entries.flatMap(e => line(entryJson(e))),
  provide: (key, r) => line({ key, providing: true, peers: r.peers }),
  providers: (key, ids) => line({ key, providers: ids }),
  change: (c) => line({ change: c.source, ...entryJson(c) }),
  ready: (i) => line({ ready: true, ...i })
}

export function formatter (json: boolean): Formatter {
  return json ? jsonFormatter : textFormatter
}

/** `roomkv: <message> (<code>)`, the one shape of every error line. */
export function errorLine (message: string, code: string): string {
  return `roomkv: ${message} (${code})`
}
