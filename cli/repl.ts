/**
 * `roomkv repl <link>`: one long-lived peer reading commands line by line,
 * in the syntax of rust-libp2p's kv-store example (GET k, PUT k v, ...).
 * Works the same on a terminal and with piped stdin; ends on QUIT or EOF.
 */
import { createInterface } from 'node:readline'
import { errorCode } from '../shared/errors.ts'
import type { Flags } from './args.ts'
import { closeQuietly, connect, type Io } from './commands.ts'
import { errorLine, formatter, parseValue, replTextFormatter, type Formatter } from './format.ts'
import type { PutResult } from '../shared/room.ts'

export type ReplCommand =
  | { op: 'GET' | 'DEL' | 'GET_PROVIDERS' | 'PUT_PROVIDER', key: string }
  | { op: 'PUT', key: string, value: unknown }
  | { op: 'LIST', prefix?: string }
  | { op: 'HELP' | 'QUIT' | 'NOTHING' }

export class ReplSyntaxError extends Error {
  readonly code = 'ERR_USAGE'
}

export const REPL_HELP = [
  'GET <key>              print the value of <key>',
  'PUT <key> <value>      store <value> (the rest of the line: JSON if it parses, else the raw text)',
  'DEL <key>              delete <key>',
  'LIST [prefix]          print every key and value, tab-separated',
  'PUT_PROVIDER <key>     announce this peer as a provider of <key>',
  'GET_PROVIDERS <key>    print the peers that announced <key>',
  'HELP                   this list',
  'QUIT                   leave (end of input does the same)',
  'Changes made by other peers are printed as they arrive: * <key> = <value>'
]

/** One input line to a command. Throws ReplSyntaxError saying what is wrong. */
export function parseReplLine (input: string): ReplCommand {
  const line = input.trim()
  if (line === '' || line.startsWith('#')) return { op: 'NOTHING' }
  const match = /^(\S+)(?:\s+(\S+))?(?:\s+([\s\S]+))?$/.exec(line)
  const [, word, key, rest] = match ?? []
  const op = word.toUpperCase()
  const need = (args: string): never => { throw new ReplSyntaxError(`${op} takes ${args}; HELP lists commands`) }
  switch (op) {
    case 'GET':
    case 'DEL':
    case 'GET_PROVIDERS':
    case 'PUT_PROVIDER':
      if (key == null || rest != null) need('one key (no spaces)')
      return { op, key }
    case 'PUT':
      if (key == null || rest == null) need('a key and a value: PUT <key> <value>')
      return { op, key, value: parseValue(rest) }
    case 'LIST':
      if (rest != null) need('at most a prefix')
      return { op, prefix: key }
    case 'HELP':
    case 'QUIT':
    case 'EXIT':
      if (key != null) need('no arguments')
      return { op: op === 'EXIT' ? 'QUIT' : op }
    default:
      throw new ReplSyntaxError(`unknown command "${word}"; HELP lists commands`)
  }
}

export async function runRepl (link: string, flags: Flags, io: Io): Promise<void> {
  const client = await connect(link, flags, io)
  const { session } = client
  const format: Formatter = flags.json ? formatter(true) : replTextFormatter
  // Keys our own GET is fetching from the DHT: their arrival is the GET's answer, not news.
  const fetching = new Set<string>()
  const unwatch = session.watch((change) => {
    if (change.source === 'remote' && !fetching.has(change.key)) io.out(format.change(change))
  })
  let relayUp = true
  const unwatchStatus = client.onStatus((status) => {
    const up = status.relay.phase === 'connected' || status.relay.phase === 'reserved'
    if (up !== relayUp && status.relay.phase !== 'stopped') {
      relayUp = up
      io.err(`* relay ${up ? 'connected' : 'lost'}: ${status.relay.detail}`)
    }
  })
  const rl = createInterface({
    input: io.input,
    output: io.interactive ? process.stdout : undefined,
    terminal: io.interactive,
    prompt: 'roomkv> '
  })
  rl.on('SIGINT', () => { rl.close() })

  const execute = async (cmd: ReplCommand): Promise<void> => {
    switch (cmd.op) {
      case 'GET':
        fetching.add(cmd.key)
        try {
          io.out(format.get(cmd.key, await session.get(cmd.key)))
        } finally {
          fetching.delete(cmd.key)
        }
        break
      // put() resolves at the local write; a REPL line reports where the
      // record ended up, so wait for the peers' answers (bounded by a step).
      case 'PUT':
        io.out(format.put(await settled(await session.put(cmd.key, cmd.value))))
        break
      case 'DEL':
        io.out(format.del(await settled(await session.delete(cmd.key))))
        break
      case 'LIST':
        io.out(format.list(await session.list({ prefix: cmd.prefix })))
        break
      case 'PUT_PROVIDER':
        io.out(format.provide(cmd.key, await session.provide(cmd.key)))
        break
      case 'GET_PROVIDERS':
        io.out(format.providers(cmd.key, await session.findProviders(cmd.key)))
        break
      case 'HELP':
        io.out(flags.json ? [JSON.stringify({ help: REPL_HELP })] : REPL_HELP)
        break
    }
  }

  try {
    const status = client.status()
    io.out(format.ready({ roomId: session.roomId, peerId: status.peerId, relay: status.relay.relay ?? '' }))
    if (io.interactive) rl.prompt()
    for await (const line of rl) {
      try {
        const cmd = parseReplLine(line)
        if (cmd.op === 'QUIT') break
        await execute(cmd)
      } catch (err: any) {
        io.err(errorLine(err?.message ?? String(err), errorCode(err)))
      }
      if (io.interactive) rl.prompt()
    }
  } finally {
    unwatch()
    unwatchStatus()
    rl.close()
    await closeQuietly(client)
  }
}

async function settled (result: PutResult): Promise<PutResult> {
  const { peers, storedOn } = await result.delivered
  return { ...result, peers, storedOn }
}
