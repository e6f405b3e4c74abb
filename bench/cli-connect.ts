/**
 * CLI first byte: how long a one-shot `roomkv get LINK KEY` takes from
 * process spawn to its first byte on the wire, and to its exit with the value.
 *
 * Each run puts two recording TCP proxies between the CLI and the relay:
 * one in front of a small HTTP server here that answers /roomkv.json with the
 * relay's own answer, pointed at the second proxy, which forwards to the
 * relay's WebSocket port. So the CLI (given `--relay <front>`) sends its
 * relay-info request through the first and its libp2p dial through the
 * second, and both arrival times are taken here, against the spawn time, on
 * one clock. Nothing inside the CLI is instrumented.
 *
 * Standalone: `node --import tsx bench/cli-connect.ts [runs] [variant...]`
 * (variants: bin, tsx; default 20 runs of both). From bench/run.ts:
 * `cliFirstByte(relay, { runs })`.
 */
import { spawn } from 'node:child_process'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { newRoomLink } from './browser.ts'
import { round, summarize, table, type Summary } from './stats.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * How the CLI is started: `bin` as a user runs it (`roomkv`, bin/roomkv.mjs:
 * the prebuilt bundle when present), `tsx` the TypeScript sources through
 * tsx (what `roomkv` ran before the bundle).
 */
export type CliVariant = 'bin' | 'tsx'

const COMMANDS: Record<CliVariant, string[]> = {
  bin: ['bin/roomkv.mjs'],
  tsx: ['--import', 'tsx', 'cli/main.ts']
}

export interface CliFirstByteOptions {
  /** Runs per variant. @default 20 */
  runs?: number
  /** @default ['bin'] */
  variants?: CliVariant[]
  /** Kill a run after this long (counted as a failure). @default 60_000 */
  timeout?: number
  log?: (line: string) => void
}

export interface CliFirstByteRow {
  /** Spawn -> first byte of the /roomkv.json request (ms). */
  firstByte: Summary
  /** Spawn -> first byte of the libp2p WebSocket dial to the relay (ms). */
  firstDial: Summary
  /** Spawn -> exit of a `get` that printed the value (ms). */
  getExit: Summary
  runs: number
  failures: number
  errors: string[]
}

export type CliFirstByte = Partial<Record<CliVariant, CliFirstByteRow>>

interface Recorder { server: Server, port: number, first: () => number | undefined, reset: () => void, close: () => Promise<void> }

/** A TCP proxy to `target` that remembers when the first client byte arrived. */
async function recordingProxy (target: () => number): Promise<Recorder> {
  let first: number | undefined
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    sockets.add(client)
    const upstream = connect(target(), '127.0.0.1')
    sockets.add(upstream)
    client.once('data', () => { first ??= performance.now() })
    client.pipe(upstream).pipe(client)
    const end = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as { port: number }).port,
    first: () => first,
    reset: () => { first = undefined },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

/** /roomkv.json as the relay says it, but with the WebSocket port of `wsProxy` and no other addresses. */
async function relayInfoServer (relayUrl: string, wsProxyPort: () => number): Promise<{ server: HttpServer, port: number, wsPort: number }> {
  const response = await fetch(new URL('/roomkv.json', relayUrl))
  if (!response.ok) throw new Error(`relay ${relayUrl} /roomkv.json: HTTP ${response.status}`)
  const json = await response.json() as { p2pPort: number, multiaddrs: string[], relays?: string[] }
  const server = createHttpServer((req, res) => {
    if (req.url?.startsWith('/roomkv.json') !== true) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ ...json, p2pPort: wsProxyPort(), multiaddrs: [], relays: [] }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port, wsPort: json.p2pPort }
}

interface RunResult { firstByte?: number, firstDial?: number, exit?: number, error?: string }

async function runOnce (args: string[], front: Recorder, ws: Recorder, timeout: number, expect: string): Promise<RunResult> {
  front.reset()
  ws.reset()
  const t0 = performance.now()
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
  const status = await new Promise<number | null>(resolve => child.once('close', resolve))
  const exit = performance.now() - t0
  clearTimeout(timer)
  const since = (t: number | undefined): number | undefined => t != null ? t - t0 : undefined
  const result = { firstByte: since(front.first()), firstDial: since(ws.first()) }
  if (status !== 0 || !stdout.includes(expect)) return { ...result, error: `exit ${status}: ${(stderr + stdout).trim().split('\n').slice(-2).join(' | ')}` }
  return { ...result, exit }
}

