// The CLI as one prebuilt esbuild bundle, so `roomkv get ...` starts in
// ~0.1 s instead of loading hundreds of TypeScript modules through tsx
// (~0.8 s before its first byte on the wire). Built by `npm install` /
// `npm ci` (postinstall, after patch-package so the patched libp2p is what
// gets bundled), by `npm run build:cli`, and again by bin/roomkv.mjs
// whenever a file that went into it is newer than the build.
//
// Layout: node_modules/.cache/roomkv-cli/<build id>/main.mjs plus its chunks
// (libp2p is a chunk loaded only by commands that join a room), and
// current.json naming the build in use and every input file. A new build
// goes to a new folder and then replaces current.json in one rename, so a
// CLI already running keeps its own chunks; older builds are removed later.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'roomkv-cli')
const CURRENT = join(CACHE_DIR, 'current.json')
const FORMAT = 1
/** Builds other than the current one are removed once this old: a CLI started from one has long exited. */
const KEEP_OLD_MS = 10 * 60 * 1000

/**
 * The current bundle's entry file when every input is as old as the build,
 * else undefined. Costs one stat per input (~600 files, a few ms).
 */
export function freshCliBundle () {
  let current
  try {
    current = JSON.parse(readFileSync(CURRENT, 'utf8'))
  } catch {
    return undefined
  }
  if (current?.format !== FORMAT || !Array.isArray(current.inputs)) return undefined
  try {
    for (const input of current.inputs) {
      if (statSync(join(ROOT, input)).mtimeMs > current.builtAt) return undefined
    }
    const entry = join(CACHE_DIR, current.build, 'main.mjs')
    statSync(entry)
    return entry
  } catch {
    return undefined // an input or the bundle itself is gone
  }
}

async function loadEsbuild () {
  try {
    return await import('esbuild')
  } catch {
    // Not hoisted to the top of node_modules: use the copy tsx depends on.
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'))
    return await import(pathToFileURL(fromTsx.resolve('esbuild')).href)
  }
}

/**
 * `roomkv relay` runs relay/main.ts through tsx (bin/roomkv.mjs); the CLI's
 * own route to it (`npm run cli -- relay`) must not pull the relay into the
 * bundle, so that import becomes a stub that registers tsx and loads the
 * sources.
 */
const relayThroughTsx = {
  name: 'roomkv-relay-through-tsx',
  setup (build) {
    // The stub's own imports (tsx, the relay's sources) stay outside the bundle.
    build.onResolve({ filter: /.*/, namespace: 'roomkv-relay' }, args => ({ path: args.path, external: true }))
    build.onResolve({ filter: /(^|\/)relay\/main\.ts$/ }, args => ({ path: resolve(args.resolveDir, args.path), namespace: 'roomkv-relay' }))
    build.onLoad({ filter: /.*/, namespace: 'roomkv-relay' }, args => ({
      contents: `const { register } = await import('tsx/esm/api')\nregister()\nawait import(${JSON.stringify(pathToFileURL(args.path).href)})\n`,
      loader: 'js',
      resolveDir: dirname(args.path)
    }))
  }
}

/** Build the bundle and make it current; returns its entry file. */
export async function buildCliBundle () {
  const esbuild = await loadEsbuild()
  // Taken before reading any input: a file saved during the build counts as newer.
  const builtAt = Date.now()
  const build = `${builtAt.toString(36)}-${process.pid}`
  const outdir = join(CACHE_DIR, build)
  mkdirSync(CACHE_DIR, { recursive: true })
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['cli/main.ts'],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outExtension: { '.js': '.mjs' },
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: { js: "import { createRequire as __roomkvCreateRequire } from 'node:module'; const require = __roomkvCreateRequire(import.meta.url);" },
    sourcemap: 'linked',
    metafile: true,
    logLevel: process.env.ROOMKV_BUILD_LOG ?? 'silent',
    plugins: [relayThroughTsx]
  })
  const inputs = Object.keys(result.metafile.inputs).filter(input => !input.includes(':'))
  const tmp = `${CURRENT}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ format: FORMAT, build, builtAt, esbuild: esbuild.version, inputs }))
  renameSync(tmp, CURRENT)
  removeOldBuilds(build)
  return join(outdir, 'main.mjs')
}

function removeOldBuilds (keep) {
  for (const name of readdirSync(CACHE_DIR)) {
    const path = join(CACHE_DIR, name)
    try {
      if (name === keep || name === 'current.json') continue
      if (Date.now() - statSync(path).mtimeMs > KEEP_OLD_MS) rmSync(path, { recursive: true, force: true })
    } catch {}
  }
}

// `node scripts/build-cli.mjs` (npm run build:cli, postinstall). --if-possible:
// never fail the install over it; bin/roomkv.mjs then builds on first use or
// runs the sources through tsx.
if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const optional = process.argv.includes('--if-possible')
  const started = Date.now()
  try {
    const entry = await buildCliBundle()
    console.log(`roomkv: CLI bundle built in ${Date.now() - started} ms: ${entry.slice(ROOT.length)}`)
  } catch (err) {
    console.error(`roomkv: building the CLI bundle failed${optional ? ' (the CLI will run from the sources through tsx)' : ''}: ${err?.message ?? err}`)
    if (!optional) process.exitCode = 1
  }
}
