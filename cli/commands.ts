/**
 * The CLI commands. One-shot commands open the room, wait (bounded) for the
 * relay connection and the first sync with the relay, do one operation,
 * print the result and close. The REPL lives in repl.ts.
 */
import { formatRoomLink } from '../shared/link.ts'
import { encodeValue, validateKeyName } from '../shared/record.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { errorCode, QuorumFailedError, RelayUnreachableError, RoomkvError } from '../shared/errors.ts'
import type { RoomClient } from '../shared/room-client.ts'
import type { PutResult } from '../shared/room.ts'
import { DEFAULT_RELAY, type CommandName, type Flags } from './args.ts'
import { formatter, parseValue } from './format.ts'
import { firstRelayUrl, prefetchedRelayJson } from './relay-prefetch.ts'

/** A list that could not be checked against a full replica (a relay). */
export class PartialListError extends RoomkvError {
  constructor (message: string) {
    super(message, 'ERR_PARTIAL')
    this.name = 'PartialListError'
  }
}

/** How long a command waits for a relay connection before giving up. */
export const CONNECT_TIMEOUT = 10_000
/** How long a command waits for the first sync with the relay before going on without it. */
export const SYNC_TIMEOUT = 10_000
/** How long closing the node may take before the process exits anyway. */
const CLOSE_TIMEOUT = 5_000

export interface Io {
  /** Print result lines (stdout). */
  out(lines: string[]): void
  /** Print one diagnostic line (stderr). */
  err(line: string): void
  input: NodeJS.ReadableStream
  /** The input is a terminal: the REPL shows a prompt. */
  interactive: boolean
}

/**
 * Resolve once `done()` holds or `ms` passed. Checked on every status change
 * (a one-shot command goes on the moment its sync lands, not at the next
 * poll), and every 250 ms for changes that emit no status.
 */
async function until (client: RoomClient, done: () => boolean, ms: number): Promise<void> {
  if (done()) return
  await new Promise<void>((resolve) => {
    const finish = (): void => { clearTimeout(timer); clearInterval(poll); unwatch(); resolve() }
    const check = (): void => { if (done()) finish() }
    const timer = setTimeout(finish, ms)
    const poll = setInterval(check, 250)
    const unwatch = client.onStatus(check)
  })
}

export async function closeQuietly (client: RoomClient): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    client.close().catch(() => {}),
    new Promise<void>(resolve => { timer = setTimeout(resolve, CLOSE_TIMEOUT) })
  ])
  clearTimeout(timer)
}

/**
 * Open the room and wait until a relay is connected (else fail with
 * ERR_RELAY_UNREACHABLE and the connection's own reason) and the first sync
 * with it is done (else warn and go on: reads may then miss keys).
 */
export async function connect (link: string, flags: Flags, io: Io): Promise<RoomClient> {
  // Loaded here so usage errors and new-room do not pay for starting libp2p.
  const { openRoom } = await import('./node-peer.ts')
  const client = await openRoom(link, { relayUrl: flags.relay, relayInfo: await prefetchedRelayJson(firstRelayUrl(link, flags.relay)) })
  try {
    await client.relay.connected(CONNECT_TIMEOUT)
  } catch {
    const detail = client.status().relay.detail.replace(/; retrying in \d+ s$/, '')
    await closeQuietly(client)
    throw new RelayUnreachableError(`no relay connection after ${CONNECT_TIMEOUT / 1000} s: ${detail}`)
  }
  await until(client, () => client.status().room.lastSync != null, SYNC_TIMEOUT)
  if (client.status().room.lastSync == null) {
    const why = client.status().room.lastError
    io.err(`roomkv: warning: first sync with the relay did not finish in ${SYNC_TIMEOUT / 1000} s${why != null ? ` (${why})` : ''}; results may be incomplete`)
  }
  return client
}

/** How long the doctor waits for a relay reservation, then for the first sync, before reporting. */
export const DOCTOR_WAIT = { reservation: 10_000, sync: 5_000 }

/**
 * `roomkv doctor LINK`: join like any command, but never fail before
 * reporting: wait (bounded) for a reservation and the first sync, print the
 * diagnostics report, then exit 1 (ERR_RELAY_UNREACHABLE) if no relay was
 * reachable so scripts can tell.
 */
