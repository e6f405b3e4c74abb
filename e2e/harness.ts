/**
 * Real processes for end-to-end tests: the relay as its own Node process on
 * free ports with a temporary data dir, and Debian chromium driven by
 * playwright-core. Everything started here is stopped in `stopAll`, which
 * the tests call from afterAll and which also runs on process exit.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Host ICE candidates as plain IPs (no mDNS), and no name lookups leave this machine.
  // The WebUIOmnibox* features: headless Chromium 156 builds every new
  // window's omnibox popup as a WebUI page (chrome://omnibox-popup.top-chrome)
  // in a renderer of its own, ~1 s of one core per browser context, which a
  // test or bench opens for every tab; on two cores it slowed the tab under
  // test by a third (trace of a join: first direct peer ~950 -> ~620 ms).
  // Browser chrome, not the page: a user's link opens in a window that has it.
  '--disable-features=WebRtcHideLocalIpsWithMdns,WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'
]

export interface RelayProcess {
  url: string
  peerId: string
  dataDir: string
  output(): string
  stop(): Promise<void>
  /** Send a signal (e.g. SIGKILL for a crash test) and wait for the exit; resolves with the signal that ended it. */
  kill(signal: NodeJS.Signals): Promise<NodeJS.Signals | null>
}

const cleanups = new Set<() => Promise<void>>()
const children = new Set<ChildProcess>()
process.once('exit', () => { for (const child of children) child.kill('SIGKILL') })

export async function startRelayProcess (options: { dataDir?: string, args?: string[] } = {}): Promise<RelayProcess> {
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'roomkv-e2e-'))
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts', '--port', '0', '--p2p-port', '0', '--data-dir', dataDir, ...(options.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBUG: process.env.RELAY_DEBUG ?? '' }
  })
  children.add(child)
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => { children.delete(child); resolve() }))
  const started = await new Promise<{ url: string, peerId: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start in 30 s:\n${output}`)), 30_000)
    const check = (): void => {
      const url = /web app:\s+(\S+)/.exec(output)?.[1]
      const peerId = /peer id:\s+(\S+)/.exec(output)?.[1]
      if (url != null && peerId != null) { clearTimeout(timer); resolve({ url, peerId }) }
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`relay exited with ${code}:\n${output}`)) })
  })
  const stop = async (): Promise<void> => {
    cleanups.delete(stop)
    if (child.exitCode == null && child.signalCode == null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    if (options.dataDir == null) await rm(dataDir, { recursive: true, force: true })
  }
  cleanups.add(stop)
  const kill = async (signal: NodeJS.Signals): Promise<NodeJS.Signals | null> => {
    if (child.exitCode == null && child.signalCode == null) child.kill(signal)
    await exited
    return child.signalCode
  }
  return { ...started, dataDir, output: () => output, stop, kill }
}

export async function launchBrowser (): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  const close = async (): Promise<void> => { cleanups.delete(close); await browser.close().catch(() => {}) }
  cleanups.add(close)
  return browser
}

export async function stopAll (): Promise<void> {
  await Promise.allSettled([...cleanups].map(async cleanup => { await cleanup() }))
}

/**
 * The usual fixture of a test file: one relay process and one browser for the
 * whole file, both stopped after it. Read `relay` and `browser` inside tests.
 */
export function useRelayAndBrowser (): { readonly relay: RelayProcess, readonly browser: Browser } {
  let relay: RelayProcess | undefined
  let browser: Browser | undefined
  beforeAll(async () => {
    relay = await startRelayProcess()
    browser = await launchBrowser()
  })
  afterAll(async () => { await stopAll() })
  return {
    get relay () { if (relay == null) throw new Error('relay not started'); return relay },
    get browser () { if (browser == null) throw new Error('browser not started'); return browser }
  }
}

/** A TCP port free on 127.0.0.1 right now (for a relay that must come back on the same ports). */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address != null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

/**
 * A page script: countedWorkers(url) makes Workers of `url` through its
 * `create` and counts what happens to them: `started` Workers, messages
 * `posted` to them (work they were given), `ready` messages from them. A
 * test tells work a Worker did from work the page did itself.
 */
export const COUNTED_WORKERS_SCRIPT = 'globalThis.countedWorkers = (url) => { const c = { started: 0, posted: 0, ready: 0, create: () => { c.started++; const worker = new Worker(url); const post = worker.postMessage.bind(worker); worker.postMessage = (...args) => { c.posted++; return post(...args) }; worker.addEventListener("message", (event) => { if (event.data?.ready === true) c.ready++ }); return worker } }; return c }'

declare global {
  /** Installed in the page by COUNTED_WORKERS_SCRIPT. */
  function countedWorkers (url: string): { started: number, posted: number, ready: number, create: () => Worker }
}
