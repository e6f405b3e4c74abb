/**
 * The CLI peer (`roomkv <command>`, cli/main.ts) as a user runs it: separate
 * processes against a real relay process on loopback.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'
import { formatRoomLink, parseRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
import type { KeyEntry } from '../../shared/room.ts'
import { jsonFormatter, parseValue, textFormatter } from '../../cli/format.ts'
import { parseReplLine } from '../../cli/repl.ts'

interface Result { status: number | null, stdout: string, stderr: string }

const children = new Set<ChildProcessWithoutNullStreams>()

function start (args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env: { ...process.env, DEBUG: '' } })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  return child
}

/** Run the CLI to completion (killed after `timeout`), optionally with stdin. */
async function cli (args: string[], options: { input?: string, timeout?: number } = {}): Promise<Result> {
  const child = start(args)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 90_000)
  const status = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

/** A REPL that keeps running: feed it lines, wait for output. */
function replProcess (link: string): { child: ChildProcessWithoutNullStreams, output: () => string, waitFor: (pattern: RegExp, timeout?: number) => Promise<RegExpMatchArray> } {
  const child = start(['repl', link])
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const waitFor = async (pattern: RegExp, timeout = 60_000): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeout
    for (;;) {
      const match = pattern.exec(output)
      if (match != null) return match
      if (Date.now() > deadline || child.exitCode != null) throw new Error(`no ${pattern} in REPL output:\n${output}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  return { child, output: () => output, waitFor }
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return port
}

const jsonLines = (text: string): any[] => text.trim().split('\n').filter(Boolean).map(l => JSON.parse(l))

let relay: RelayProcess
let watcher: ReturnType<typeof replProcess>
let watchedLink: string

beforeAll(async () => {
  relay = await startRelayProcess()
  // Started first because a Node peer learns other peers' writes at its next
  // sync with the relay (every 30 s): the last test checks it saw one.
  watchedLink = formatRoomLink(relay.url, newRoomSecret())
  watcher = replProcess(watchedLink)
  await watcher.waitFor(/joined room/)
  const put = await cli(['put', watchedLink, 'news', 'fresh'])
  expect(put.status, put.stderr).toBe(0)
}, 240_000)

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  await relay?.stop()
})

const room = (): string => formatRoomLink(relay.url, newRoomSecret())

describe('one-shot commands', { timeout: 240_000 }, () => {
  test('new-room prints a link parseRoomLink accepts, for the given relay', async () => {
    const plain = await cli(['new-room'])
    expect(plain.status).toBe(0)
    expect(parseRoomLink(plain.stdout.trim()).origin).toBe('http://127.0.0.1:8080')
    const custom = await cli(['new-room', '--relay', 'https://relay.example.com/app/', '--json'])
    expect(custom.status).toBe(0)
    const { link, roomId } = JSON.parse(custom.stdout)
    expect(parseRoomLink(link).origin).toBe('https://relay.example.com')
    expect(roomId).toMatch(/^[a-z2-7]{26}$/)
  })

  test('put then get, in separate processes, returns the value; JSON values stay JSON', async () => {
    const link = room()
    const put = await cli(['put', link, 'colour', '{"name":"teal"}'])
    expect(put.stderr).toBe('')
    expect(put.stdout).toBe('stored "colour" on 1 peer\n')
    expect(put.status).toBe(0)
    const get = await cli(['get', link, 'colour'])
    expect(get.stdout).toBe('colour = {"name":"teal"}\n')
    expect(get.status).toBe(0)
  })

  test('--json output parses; list --prefix picks keys', async () => {
    const link = room()
    const puts = await Promise.all([
      cli(['put', link, 'a/one', 'hello', '--json']),
      cli(['put', link, 'a/two', '2', '--json']),
      cli(['put', link, 'b/three', 'true', '--json'])
    ])
    for (const put of puts) expect(put.status, put.stderr).toBe(0)
    const stored = JSON.parse(puts[0].stdout)
    expect(stored).toMatchObject({ key: 'a/one', peers: 1, storedOn: [relay.peerId] })
    expect(stored.id).toMatch(/^[0-9a-f]{32}$/)

    const [list, text, get] = await Promise.all([
      cli(['list', link, '--prefix', 'a/', '--json']),
      cli(['list', link]),
      cli(['get', link, 'a/one', '--json'])
    ])
    expect(list.status, list.stderr).toBe(0)
    expect(jsonLines(list.stdout).map(e => [e.key, e.value])).toEqual([['a/one', 'hello'], ['a/two', 2]])
    expect(text.stdout).toBe('a/one\t"hello"\na/two\t2\nb/three\ttrue\n')
    expect(JSON.parse(get.stdout)).toMatchObject({ key: 'a/one', found: true, value: 'hello' })
  })

  test('del then get says the key is not set (exit 0)', async () => {
    const link = room()
    expect((await cli(['put', link, 'gone', 'soon'])).status).toBe(0)
    const del = await cli(['del', link, 'gone'])
    expect(del.stdout).toBe('deleted "gone" on 1 peer\n')
    expect(del.status).toBe(0)
    const [get, json, list] = await Promise.all([
      cli(['get', link, 'gone']),
      cli(['get', link, 'gone', '--json']),
      cli(['list', link])
    ])
    expect(get.stdout).toBe('"gone" is not set\n')
    expect(get.status).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({ key: 'gone', found: false })
    expect(list.stdout).toBe('')
  })

  test('get --quorum 5 fails with ERR_QUORUM_FAILED when only one relay exists', async () => {
    const link = room()
    expect((await cli(['put', link, 'k', 'v'])).status).toBe(0)
    const get = await cli(['get', link, 'k', '--quorum', '5'])
    expect(get.status).toBe(1)
    expect(get.stdout).toBe('')
    expect(get.stderr).toMatch(/^roomkv: .*of 5 peers.* \(ERR_QUORUM_FAILED\)\n$/)
  })

  test('--relay reaches the relay when the link names a dead origin', async () => {
    const dead = formatRoomLink(`http://127.0.0.1:${await freePort()}`, newRoomSecret())
    const put = await cli(['put', dead, 'via', 'flag', '--relay', relay.url])
    expect(put.status, put.stderr).toBe(0)
    const get = await cli(['get', dead, 'via', '--relay', relay.url])
    expect(get.stdout).toBe('via = "flag"\n')
    const without = await cli(['get', dead, 'via'])
    expect(without.status).toBe(1)
    expect(without.stderr).toMatch(/^roomkv: Relay http:\/\/127\.0\.0\.1:\d+ did not answer.*\(ERR_RELAY_UNREACHABLE\)\n$/)
  })

  test('a relay that answers HTTP but whose libp2p port is dead: exit 1 with the connection\'s reason', async () => {
    const p2pPort = await freePort()
    const server: Server = createHttpServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ peerId: relay.peerId, multiaddrs: [], p2pPort }))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const get = await cli(['get', formatRoomLink(url, newRoomSecret()), 'k'])
      expect(get.status).toBe(1)
      expect(get.stderr).toMatch(/^roomkv: no relay connection after 10 s: .*unreachable at .*tcp\/\d+\/ws.* \(ERR_RELAY_UNREACHABLE\)\n$/)
    } finally {
      server.close()
    }
  })
})

