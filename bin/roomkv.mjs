#!/usr/bin/env node
// `roomkv relay [flags]` (npx roomkv relay): start a relay. libp2p 3 needs
// Node >= 22; on an older Node this re-runs itself on the Node 22 binary
// from the `node` package the project depends on.
//
// Room commands run the CLI's prebuilt bundle (scripts/build-cli.mjs), built
// by `npm install` and rebuilt here when a source is newer than it: a
// one-shot command then sends its first byte ~0.1 s after start instead of
// ~0.8 s through tsx. Without a bundle (no esbuild, read-only node_modules)
// or with ROOMKV_CLI_BUNDLE=0 the sources run through tsx as before.
import { spawnSync } from 'node:child_process'
import module, { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const [command, ...args] = process.argv.slice(2)

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

// V8's on-disk code cache: later runs skip most compiling of the bundle (~2 MB).
module.enableCompileCache?.()

async function cliBundle () {
  if (process.env.ROOMKV_CLI_BUNDLE === '0') return undefined
  const { freshCliBundle, buildCliBundle } = await import('../scripts/build-cli.mjs')
  const fresh = freshCliBundle()
  if (fresh != null) return fresh
  try {
    return await buildCliBundle()
  } catch (err) {
    if ((process.env.DEBUG ?? '') !== '') process.stderr.write(`roomkv: no CLI bundle (${err?.message ?? err}); running the sources through tsx\n`)
    return undefined
  }
}

if (command === 'relay') {
  const { register } = await import('tsx/esm/api')
  register()
  process.argv = [process.argv[0], process.argv[1], ...args]
  await import('../relay/main.ts')
} else {
  // No command and --help included: the CLI prints its full usage.
  const bundle = await cliBundle()
  if (bundle != null) {
    if ((process.env.DEBUG ?? '') !== '') process.setSourceMapsEnabled(true)
    await import(pathToFileURL(bundle).href)
  } else {
    const { register } = await import('tsx/esm/api')
    register()
    await import('../cli/main.ts')
  }
}
