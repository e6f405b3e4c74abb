/**
 * The CLI as `roomkv` runs it: the prebuilt esbuild bundle
 * (scripts/build-cli.mjs, started by bin/roomkv.mjs), in separate processes
 * against a real relay process on loopback. cli.test.ts covers the commands
 * themselves through the sources; this checks that bundling kept them working
 * (CommonJS dependencies, lazily loaded chunks, the relay route) and that the
 * early /roomkv.json request hands its answer to the join.
 */
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, stopAll, type RelayProcess } from '../../e2e/harness.ts'
import { formatRoomLink } from '../../shared/link.ts'
import { newRoomSecret } from '../../shared/room-keys.ts'
// @ts-expect-error plain JavaScript build script, no type declarations
import { buildCliBundle, freshCliBundle } from '../../scripts/build-cli.mjs'
import { runProcess, type ProcessResult } from './run-process.ts'

async function run (args: string[], env: Record<string, string> = {}): Promise<ProcessResult> {
  return runProcess(args, { env, timeout: 50_000 })
}

let relay: RelayProcess
let bundle: string
let brokenRelay: Server

beforeAll(async () => {
  // Built here when `npm install` did not (or a source changed since): the test is about the bundle, not tsx.
  bundle = freshCliBundle() ?? await buildCliBundle()
  relay = await startRelayProcess()
  // Answers every request with 500: the prefetch fails, the join asks again and reports it.
  brokenRelay = createServer((_req, res) => { res.writeHead(500).end() })
  await new Promise<void>(resolve => brokenRelay.listen(0, '127.0.0.1', resolve))
})

afterAll(async () => {
  await new Promise(resolve => brokenRelay?.close(resolve))
  await stopAll()
})

describe('bundled CLI', () => {
  test('right after a build the bundle counts as current (what bin/roomkv.mjs checks before running it)', () => {
    expect(bundle).toMatch(/node_modules\/\.cache\/roomkv-cli\/[^/]+\/main\.mjs$/)
    // Not toBe(bundle): another process may have rebuilt it meanwhile.
    expect(freshCliBundle()).toMatch(/node_modules\/\.cache\/roomkv-cli\/[^/]+\/main\.mjs$/)
  })

  test('put then get round trip through the bundle, in separate processes', async () => {
    const link = formatRoomLink(relay.url, newRoomSecret())
    const put = await run([bundle, 'put', link, 'greeting', '{"hello":"bundle"}'])
    expect(put.stderr).toBe('')
    expect(put.stdout).toBe('stored "greeting" on 1 peer\n')
    expect(put.status).toBe(0)
    const get = await run([bundle, 'get', link, 'greeting', '--json'])
    expect(get.stderr).toBe('')
    expect(JSON.parse(get.stdout)).toMatchObject({ key: 'greeting', value: { hello: 'bundle' } })
    expect(get.status).toBe(0)
  })

  test('bin/roomkv.mjs reads a value written through the bundle, via --relay (the early /roomkv.json request)', async () => {
    const link = formatRoomLink('http://127.0.0.1:1', newRoomSecret()) // nothing listens there: only --relay can work
    const put = await run([bundle, 'put', link, 'n', '42', '--relay', relay.url])
    expect(put.status).toBe(0)
    const get = await run(['bin/roomkv.mjs', 'get', link, 'n', '--relay', relay.url])
    expect(get.stderr).toBe('')
    expect(get.stdout).toBe('n = 42\n')
    expect(get.status).toBe(0)
    // Without the bundle (ROOMKV_CLI_BUNDLE=0, or no esbuild) the same command runs from the sources through tsx.
    const fromSources = await run(['bin/roomkv.mjs', 'get', link, 'n', '--relay', relay.url], { ROOMKV_CLI_BUNDLE: '0' })
    expect(fromSources.stdout).toBe('n = 42\n')
    expect(fromSources.status).toBe(0)
  })

  test('a relay whose /roomkv.json fails gives the join\'s own error and code', async () => {
    const url = `http://127.0.0.1:${(brokenRelay.address() as { port: number }).port}`
    const get = await run([bundle, 'get', formatRoomLink(url, newRoomSecret()), 'k'])
    expect(get.stderr).toMatch(/^roomkv: Relay http:\/\/127\.0\.0\.1:\d+ did not answer \/roomkv\.json: HTTP 500 \(ERR_RELAY_UNREACHABLE\)\n$/)
    expect(get.status).toBe(1)
  })

  test('usage, usage errors and `relay --help` still work from the bundle', async () => {
    const help = await run(['bin/roomkv.mjs', '--help'])
    expect(help.stdout).toMatch(/^Usage: roomkv <command>/)
    expect(help.stdout).toMatch(/\n {2}get <link> <key> /)
    expect(help.status).toBe(0)
    const wrong = await run([bundle, 'get'])
    expect(wrong.status).toBe(2)
    expect(wrong.stderr).toMatch(/^roomkv: /)
    const relayHelp = await run([bundle, 'relay', '--help'])
    expect(relayHelp.stdout).toMatch(/Starts the roomkv relay/)
    expect(relayHelp.status).toBe(0)
  })
})
