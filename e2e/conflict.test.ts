/**
 * Offline edits and conflicts between two real tabs. "Offline" = the tab's
 * libp2p node is stopped (no relay, no WebRTC); writes then go to IndexedDB
 * only, and the reload brings the tab back online with them. Conflicts are
 * resolved in the detail view ("Keep this"), and checked through the SDK
 * and the CLI.
 */
import { spawn } from 'node:child_process'
import { expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { useRelayAndBrowser } from './harness.ts'
import { createRoom, goOffline, joined, put, row, rowValue, screenshots, statuses, stored, waitForDirectPeer } from './ui-driver.ts'

const env = useRelayAndBrowser()

/** The "N versions" badge of a row: present while the key has a conflict to show. */
const conflictBadge = (page: Page, key: string) => row(page, key).getByText(/^\d+ versions$/)
const detail = (page: Page, key: string) => page.getByRole('dialog', { name: `Key ${key}` })

async function twoTabs (): Promise<[Page, Page, string]> {
  const a = await (await env.browser.newContext()).newPage()
  const b = await (await env.browser.newContext()).newPage()
  const link = await createRoom(a, env.relay.url)
  await b.goto(link)
  for (const page of [a, b]) await waitForDirectPeer(page)
  return [a, b, link]
}

function cli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

test('edits made offline are kept and reach the other tab after reconnecting', async () => {
  const [a, b] = await twoTabs()
  await goOffline(b)
  await put(b, 'offline-edit', 'written offline')
  await expect.poll(() => statuses(b)).toMatch(/kept on this device/)
  await expect.poll(() => rowValue(b, 'offline-edit').textContent()).toBe('written offline')
  expect(await row(a, 'offline-edit').count()).toBe(0)

  await b.reload() // back online with what IndexedDB kept
  await expect.poll(() => rowValue(a, 'offline-edit').textContent(), { timeout: 60_000 }).toBe('written offline')
})

test('concurrent writes to one key show the same winner and the conflict on both tabs, until resolved', async () => {
  const [a, b] = await twoTabs()
  await goOffline(a)
  await put(a, 'colour', 'red from A')
  await put(b, 'colour', 'blue from B')
  await expect.poll(() => rowValue(a, 'colour').textContent()).toBe('red from A')
  await a.reload()

  for (const page of [a, b]) await expect.poll(() => conflictBadge(page, 'colour').count(), { timeout: 60_000 }).toBe(1)
  const winnerA = await rowValue(a, 'colour').textContent()
  const winnerB = await rowValue(b, 'colour').textContent()
  expect(winnerA).toBe(winnerB)
  expect(['red from A', 'blue from B']).toContain(winnerA)
  // Both versions side by side in the detail view, the shown one first.
  for (const page of [a, b]) {
    await page.getByRole('button', { name: 'Open colour' }).click()
    const values = await detail(page, 'colour').getByLabel(/^Value of version/).allTextContents()
    expect(values).toEqual(winnerA === 'red from A' ? ['red from A', 'blue from B'] : ['blue from B', 'red from A'])
    await detail(page, 'colour').getByRole('button', { name: 'Close' }).click()
  }

  await put(b, 'colour', 'green, agreed')
  for (const page of [a, b]) {
    await expect.poll(() => rowValue(page, 'colour').textContent(), { timeout: 30_000 }).toBe('green, agreed')
    await expect.poll(() => conflictBadge(page, 'colour').count()).toBe(0)
  }
})

test('"Keep this" writes exactly the chosen version: an object stays an object, a deletion stays a deletion (SDK and CLI agree)', async () => {
  const [a, b, link] = await twoTabs()
  const sessionPut = async (page: Page, key: string, v: unknown): Promise<void> => {
    await page.evaluate(async ([k, val]) => { await (globalThis as any).__roomkv.session.put(k, val) }, [key, v] as const)
  }
  const sessionDelete = async (page: Page, key: string): Promise<void> => {
    await page.evaluate(async (k) => { await (globalThis as any).__roomkv.session.delete(k) }, key)
  }

  // Two concurrent versions: an object on A (offline), a number on B; a deletion on A, text on B.
  await sessionPut(a, 'shape', 1)
  await sessionPut(b, 'gone', 'here')
  for (const page of [a, b]) await expect.poll(() => stored(page, 'gone'), { timeout: 30_000 }).toMatchObject({ value: 'here' })
  await goOffline(a)
  await sessionPut(a, 'shape', { sides: 4 })
  await sessionPut(b, 'shape', 3)
  await sessionDelete(a, 'gone')
  await sessionPut(b, 'gone', 'still here')
  await a.reload()
  await joined(a)
  for (const page of [a, b]) {
    for (const key of ['shape', 'gone']) await expect.poll(() => conflictBadge(page, key).count(), { timeout: 60_000 }).toBe(1)
  }
  await b.getByRole('button', { name: 'Open shape' }).click()
  await screenshots(b, 'conflict')

  // Keep the object version of "shape" and the deletion of "gone", whichever side each is on.
  for (const [key, wanted] of [['shape', /"sides": 4/], ['gone', /^Deleted$/]] as const) {
    if (!await detail(b, key).isVisible()) await b.getByRole('button', { name: `Open ${key}` }).click()
    const versions = detail(b, key).getByRole('article')
    const texts = await versions.allTextContents()
    const index = texts.findIndex(t => wanted.test(t.split('Type')[0].replace(/^Version \d+( \(shown now\))?/, '').trim()))
    expect(index, texts.join(' / ')).toBeGreaterThanOrEqual(0)
    await detail(b, key).getByRole('button', { name: `Keep this (version ${index + 1})` }).click()
    await expect.poll(() => detail(b, key).getByRole('article').count(), { timeout: 30_000 }).toBe(0)
    await detail(b, key).getByRole('button', { name: 'Close' }).click()
  }

  for (const page of [b, a]) {
    await expect.poll(() => stored(page, 'shape'), { timeout: 30_000 }).toEqual({ value: { sides: 4 }, deleted: false, conflicts: 0 })
    await expect.poll(() => stored(page, 'gone'), { timeout: 30_000 }).toBeNull()
    await expect.poll(() => row(page, 'gone').count()).toBe(0)
    await expect.poll(() => rowValue(page, 'shape').textContent()).toBe('{"sides":4}')
  }
  const shape = await cli(['get', link, 'shape', '--json'])
  expect(shape.code, shape.stderr).toBe(0)
  expect(JSON.parse(shape.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ key: 'shape', value: { sides: 4 } })
  const list = await cli(['list', link])
  expect(list.code, list.stderr).toBe(0)
  expect(list.stdout).toContain('shape')
  expect(list.stdout).not.toContain('gone')
}, 300_000)
