/**
 * The web app as people use it: start screen, sharing, the typed editor,
 * the key list and detail view, at desktop and phone sizes. Every locator
 * is a role or a label (rows are list items named by their key).
 */
import { expect, test } from 'vitest'
import { useRelayAndBrowser } from './harness.ts'
import { alerts, createRoom, editor, horizontalOverflow, joined, put, row, rowValue, screenshots, statuses, stored } from './ui-driver.ts'

const env = useRelayAndBrowser()

test('create, copy the link, a second person opens it and edits, the first sees the edit; recent rooms', async () => {
  const contextA = await env.browser.newContext()
  await contextA.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.relay.url })
  const a = await contextA.newPage()
  await a.goto(env.relay.url)
  await screenshots(a, 'start-empty')
  const link = await createRoom(a, env.relay.url, 'Team notes')
  await expect.poll(() => a.getByRole('heading', { level: 1 }).textContent()).toBe('Team notes')

  await a.getByRole('button', { name: 'Copy link' }).click()
  await expect.poll(() => statuses(a)).toContain('Link copied')
  expect(await a.evaluate(() => navigator.clipboard.readText())).toBe(link)

  await joined(a)
  await put(a, 'greeting', 'hello from A')
  await expect.poll(() => rowValue(a, 'greeting').textContent(), { timeout: 15_000 }).toBe('hello from A')

  const b = await (await env.browser.newContext()).newPage()
  await b.goto(link)
  await expect.poll(() => rowValue(b, 'greeting').textContent(), { timeout: 60_000 }).toBe('hello from A')
  // B names the room on its device (A's name stays A's).
  await b.getByRole('button', { name: 'Name this room' }).click()
  await b.getByRole('textbox', { name: 'Room name' }).fill('From A')
  await b.getByRole('button', { name: 'Save name' }).click()
  await expect.poll(() => b.getByRole('heading', { level: 1 }).textContent()).toBe('From A')
  await b.getByRole('button', { name: 'Edit greeting' }).click()
  const value = editor(b).getByLabel('Value', { exact: true })
  expect(await value.inputValue()).toBe('hello from A')
  await value.fill('edited by B')
  await b.getByRole('button', { name: 'Save' }).click()
  await expect.poll(() => statuses(b)).toMatch(/Saved "greeting"/)
  await expect.poll(() => rowValue(a, 'greeting').textContent(), { timeout: 60_000 }).toBe('edited by B')
  await expect.poll(() => statuses(a), { timeout: 30_000 }).toMatch(/Online, \d+ people here/)
  await screenshots(a, 'room')

  // The link as a QR code, for a phone.
  await a.getByRole('button', { name: 'QR code' }).click()
  const qr = a.getByRole('figure', { name: 'Scan to open this room on a phone.' })
  expect(await qr.locator('svg').count()).toBe(1)
  await screenshots(a, 'share-qr')
  await a.getByRole('button', { name: 'Hide QR code' }).click()

  // Status details: the technical view and the connection check, copied as a report.
  await a.getByText('Connection details', { exact: true }).click()
  await a.getByRole('button', { name: 'Check connection' }).click()
  await a.getByRole('button', { name: 'Copy diagnostic report' }).click()
  await expect.poll(() => statuses(a)).toContain('Report copied')
  const report = JSON.parse(await a.evaluate(() => navigator.clipboard.readText()))
  expect(report.peerId).toBe(await a.evaluate(() => (globalThis as any).__roomkv.node.peerId.toString()))
  await screenshots(a, 'status-details')
  await a.getByText('Connection details', { exact: true }).click()

  // Home: the room is in the recent list, reopens, and can be forgotten.
  await a.getByRole('link', { name: 'roomkv: start page' }).click()
  await expect.poll(() => a.getByRole('link', { name: 'Team notes' }).count()).toBe(1)
  expect(await a.evaluate(() => (globalThis as any).__roomkv)).toBeUndefined() // the room's node was closed
  await screenshots(a, 'start')
  await a.getByRole('link', { name: 'Team notes' }).click()
  await expect.poll(() => rowValue(a, 'greeting').textContent(), { timeout: 30_000 }).toBe('edited by B')
  await a.getByRole('link', { name: 'roomkv: start page' }).click()
  await a.getByRole('button', { name: 'Forget Team notes' }).click()
  expect(await a.getByRole('link', { name: 'Team notes' }).count()).toBe(0)
  await contextA.close()
})