describe('errors and usage', { timeout: 240_000 }, () => {
  test('wrong usage exits 2 and prints usage on stderr', async () => {
    const cases = [['frobnicate'], ['put', room(), 'only-key'], ['get', room(), 'k', '--colour', 'blue'], ['list', room(), '--ttl', '5'], ['put', room(), 'k', 'v', '--ttl', 'soon'], ['new-room', '--relay', 'ftp://x']]
    const results = await Promise.all(cases.map(async args => cli(args)))
    for (const [i, result] of results.entries()) {
      expect(result.status, cases[i].join(' ')).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr).toContain('Usage: roomkv <command>')
    }
    expect(results[0].stderr).toMatch(/^roomkv: unknown command "frobnicate"/)
    expect(results[1].stderr).toMatch(/^roomkv: put takes 3 arguments, got 2/)
    expect(results[2].stderr).toMatch(/Unknown option '--colour'/)
    expect(results[3].stderr).toMatch(/^roomkv: list does not take --ttl/)
    expect(results[4].stderr).toMatch(/^roomkv: --ttl: "soon" is not a positive integer/)
    const help = await cli(['help'])
    expect(help.status).toBe(0)
    for (const command of ['new-room', 'put', 'get', 'del', 'list', 'provide', 'providers', 'repl', '--json', '--relay']) expect(help.stdout).toContain(command)
  })

  test('a malformed link exits 1 with ERR_INVALID_LINK', async () => {
    const results = await Promise.all([
      cli(['get', 'http://127.0.0.1:8080/#v1.dG9vLXNob3J0', 'k']),
      cli(['list', 'not a link at all'])
    ])
    for (const result of results) {
      expect(result.status).toBe(1)
      expect(result.stderr).toMatch(/^roomkv: .+ \(ERR_INVALID_LINK\)\n$/)
    }
    expect(results[0].stderr).toContain('truncated link?')
  })

  test('a bad key or value is refused before any network use', async () => {
    const [key, value] = await Promise.all([
      cli(['put', room(), 'k'.repeat(300), 'v']),
      cli(['put', room(), 'k', 'x'.repeat(40_000)])
    ])
    expect(key.status).toBe(1)
    expect(key.stderr).toMatch(/limit is 256 \(ERR_INVALID_KEY\)/)
    expect(value.status).toBe(1)
    expect(value.stderr).toMatch(/limit is 32768 \(ERR_INVALID_VALUE\)/)
  })
})