async function doctor (link: string, flags: Flags, io: Io): Promise<void> {
  const { openRoom } = await import('./node-peer.ts')
  let client: RoomClient
  try {
    client = await openRoom(link, { relayUrl: flags.relay, relayInfo: await prefetchedRelayJson(firstRelayUrl(link, flags.relay)) })
  } catch (err) {
    // No relay told us its addresses: there is no node to ask, but the report still says why.
    if (errorCode(err) === 'ERR_RELAY_UNREACHABLE') {
      const message = (err as Error).message
      io.out([JSON.stringify({ at: Date.now(), relays: [], peers: [], direct: 0, reason: message, lastError: { step: 'asking relays for their addresses', code: 'ERR_RELAY_UNREACHABLE', reason: message } }, null, 2)])
    }
    throw err
  }
  try {
    // Every relay tried at least once (unreachable after a full round) or one reserved.
    await until(client, () => ['reserved', 'unreachable'].includes(client.status().relay.phase), DOCTOR_WAIT.reservation)
    if (client.status().relay.phase === 'reserved') await until(client, () => client.status().room.lastSync != null, DOCTOR_WAIT.sync)
    const report = await client.diagnostics()
    io.out([JSON.stringify(report, null, 2)])
    if (!report.relays.some(r => r.state === 'connected' || r.state === 'reserved')) {
      throw new RelayUnreachableError(`no relay reachable: ${report.relay.detail.replace(/; retrying in \d+ s$/, '')}`)
    }
  } finally {
    await closeQuietly(client)
  }
}

const LOST = 'roomkv: warning: no peer took the write and this process keeps no copy after it exits: it is lost'

/**
 * put/del with a quorum. The CLI keeps no copy of its own (memory storage,
 * gone when it exits), so the SDK's "kept locally" does not hold here.
 */
async function write (key: string, quorum: number, op: () => Promise<PutResult>): Promise<PutResult> {
  try {
    return await op()
  } catch (err: any) {
    const result: PutResult | undefined = err.result
    if (result == null) throw err
    // A peer's refusal (ERR_ROOM_FULL, ERR_RATE_LIMITED...) keeps its code; else ERR_QUORUM_FAILED.
    const code = errorCode(err)
    const refused = code !== 'ERR_QUORUM_FAILED' ? `refused by the relay (${code}); ` : ''
    const tail = result.peers === 0
      ? `this process keeps no copy after it exits, so the write is lost${refused === '' ? ' (is the relay up?)' : ''}`
      : `the write stays on ${result.peers === 1 ? 'that peer' : `those ${result.peers} peers`}`
    const message = `${JSON.stringify(key)} reached ${result.peers} of ${quorum} peers; ${refused}${tail}`
    throw refused === '' ? new QuorumFailedError(message) : new RoomkvError(message, code)
  }
}

export async function runCommand (command: CommandName, positionals: string[], flags: Flags, io: Io): Promise<void> {
  const format = formatter(flags.json)
  if (command === 'new-room') {
    const secret = newRoomSecret()
    io.out(format.newRoom(formatRoomLink(flags.relay ?? DEFAULT_RELAY, secret), deriveRoomKeys(secret).roomIdText))
    return
  }
  const [link, key, rawValue] = positionals
  // Check what can be checked before touching the network.
  if (key != null) validateKeyName(key)
  const value = rawValue != null ? parseValue(rawValue) : undefined
  if (rawValue != null) encodeValue(value)

  if (command === 'doctor') {
    await doctor(link, flags, io)
    return
  }
  if (command === 'repl') {
    const { runRepl } = await import('./repl.ts')
    await runRepl(link, flags, io)
    return
  }
  const client = await connect(link, flags, io)
  try {
    const { session } = client
    switch (command) {
      case 'put': {
        const quorum = flags.quorum ?? 1
        const result = await write(key, quorum, async () => session.put(key, value, { ttl: flags.ttl, quorum }))
        io.out(format.put(result))
        if (result.peers === 0) io.err(LOST)
        break
      }
      case 'get':
        io.out(format.get(key, await session.get(key, { quorum: flags.quorum })))
        break
      case 'del': {
        const quorum = flags.quorum ?? 1
        const result = await write(key, quorum, async () => session.delete(key, { quorum }))
        io.out(format.del(result))
        if (result.peers === 0) io.err(LOST)
        break
      }
      case 'list': {
        // Complete = synced with a relay (a full replica of the room) in this
        // run; otherwise the list is only what this process happened to get.
        const complete = client.status().room.lastSync != null
        const entries = await session.list({ prefix: flags.prefix })
        if (!complete && flags.allowPartial !== true) {
          throw new PartialListError(`listed ${entries.length} keys without a finished sync with a relay: the list may be incomplete (--allow-partial prints it anyway)`)
        }
        io.out(format.list(entries))
        if (!complete) io.err('roomkv: warning: partial list (no finished sync with a relay)')
        break
      }
      case 'provide':
        io.out(format.provide(key, await session.provide(key)))
        break
      case 'providers':
        io.out(format.providers(key, await session.findProviders(key)))
        break
    }
  } finally {
    await closeQuietly(client)
  }
}
