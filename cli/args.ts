/**
 * Command-line parsing for `roomkv <command>`: which commands exist, which
 * flags each takes, and validation with clear messages. Pure: no I/O, no
 * network, so wrong usage is reported before anything is started.
 */
import { parseArgs } from 'node:util'

export const DEFAULT_RELAY = 'http://127.0.0.1:8080'

export type CommandName = 'new-room' | 'put' | 'get' | 'del' | 'list' | 'provide' | 'providers' | 'repl' | 'doctor'

export interface Flags {
  /** Relay URL to use instead of the link's origin (new-room: the link's origin). */
  relay?: string
  /** One JSON object per result instead of text. */
  json: boolean
  /** put: time to live in ms. */
  ttl?: number
  /** put/del: peers that must store the write; get: peers that must answer. */
  quorum?: number
  /** list: only keys starting with this. */
  prefix?: string
  /** list: print what this peer has even when it could not sync with a relay (exit 0). */
  allowPartial?: boolean
}

export type Invocation =
  | { command: 'help' }
  | { command: 'relay', args: string[] }
  | { command: CommandName, positionals: string[], flags: Flags }

/** Wrong usage: main prints the message and the usage text, exit status 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE'
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

type FlagName = 'relay' | 'json' | 'ttl' | 'quorum' | 'prefix' | 'allow-partial'

interface CommandSpec {
  args: string[]
  flags: FlagName[]
  help: string
}

export const COMMANDS: Record<CommandName, CommandSpec> = {
  'new-room': { args: [], flags: ['relay', 'json'], help: 'print a new room link (no network needed)' },
  put: { args: ['link', 'key', 'value'], flags: ['relay', 'json', 'ttl', 'quorum'], help: 'store a value: JSON if it parses as JSON, else the raw string' },
  get: { args: ['link', 'key'], flags: ['relay', 'json', 'quorum'], help: 'print a key\'s value ("<key> is not set" and exit 0 when absent)' },
  del: { args: ['link', 'key'], flags: ['relay', 'json', 'quorum'], help: 'delete a key' },
  list: { args: ['link'], flags: ['relay', 'json', 'prefix', 'allow-partial'], help: 'print every key and its JSON value, tab-separated, sorted by key' },
  provide: { args: ['link', 'key'], flags: ['relay', 'json'], help: 'announce this peer as a provider of a key (DHT provider record)' },
  providers: { args: ['link', 'key'], flags: ['relay', 'json'], help: 'print the peer ids that announced a key, one per line' },
  doctor: { args: ['link'], flags: ['relay'], help: 'join, then print the connectivity report as JSON (relays, peers, phases, why not connected); exit 1 if no relay was reachable' },
  repl: { args: ['link'], flags: ['relay', 'json'], help: 'interactive session: GET k, PUT k v, DEL k, LIST, GET_PROVIDERS k, PUT_PROVIDER k, HELP, QUIT' }
}

const FLAG_HELP: Record<FlagName, [string, string]> = {
  relay: ['--relay URL', `relay HTTP URL to use instead of the link's origin (new-room: the link's origin, default ${DEFAULT_RELAY})`],
  json: ['--json', 'machine output: one JSON object per line per result'],
  ttl: ['--ttl MS', 'put: the value expires everywhere after MS milliseconds'],
  quorum: ['--quorum N', 'put/del: fail (ERR_QUORUM_FAILED) unless N peers stored the write (default 1); get: ask the network, fail unless N peers answered'],
  prefix: ['--prefix P', 'list: only keys that start with P'],
  'allow-partial': ['--allow-partial', 'list: when no relay sync finished, print the partial list and exit 0 (default: exit 1, ERR_PARTIAL)']
}

export function usage (): string {
  const commands = (Object.entries(COMMANDS) as Array<[CommandName, CommandSpec]>).map(([name, spec]) => {
    const synopsis = [name, ...spec.args.map(a => `<${a}>`)].join(' ')
    return `  ${synopsis.padEnd(28)} ${spec.help}`
  })
  const flags = Object.values(FLAG_HELP).map(([flag, help]) => `  ${flag.padEnd(28)} ${help}`)
  return [
    'Usage: roomkv <command> [arguments] [options]   (from a clone: npm run cli -- <command> ...)',
    '',
    'Commands:',
    ...commands,
    `  ${'relay [options]'.padEnd(28)} start a relay (roomkv relay --help)`,
    `  ${'help'.padEnd(28)} show this help`,
    '',
    'Options (every command takes --relay and --json):',
    ...flags,
    `  ${'--help'.padEnd(28)} show this help`,
    '',
    'A value that starts with "-" goes after "--": roomkv put <link> n -- -5',
    'Exit status: 0 done (also when a key is not set), 1 error ("roomkv: <message> (<code>)" on stderr), 2 wrong usage.',
    ''
  ].join('\n')
}

function integerFlag (name: string, raw: string | undefined, min: number): number | undefined {
  if (raw == null) return undefined
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name}: "${raw}" is not ${min === 0 ? 'a non-negative' : 'a positive'} integer`)
  }
  return n
}

/** An http(s) URL, or a UsageError saying what is wrong with it. */
export function relayUrlFlag (raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--relay: "${raw}" is not a URL (expected e.g. ${DEFAULT_RELAY})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--relay: "${raw}" must be an http:// or https:// URL`)
  return url
}

/** Parse `argv` (everything after the script name). Throws UsageError. */
export function parseCommandLine (argv: string[]): Invocation {
  const [command, ...rest] = argv
  if (command == null || command === 'help' || command === '--help' || command === '-h') return { command: 'help' }
  if (command === 'relay') return { command: 'relay', args: rest }
  if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`unknown command "${command}"`)
  const name = command as CommandName
  const spec = COMMANDS[name]
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        relay: { type: 'string' },
        json: { type: 'boolean' },
        ttl: { type: 'string' },
        quorum: { type: 'string' },
        prefix: { type: 'string' },
        'allow-partial': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err: any) {
    throw new UsageError(`${name}: ${err.message}`)
  }
  const { values, positionals } = parsed
  if (values.help === true) return { command: 'help' }
  for (const flag of ['relay', 'ttl', 'quorum', 'prefix', 'json', 'allow-partial'] as const) {
    if (values[flag] != null && !spec.flags.includes(flag)) throw new UsageError(`${name} does not take --${flag}`)
  }
  if (positionals.length !== spec.args.length) {
    const synopsis = [name, ...spec.args.map(a => `<${a}>`)].join(' ')
    throw new UsageError(`${name} takes ${spec.args.length === 0 ? 'no arguments' : spec.args.length === 1 ? '1 argument' : `${spec.args.length} arguments`}, got ${positionals.length}: roomkv ${synopsis}`)
  }
  let relay = values.relay
  if (relay != null) {
    const url = relayUrlFlag(relay)
    // A link carries only the origin; elsewhere the URL is used as given.
    if (name === 'new-room') relay = url.origin
  }
  return {
    command: name,
    positionals,
    flags: {
      relay,
      json: values.json === true,
      ttl: integerFlag('ttl', values.ttl, 1),
      quorum: integerFlag('quorum', values.quorum, 0),
      prefix: values.prefix,
      allowPartial: values['allow-partial'] === true
    }
  }
}