test('typed values: a number stays a number, JSON an object; invalid input is refused before saving', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await createRoom(page, env.relay.url)
  await joined(page)

  await put(page, 'count', '42', 'Number')
  await put(page, 'done', 'false', 'True / false')
  await put(page, 'person', '{"name": "Ada", "tags": [1, 2]}', 'JSON')
  await put(page, 'label', '42')
  await expect.poll(() => stored(page, 'label'), { timeout: 15_000 }).toMatchObject({ value: '42' })
  expect(await stored(page, 'count')).toMatchObject({ value: 42 })
  expect(await stored(page, 'done')).toMatchObject({ value: false })
  expect(await stored(page, 'person')).toMatchObject({ value: { name: 'Ada', tags: [1, 2] } })
  await expect.poll(() => rowValue(page, 'person').textContent()).toBe('{"name":"Ada","tags":[1,2]}')

  // Edit keeps the type: the editor opens as a number.
  await page.getByRole('button', { name: 'Edit count' }).click()
  expect(await editor(page).getByLabel('Type').inputValue()).toBe('number')
  await editor(page).getByLabel('Value', { exact: true }).fill('forty')
  await page.getByRole('button', { name: 'Save' }).click()
  await expect.poll(() => editor(page).textContent()).toContain('Not a number')
  await put(page, 'broken', '{"name": ', 'JSON')
  await expect.poll(() => editor(page).textContent()).toContain('Not valid JSON')
  expect(await stored(page, 'broken')).toBeNull()
  expect(await stored(page, 'count')).toMatchObject({ value: 42 })

  // Deleting a key that was never set says so; a row's delete can be undone.
  await page.getByRole('button', { name: 'Clear' }).click()
  await editor(page).getByLabel('Key', { exact: true }).fill('never-set')
  await page.getByRole('button', { name: 'Delete key' }).click()
  await expect.poll(() => alerts(page)).toContain('"never-set" is not set: nothing to delete')
  await page.getByRole('button', { name: 'Delete person' }).click()
  await expect.poll(() => row(page, 'person').count()).toBe(0)
  expect(await alerts(page)).toBe('') // cleared when the next action started
  await page.getByRole('button', { name: 'Undo' }).click()
  await expect.poll(() => stored(page, 'person')).toMatchObject({ value: { name: 'Ada', tags: [1, 2] }, deleted: false })
  await expect.poll(() => row(page, 'person').count()).toBe(1)

  // A key with a time to live leaves the list when it expires.
  await put(page, 'short-lived', 'soon gone', 'Text', 2)
  await expect.poll(() => row(page, 'short-lived').textContent()).toMatch(/expires in \d s/)
  await expect.poll(() => row(page, 'short-lived').count(), { timeout: 10_000 }).toBe(0)

  // Keys named like paths group by their first segment; a group is a prefix filter.
  await put(page, 'settings/theme', 'dark')
  await put(page, 'settings/lang', 'en')
  await page.getByRole('navigation', { name: 'Key groups' }).getByRole('button', { name: 'Keys under settings/' }).click()
  await expect.poll(() => page.getByRole('heading', { name: /^Keys/ }).textContent()).toMatch(/2 keys of 6/)
  await page.getByRole('button', { name: 'Up to all keys' }).click()
  await expect.poll(() => page.getByRole('heading', { name: /^Keys/ }).textContent()).toMatch(/6 keys$/)

  // The detail view shows the whole value, its type and writer.
  await page.getByRole('button', { name: 'Open count' }).click()
  const dialog = page.getByRole('dialog', { name: 'Key count' })
  expect(await dialog.getByLabel('Value', { exact: true }).textContent()).toBe('42')
  expect(await dialog.textContent()).toMatch(/Type\s*number/)
  expect(await dialog.textContent()).toMatch(/Written by\s*you/)
  await screenshots(page, 'detail')
  await page.keyboard.press('Escape')
  await expect.poll(() => dialog.count()).toBe(0)
})

