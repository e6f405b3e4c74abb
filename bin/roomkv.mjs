#!/usr/bin/env node
// `roomkv relay [flags]` (npx roomkv relay): start a relay. libp2p 3 needs
// Node >= 22; on an older Node this re-runs itself on the Node 22 binary
// from the `node` package the project depends on.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const [command, ...args] = process.argv.slice(2)
const USAGE = `Usage: roomkv relay [options]    start a relay (roomkv relay --help for options)
       roomkv <command> ...         room commands: see "roomkv help"\n`

if (Number(process.versions.node.split('.')[0]) < 22) {
  let node
  try {
    node = createRequire(import.meta.url).resolve('node/bin/node')
  } catch {
    process.stderr.write(`roomkv needs Node >= 22 (this is ${process.version}); install Node 22 or the "node" npm package.\n`)
    process.exit(1)
  }
  const result = spawnSync(node, process.argv.slice(1), { stdio: 'inherit' })
  process.exit(result.status ?? 1)
}

const { register } = await import('tsx/esm/api')
register()
if (command === 'relay') {
  process.argv = [process.argv[0], process.argv[1], ...args]
  await import('../relay/main.ts')
} else if (command == null || command === '--help' || command === '-h') {
  process.stdout.write(USAGE)
} else {
  process.argv = [process.argv[0], process.argv[1], command, ...args]
  await import('../cli/main.ts')
}
