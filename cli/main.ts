/**
 * `roomkv <command>` (bin/roomkv.mjs) and `npm run cli -- <command>`: the
 * Node CLI peer. Exit status: 0 done, 1 error (`roomkv: <message> (<code>)`
 * on stderr), 2 wrong usage (message and usage on stderr).
 */
import module from 'node:module'
import { errorCode } from '../shared/errors.ts'
import { parseCommandLine, usage, UsageError } from './args.ts'
import type { Io } from './commands.ts'
import { errorLine } from './format.ts'
import { firstRelayUrl, prefetchRelayJson } from './relay-prefetch.ts'

// A one-shot command loads libp2p (hundreds of modules) before it can dial;
// V8's on-disk code cache (Node >= 22.1) spares later runs most of the
// compiling. `roomkv` (bin/roomkv.mjs) runs this file as a prebuilt esbuild
// bundle (scripts/build-cli.mjs) with libp2p in a chunk loaded only by
// commands that join a room. Measured with bench/cli-connect.ts (ms from
// spawn to the first byte on the wire, p50 of 20, 2 busy cores): ~770
// through tsx before the bundle, ~190 with it.
module.enableCompileCache?.()

const io: Io = {
  out (lines) { if (lines.length > 0) process.stdout.write(lines.map(l => `${l}\n`).join('')) },
  err (line) { process.stderr.write(`${line}\n`) },
  input: process.stdin,
  interactive: process.stdin.isTTY === true && process.stdout.isTTY === true
}

async function main (argv: string[]): Promise<number> {
  let invocation
  try {
    invocation = parseCommandLine(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`roomkv: ${err.message}\n\n${usage()}`)
    return 2
  }
  if (invocation.command === 'help') {
    process.stdout.write(usage())
    return 0
  }
  if (invocation.command === 'relay') {
    // `npm run cli -- relay ...` behaves like `roomkv relay ...`; relay/main.ts reads argv itself.
    process.argv = [process.argv[0], process.argv[1], ...invocation.args]
    await import('../relay/main.ts')
    return -1
  }
  // The relay's /roomkv.json is the first thing a join needs: ask for it now,
  // while the rest of the CLI (libp2p) loads.
  if (invocation.command !== 'new-room') {
    const relayUrl = firstRelayUrl(invocation.positionals[0], invocation.flags.relay)
    if (relayUrl != null) void prefetchRelayJson(relayUrl)
  }
  try {
    const { runCommand } = await import('./commands.ts')
    await runCommand(invocation.command, invocation.positionals, invocation.flags, io)
    return 0
  } catch (err: any) {
    io.err(errorLine(err?.message ?? String(err), errorCode(err)))
    if ((process.env.DEBUG ?? '') !== '' && err?.stack != null) io.err(err.stack)
    return 1
  }
}

main(process.argv.slice(2)).then((code) => {
  // libp2p can leave timers behind; one-shot commands end here, not when the loop drains.
  if (code >= 0) process.exit(code)
}, (err) => {
  process.stderr.write(`roomkv: ${err?.stack ?? err}\n`)
  process.exit(1)
})
