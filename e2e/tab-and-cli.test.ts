/**
 * A browser tab and the Node CLI in one room: each sees the other's writes.
 * The CLI is a real peer (WebSockets to the relay, no WebRTC); live changes
 * reach it and the tab through the env.relay.
 */
import { spawn } from 'node:child_process'
import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { createRoom, joined, put as putInPage, rowValue, statuses } from './ui-driver.ts'

const env = useRelayAndBrowser()

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

test('a tab and a CLI peer see each other\'s writes', async () => {
  const page = await (await env.browser.newContext()).newPage()
  const link = await createRoom(page, env.relay.url)
  await joined(page)
  await expect.poll(() => page.evaluate(() => (globalThis as any).__roomkv.relay.status().phase), { timeout: 30_000 }).toBe('reserved')

  const put = await cli(['put', link, 'from-cli', '{"n":1}'])
  expect(put.code, put.stderr).toBe(0)
  await expect.poll(() => rowValue(page, 'from-cli').textContent(), { timeout: 30_000 }).toBe('{"n":1}')

  await putInPage(page, 'from-tab', 'hello CLI')
  await expect.poll(() => statuses(page), { timeout: 30_000 }).toMatch(/Saved "from-tab": stored on [1-9]/)

  const get = await cli(['get', link, 'from-tab', '--json'])
  expect(get.code, get.stderr).toBe(0)
  expect(JSON.parse(get.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ key: 'from-tab', value: 'hello CLI' })

  const list = await cli(['list', link])
  expect(list.code, list.stderr).toBe(0)
  expect(list.stdout).toContain('from-cli')
  expect(list.stdout).toContain('from-tab')
}, 300_000)