test('a malformed link explains itself; the join box opens a pasted link', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await page.goto(`${env.relay.url}/#v1.dG9vLXNob3J0`)
  await expect.poll(() => alerts(page), { timeout: 15_000 }).toMatch(/room link is not valid.*truncated/i)
  expect(await page.evaluate(() => (globalThis as any).__roomkv)).toBeUndefined()
  await screenshots(page, 'bad-link')

  const join = page.getByRole('textbox', { name: 'Room link' })
  await join.fill('https://example.org/no-fragment')
  await page.getByRole('button', { name: 'Join' }).click()
  await expect.poll(() => page.getByText('has no #fragment').count()).toBe(1)
  const other = await (await env.browser.newContext()).newPage()
  const link = await createRoom(other, env.relay.url)
  await join.fill(link.slice(link.indexOf('#')))
  await page.getByRole('button', { name: 'Join' }).click()
  await expect.poll(() => page.getByRole('textbox', { name: 'Room link' }).inputValue(), { timeout: 15_000 }).toBe(link)
})

test('a 30 KiB value without spaces never widens the page at 390 px, in the list or the detail view', async () => {
  const context = await env.browser.newContext({ viewport: { width: 390, height: 844 } })
  const page = await context.newPage()
  await createRoom(page, env.relay.url)
  await joined(page)
  const long = 'x'.repeat(30 * 1024)
  await put(page, 'long', long)
  const longKey = 'a-very-long-key-' + 'k'.repeat(200)
  await put(page, longKey, 'short')
  await expect.poll(() => row(page, 'long').count(), { timeout: 15_000 }).toBe(1)
  await expect.poll(() => row(page, longKey).count(), { timeout: 15_000 }).toBe(1)
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0)
  await page.setViewportSize({ width: 360, height: 740 }) // the narrowest phones in use
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0)
  await screenshots(page, 'long-value')
  await page.getByRole('button', { name: 'Open long' }).click()
  const dialog = page.getByRole('dialog', { name: 'Key long' })
  expect((await dialog.getByLabel('Value', { exact: true }).textContent())?.length).toBe(long.length)
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0)
  const box = await dialog.boundingBox()
  expect(box != null && box.x >= 0 && box.x + box.width <= 390).toBe(true)
})

test('a 10,000-key room: the list stays virtual, filters by prefix and scrolls to the end', async () => {
  const page = await (await env.browser.newContext()).newPage()
  await createRoom(page, env.relay.url)
  await joined(page)
  const count = 10_000
  // Local writes only (node stopped): the list is what is measured here, not the network.
  await page.evaluate(async (count) => {
    const roomkv = (globalThis as any).__roomkv
    await roomkv.node.stop()
    const keys = Array.from({ length: count }, (_, i) => `k${String(i).padStart(5, '0')}`)
    for (let i = 0; i < keys.length; i += 250) await Promise.all(keys.slice(i, i + 250).map(async key => roomkv.session.put(key, `value of ${key}`)))
  }, count)
  const heading = page.getByRole('heading', { name: /^Keys/ })
  await expect.poll(() => heading.textContent(), { timeout: 120_000, interval: 1000 }).toContain('10,000 keys')
  const list = page.getByRole('list', { name: 'Keys' })
  expect(await list.getByRole('listitem').count()).toBeLessThan(100) // virtual: only what is on screen

  await page.getByRole('searchbox', { name: 'Filter keys by prefix' }).fill('k098')
  await expect.poll(() => heading.textContent()).toContain('100 keys of 10,000')
  await list.evaluate(el => { el.scrollTop = el.scrollHeight })
  await expect.poll(() => rowValue(page, 'k09899').textContent()).toBe('value of k09899')

  await page.getByRole('searchbox', { name: 'Filter keys by prefix' }).fill('')
  await page.getByRole('combobox', { name: 'Sort keys' }).selectOption({ label: 'Key Z–A' })
  await list.evaluate(el => { el.scrollTop = 0 })
  await expect.poll(() => rowValue(page, 'k09999').textContent()).toBe('value of k09999')
  await list.evaluate(el => { el.scrollTop = el.scrollHeight })
  await expect.poll(() => rowValue(page, 'k00000').textContent()).toBe('value of k00000')
  expect(await list.getByRole('listitem').count()).toBeLessThan(100)
}, 300_000)

