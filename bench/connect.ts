/**
 * Connect phase breakdown: where the time from page open to the first
 * direct peer goes, so a regression shows which step got slower. Each run
 * opens tab A in a fresh room, waits for its reservation, then opens tab B
 * and reads B's `client.phases()` (ms since B's navigation start) once B has
 * a direct member. Also times a CLI one-shot command: process start ->
 * relay connected, from the command's own phases (`roomkv doctor`).
 */
import { spawn } from 'node:child_process'
import type { Browser } from 'playwright-core'
import type { RelayProcess } from '../e2e/harness.ts'
import { newRoomLink, openTab, withTimeout, type Tab } from './browser.ts'
import { summarize, type Summary } from './stats.ts'

/** The join steps in order (shared/join-phases.ts), each measured from the one before. */
const STEPS = ['scriptLoaded', 'joinStarted', 'keysDerived', 'relayInfo', 'nodeStarted', 'relayConnected', 'reserved', 'membersKnown', 'direct', 'synced'] as const

export interface ConnectRun {
  /** B's phases, ms since its navigation start. */
  phases?: Record<string, number>
  error?: string
}

export interface ConnectBreakdown {
  runs: number
  failures: number
  /** Per phase: ms since navigation start (`at`) and ms since the previous phase (`step`). */
  phases: Record<string, { at: Summary, step: Summary }>
  /** The first direct peer, ms since navigation start. */
  direct: Summary
  errors: string[]
}

async function connectRun (browser: Browser, relay: RelayProcess, timeout: number): Promise<ConnectRun> {
  const link = newRoomLink(relay.url)
  const tabs: Tab[] = []
  const phasesOf = async (tab: Tab): Promise<Record<string, number> | undefined> =>
    tab.page.evaluate(() => (globalThis as any).__roomkv?.phases())
  try {
    const a = await openTab(browser, 'A', link)
    tabs.push(a)
    await a.page.waitForFunction(() => (globalThis as any).__roomkv?.phases().reserved != null, null, { timeout, polling: 20 })
    const b = await openTab(browser, 'B', link)
    tabs.push(b)
    await b.page.waitForFunction(() => (globalThis as any).__roomkv?.phases().direct != null, null, { timeout, polling: 20 })
    // The first sync usually lands before `direct`; give it a moment when it does not.
    await b.page.waitForFunction(() => (globalThis as any).__roomkv?.phases().synced != null, null, { timeout: 2000, polling: 20 }).catch(() => {})
    return { phases: await phasesOf(b) }
  } catch (err: any) {
    const last = tabs.at(-1)
    const phases = last != null ? await withTimeout(phasesOf(last), 2000, 'phases').catch(() => undefined) : undefined
    return { phases, error: `${err.message.split('\n')[0]}; phases so far: ${JSON.stringify(phases)}` }
  } finally {
    await Promise.all(tabs.map(async t => { await t.close() }))
  }
}

export async function connectBreakdown (browser: Browser, relay: RelayProcess, options: { runs: number, timeout?: number, log?: (line: string) => void }): Promise<ConnectBreakdown> {
  const results: ConnectRun[] = []
  for (let run = 1; run <= options.runs; run++) {
    const result = await connectRun(browser, relay, options.timeout ?? 30_000)
    results.push(result)
    options.log?.(`connect phases, run ${run}/${options.runs}: ${result.error ?? JSON.stringify(result.phases)}`)
  }
  const ok = results.filter(r => r.error == null && r.phases != null)
  const phases: ConnectBreakdown['phases'] = {}
  for (const [i, step] of STEPS.entries()) {
    const at = ok.flatMap(r => r.phases?.[step] != null ? [r.phases[step]] : [])
    // Steps can overlap (members may be known before the reservation): a step
    // is measured from the latest earlier phase that happened before it.
    const delta = ok.flatMap((r) => {
      const here = r.phases?.[step]
      if (here == null) return []
      const before = STEPS.slice(0, i).map(s => r.phases?.[s]).filter((t): t is number => t != null && t <= here)
      return [here - (before.length > 0 ? Math.max(...before) : 0)]
    })
    if (at.length > 0) phases[step] = { at: summarize(at), step: summarize(delta) }
  }
  return {
    runs: results.length,
    failures: results.length - ok.length,
    phases,
    direct: summarize(ok.flatMap(r => r.phases?.direct != null ? [r.phases.direct] : [])),
    errors: results.flatMap(r => r.error != null ? [r.error] : [])
  }
}

export interface CliConnect {
  /** Process start -> relay connected / reserved / first sync, ms (the command's own phases). */
  relayConnected: Summary
  reserved: Summary
  synced: Summary
  /** Wall time of the whole command, ms. */
  wall: Summary
  failures: number
}

/** `roomkv doctor LINK` runs, each a fresh process: its report carries its phases. */
export async function cliConnect (relay: RelayProcess, runs: number): Promise<CliConnect> {
  const rows: Array<{ phases: Record<string, number>, wall: number }> = []
  let failures = 0
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now()
    // What users run: the bin, which runs the prebuilt bundle (scripts/build-cli.mjs).
    const child = spawn(process.execPath, ['bin/roomkv.mjs', 'doctor', newRoomLink(relay.url)], { env: { ...process.env, DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const status = await new Promise<number | null>(resolve => child.once('close', resolve))
    clearTimeout(timer)
    try {
      if (status !== 0) throw new Error(`exit ${status}`)
      rows.push({ phases: JSON.parse(stdout).phases, wall: Date.now() - t0 })
    } catch {
      failures++
    }
  }
  const pick = (name: string): number[] => rows.flatMap(r => r.phases[name] != null ? [r.phases[name]] : [])
  return { relayConnected: summarize(pick('relayConnected')), reserved: summarize(pick('reserved')), synced: summarize(pick('synced')), wall: summarize(rows.map(r => r.wall)), failures }
}