/** Put one key with the CLI, then time `runs` one-shot gets of it per variant. */
export async function cliFirstByte (relay: { url: string }, options: CliFirstByteOptions = {}): Promise<CliFirstByte> {
  const runs = options.runs ?? 20
  const timeout = options.timeout ?? 60_000
  const log = options.log ?? (() => {})
  const link = newRoomLink(relay.url)
  const put = await runOnceDirect([...COMMANDS.bin, 'put', link, 'bench', '"first byte"'], timeout)
  if (put !== 0) throw new Error(`CLI put for the bench failed (exit ${put})`)
  let wsTarget = 0
  const ws = await recordingProxy(() => wsTarget)
  const info = await relayInfoServer(relay.url, () => ws.port)
  wsTarget = info.wsPort
  const front = await recordingProxy(() => info.port)
  const variants = options.variants ?? ['bin']
  const rows = new Map<CliVariant, RunResult[]>(variants.map(v => [v, []]))
  const get = (variant: CliVariant): string[] => [...COMMANDS[variant], 'get', link, 'bench', '--relay', `http://127.0.0.1:${front.port}`]
  const out: CliFirstByte = {}
  try {
    // One unmeasured run each: the first start after a build fills V8's code cache.
    for (const variant of variants) await runOnce(get(variant), front, ws, timeout, 'first byte')
    // Variants take turns run by run, so load from anything else on the machine falls on each alike.
    for (let i = 0; i < runs; i++) {
      for (const variant of variants) {
        const row = await runOnce(get(variant), front, ws, timeout, 'first byte')
        rows.get(variant)?.push(row)
        log(`${variant} run ${i + 1}: first byte ${fmt(row.firstByte)} ms, first dial ${fmt(row.firstDial)} ms, exit ${fmt(row.exit)} ms${row.error != null ? ` (${row.error})` : ''}`)
      }
    }
    for (const [variant, all] of rows) {
      const ok = all.filter(r => r.error == null)
      out[variant] = {
        firstByte: summarize(ok.map(r => r.firstByte as number)),
        firstDial: summarize(ok.map(r => r.firstDial as number)),
        getExit: summarize(ok.map(r => r.exit as number)),
        runs,
        failures: all.length - ok.length,
        errors: all.flatMap(r => r.error != null ? [r.error] : [])
      }
    }
  } finally {
    await front.close()
    await ws.close()
    await new Promise(resolve => info.server.close(resolve))
  }
  return out
}

async function runOnceDirect (args: string[], timeout: number): Promise<number | null> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, DEBUG: '' }, stdio: 'ignore' })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
  const status = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(timer)
  return status
}

const fmt = (ms: number | undefined): string => ms == null ? '-' : String(round(ms))

/** Rows for stats.table(): one per variant and measure. */
export function cliFirstByteTable (result: CliFirstByte): string {
  const rows = [['CLI one-shot get (ms after spawn)', 'p50', 'p99', 'min', 'max', 'failed']]
  for (const [variant, r] of Object.entries(result)) {
    for (const [name, s] of [['first byte (relay info)', r.firstByte], ['first libp2p dial byte', r.firstDial], ['exit with value', r.getExit]] as const) {
      rows.push([`${variant}: ${name}`, fmt(s.p50), fmt(s.p99), fmt(s.min), fmt(s.max), `${r.failures}/${r.runs}`])
    }
  }
  return table(rows)
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { startRelayProcess, stopAll } = await import('../e2e/harness.ts')
  const runs = Number(process.argv[2] ?? 20)
  const variants = (process.argv.slice(3).length > 0 ? process.argv.slice(3) : ['bin', 'tsx']) as CliVariant[]
  const relay = await startRelayProcess()
  try {
    const result = await cliFirstByte(relay, { runs, variants, log: line => { process.stderr.write(`${line}\n`) } })
    console.log(cliFirstByteTable(result))
    for (const r of Object.values(result)) for (const e of new Set(r.errors)) console.log(`error: ${e}`)
  } finally {
    await stopAll()
  }
}