test('export a room as JSON, import it into a new room: identical data, types and all', async () => {
  const context = await env.browser.newContext({ acceptDownloads: true })
  const page = await context.newPage()
  await createRoom(page, env.relay.url, 'Source')
  await joined(page)
  await page.evaluate(async () => {
    const session = (globalThis as any).__roomkv.session
    await session.put('n', 42)
    await session.put('o', { name: 'Ada', tags: ['x', 'y'] })
    await session.put('b', true)
    await session.put('s', 'text with "quotes"')
    await session.put('ttl', 'for a while', { ttl: 600_000 })
  })
  await expect.poll(() => page.getByRole('heading', { name: /^Keys/ }).textContent(), { timeout: 15_000 }).toContain('5 keys')
  await page.getByText('Import / export').click()
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /^Export 5 keys/ }).click()])
  const file = await download.path()
  const source = await page.evaluate(async () => (await (globalThis as any).__roomkv.session.list()).map((e: any) => ({ key: e.key, value: e.value, expires: e.expiresAt > 0 })))

  const target = await context.newPage()
  await createRoom(target, env.relay.url, 'Copy')
  await joined(target)
  await target.evaluate(async () => { await (globalThis as any).__roomkv.session.put('n', 1) }) // one key differs before the import
  await expect.poll(() => rowValue(target, 'n').textContent(), { timeout: 15_000 }).toBe('1')
  await target.getByText('Import / export').click()
  await target.getByLabel('Import from a file').setInputFiles(file)
  const plan = target.getByRole('region', { name: 'Import plan' })
  await expect.poll(() => plan.textContent()).toMatch(/4 new, 1 changed \(replaced\), 0 unchanged/)
  await plan.getByRole('button', { name: 'Import 5 keys' }).click()
  await expect.poll(() => statuses(target), { timeout: 30_000 }).toMatch(/Imported 5 keys/)
  const copied = await target.evaluate(async () => (await (globalThis as any).__roomkv.session.list()).map((e: any) => ({ key: e.key, value: e.value, expires: e.expiresAt > 0 })))
  expect(copied).toEqual(source)

  // A file that is not an export is refused, nothing written.
  await target.getByLabel('Import from a file').setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"keys": 1}') })
  await expect.poll(() => alerts(target)).toContain('This is not a roomkv export file')
  await context.close()
})

test('leaving a room while it is still joining leaves no node behind (no relay connection stays open)', async () => {
  const context = await env.browser.newContext()
  await context.addInitScript(() => {
    // Count the page's WebSockets (libp2p's relay connections): opened ever, and open now.
    const Native = WebSocket
    const all = new Set<WebSocket>()
    ;(globalThis as any).__sockets = () => ({ ever: all.size, open: [...all].filter(s => s.readyState <= 1).length })
    ;(globalThis as any).WebSocket = class extends Native {
      constructor (...args: ConstructorParameters<typeof WebSocket>) {
        super(...args)
        all.add(this)
      }
    }
    // Slow the join down (the room key derivation imports an Ed25519 pkcs8 key) so leaving surely happens before it finishes.
    const subtle = crypto.subtle
    const importKey = subtle.importKey.bind(subtle)
    ;(subtle as any).importKey = async (...args: Parameters<SubtleCrypto['importKey']>) => {
      if (args[0] === 'pkcs8') await new Promise(resolve => setTimeout(resolve, 1500))
      return importKey(...args)
    }
  })
  const page = await context.newPage()
  await page.goto(env.relay.url)
  await page.getByRole('button', { name: 'Create room' }).click()
  await page.getByRole('link', { name: 'roomkv: start page' }).click()
  await expect.poll(() => page.getByRole('button', { name: 'Create room' }).count()).toBe(1)
  const mark = (name: string) => page.evaluate((n) => performance.getEntriesByName(n).length, name)
  expect(await mark('roomkv:keysDerived')).toBe(0) // still joining when we left
  // The join finishes in the background (its steps are performance marks); then its node must be closed.
  await expect.poll(() => mark('roomkv:keysDerived'), { timeout: 30_000 }).toBe(1)
  // A node left running keeps its relay WebSocket open; give the close ample time to show.
  await page.waitForTimeout(3000)
  expect(await page.evaluate(() => (globalThis as any).__sockets().open)).toBe(0)
  expect(await page.evaluate(() => (globalThis as any).__roomkv)).toBeUndefined()
  await context.close()
})