describe('values and output', () => {
  const version = (value: unknown, writer: string, deleted = false): KeyEntry => ({
    key: 'k', value, deleted, writer, clock: { wall: 1, counter: 0 }, expiresAt: 0,
    keyId: new Uint8Array(32), id: new Uint8Array(16).fill(1), replaces: [], conflicts: []
  })

  test('values are JSON when they parse as JSON, else the raw string', () => {
    expect(parseValue('42')).toBe(42)
    expect(parseValue('{"a":[1]}')).toEqual({ a: [1] })
    expect(parseValue('"42"')).toBe('42')
    expect(parseValue('hello world')).toBe('hello world')
    expect(parseValue('{oops')).toBe('{oops')
    expect(parseReplLine('put k  a  b ')).toEqual({ op: 'PUT', key: 'k', value: 'a  b' })
    expect(parseReplLine('  ')).toEqual({ op: 'NOTHING' })
    expect(() => parseReplLine('PUT k')).toThrow(/PUT takes a key and a value/)
  })

  test('conflicting versions are shown beside the winner', () => {
    const entry = { ...version('mine', 'a'), conflicts: [version('theirs', 'b'), version(undefined, 'c', true)] }
    expect(textFormatter.get('k', entry)).toEqual(['k = "mine" (conflicts: "theirs", (deleted))'])
    expect(textFormatter.list([entry])).toEqual(['k\t"mine"\tconflicts: "theirs", (deleted)'])
    const deleted = { ...version(undefined, 'a', true), conflicts: [version(7, 'b')] }
    expect(textFormatter.get('k', deleted)).toEqual(['k deleted (conflict: 7)'])
    expect(textFormatter.change({ ...deleted, source: 'remote' })).toEqual(['* k deleted (conflict: 7)'])
    const json = JSON.parse(jsonFormatter.get('k', entry)[0])
    expect(json).toMatchObject({ key: 'k', found: true, value: 'mine', deleted: false, writer: 'a' })
    expect(json.conflicts.map((c: any) => [c.value, c.deleted, c.writer])).toEqual([['theirs', false, 'b'], [null, true, 'c']])
  })
})

describe('repl', { timeout: 240_000 }, () => {
  test('accepts PUT / GET / LIST / DEL lines on a piped stdin, reports bad lines and goes on', async () => {
    const link = room()
    const input = ['PUT greeting hello world', 'GET greeting', 'PUT n {"a": [1, 2]}', 'LIST', 'FROB x', 'GET', 'DEL greeting', 'GET greeting', 'LIST'].join('\n') + '\n'
    const out = await cli(['repl', link], { input })
    expect(out.status, out.stderr).toBe(0)
    const lines = out.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^joined room [a-z2-7]+ as 12D3\S+ via \S+; HELP lists commands$/)
    expect(lines.slice(1)).toEqual([
      'stored "greeting" on 1 peer',
      'greeting = "hello world"',
      'stored "n" on 1 peer',
      'greeting\t"hello world"',
      'n\t{"a":[1,2]}',
      'deleted "greeting" on 1 peer',
      '"greeting" is not set',
      'n\t{"a":[1,2]}'
    ])
    expect(out.stderr).toContain('roomkv: unknown command "FROB"; HELP lists commands (ERR_USAGE)')
    expect(out.stderr).toContain('roomkv: GET takes one key (no spaces); HELP lists commands (ERR_USAGE)')
    // What the REPL wrote is on the relay for the next process.
    const get = await cli(['get', link, 'n', '--json'])
    expect(JSON.parse(get.stdout)).toMatchObject({ key: 'n', value: { a: [1, 2] } })
  })

  test('PUT_PROVIDER then GET_PROVIDERS in one session lists this peer', async () => {
    const out = await cli(['repl', room()], { input: 'PUT_PROVIDER song\nGET_PROVIDERS song\nGET_PROVIDERS other\nQUIT\nGET never-run\n' })
    expect(out.status, out.stderr).toBe(0)
    const self = /as (12D3\S+) via/.exec(out.stdout)?.[1]
    expect(self).toBeDefined()
    expect(out.stdout).toMatch(/providing "song" \(announced to \d+ peers?\)/)
    expect(out.stdout).toContain(`"song" is provided by ${self}`)
    expect(out.stdout).toContain('no providers for "other"')
    expect(out.stdout).not.toContain('never-run')
  })

  // A Node peer has no dialable address (no circuit-relay listener in
  // cli/node-peer.ts), so relays drop its provider records and another
  // process cannot see them yet. See docs/sdk.md.
  test.todo('providers from another process lists a running REPL that did PUT_PROVIDER')

  test('--json: one JSON object per result', async () => {
    const out = await cli(['repl', room(), '--json'], { input: 'PUT k 1\nGET k\nGET missing\n' })
    expect(out.status, out.stderr).toBe(0)
    const [ready, put, get, missing] = jsonLines(out.stdout)
    expect(ready).toMatchObject({ ready: true, peerId: expect.stringMatching(/^12D3/) })
    expect(put).toMatchObject({ key: 'k', peers: 1 })
    expect(get).toMatchObject({ key: 'k', found: true, value: 1 })
    expect(missing).toEqual({ key: 'missing', found: false })
  })

  test('prints changes other peers made as "* key = value"', async () => {
    // The put was made in beforeAll; the running REPL gets it at its next relay sync.
    await watcher.waitFor(/^\* news = "fresh"$/m, 60_000)
    const exited = new Promise(resolve => watcher.child.once('exit', resolve))
    watcher.child.stdin.end('GET news\n')
    await watcher.waitFor(/^news = "fresh"$/m)
    expect(await exited).toBe(0)
  })
})
