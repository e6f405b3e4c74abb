/**
 * Node integration: the relay with --tls-cert/--tls-key serves the app and
 * /health over HTTPS and libp2p over wss, with a self-signed certificate
 * generated here and trusted explicitly (never by turning verification off).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tls from 'node:tls'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startRelayProcess, type RelayProcess } from '../../e2e/harness.ts'

const OPENSSL = '/usr/bin/openssl'
const haveOpenssl = existsSync(OPENSSL)
if (!haveOpenssl) console.warn(`tls.test.ts: skipped, ${OPENSSL} is not installed (needed to make a self-signed certificate)`)

interface HttpsAnswer { status: number, headers: Record<string, unknown>, body: string }

/** GET over HTTPS trusting `ca` for this one request. */
async function httpsGet (url: string, ca?: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`${url} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/** A raw WebSocket opening handshake over TLS: resolves with the HTTP status of the answer. */
async function wssHandshake (host: string, port: number, ca?: string): Promise<{ status: number, authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host,
      port,
      path: '/',
      ca,
      timeout: 10_000,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64')
      }
    })
    req.on('upgrade', (res, socket) => {
      const authorized = (socket as tls.TLSSocket).authorized
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, authorized })
    })
    req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode ?? 0, authorized: false }) })
    req.on('timeout', () => req.destroy(new Error('wss handshake timed out')))
    req.on('error', reject)
    req.end()
  })
}

describe.skipIf(!haveOpenssl)('relay over TLS', () => {
  let dir: string
  let certFile: string
  let keyFile: string
  let cert: string
  let relay: RelayProcess | undefined
  const nodes: Libp2p[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roomkv-tls-'))
    certFile = join(dir, 'cert.pem')
    keyFile = join(dir, 'key.pem')
    execFileSync(OPENSSL, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyFile, '-out', certFile
    ], { stdio: 'pipe', timeout: 30_000 })
    cert = readFileSync(certFile, 'utf8')
    relay = await startRelayProcess({ args: ['--tls-cert', certFile, '--tls-key', keyFile] })
  })

  afterAll(async () => {
    await Promise.allSettled(nodes.map(async node => { await node.stop() }))
    await relay?.stop()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  test('the app, /health and /roomkv.json are served over HTTPS with the given certificate', async () => {
    if (relay == null) throw new Error('relay did not start')
    expect(relay.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(relay.output()).toMatch(/web app:\s+https:\/\//)

    const health = await httpsGet(`${relay.url}/health`, cert)
    expect(health.status).toBe(200)
    const body = JSON.parse(health.body)
    expect(body).toMatchObject({ ok: true, peerId: relay.peerId })
    expect(body.multiaddrs.length).toBeGreaterThan(0)
    for (const ma of body.multiaddrs) expect(ma).toMatch(/\/tls\/ws\/p2p\/12D3/)

    const info = JSON.parse((await httpsGet(`${relay.url}/roomkv.json`, cert)).body)
    expect(info.multiaddrs[0]).toContain('/tls/ws')

    // Verification is on: without the certificate as a trust anchor the request fails.
    await expect(httpsGet(`${relay.url}/health`)).rejects.toThrow(/self[- ]signed|certificate/i)
    // Plain HTTP on the HTTPS port gets no answer worth having.
    await expect(fetch(relay.url.replace('https:', 'http:') + '/health').then(r => r.status)).rejects.toThrow()
  })

  test('the libp2p port answers a WebSocket upgrade over TLS', async () => {
    if (relay == null) throw new Error('relay did not start')
    const info = JSON.parse((await httpsGet(`${relay.url}/roomkv.json`, cert)).body)
    const port = info.p2pPort as number
    expect(port).toBeGreaterThan(0)
    const answer = await wssHandshake('127.0.0.1', port, cert)
    expect(answer).toEqual({ status: 101, authorized: true })
    await expect(wssHandshake('127.0.0.1', port)).rejects.toThrow(/self[- ]signed|certificate/i)
  })

  test('a stock libp2p client dials the wss multiaddr and pings the relay', async () => {
    if (relay == null) throw new Error('relay did not start')
    const info = JSON.parse((await httpsGet(`${relay.url}/roomkv.json`, cert)).body)
    const relayAddr = multiaddr(info.multiaddrs[0])
    expect(relayAddr.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/tls\/ws\/p2p\//)

    // @libp2p/websockets dials with the runtime's WebSocket, which takes no
    // TLS options. Untrusted, the certificate is refused ...
    const untrusting = await createLibp2p({ transports: [webSockets()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    nodes.push(untrusting)
    await expect(untrusting.dial(relayAddr, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow()

    // ... so trust it in this worker's default CA set for the duration of
    // the test (verification stays on).
    const defaults = tls.getCACertificates('default')
    tls.setDefaultCACertificates([...defaults, cert])
    try {
      const node = await createLibp2p({
        transports: [webSockets()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify(), ping: ping() }
      })
      nodes.push(node)
      const connection = await node.dial(relayAddr, { signal: AbortSignal.timeout(15_000) })
      expect(connection.remotePeer.toString()).toBe(relay.peerId)
      expect(connection.remoteAddr.toString()).toContain('/tls/ws')
      expect(await node.services.ping.ping(relayAddr)).toBeGreaterThanOrEqual(0)

      const health = JSON.parse((await httpsGet(`${relay.url}/health`, cert)).body)
      expect(health.connections).toBeGreaterThanOrEqual(1)
      const metrics = (await httpsGet(`${relay.url}/metrics`, cert)).body
      // Counted as a connection. (Its label is "websockets", not
      // "websockets-tls": @libp2p/websockets gives inbound connections a
      // plain /ws remote address even on a TLS listener; see the report.)
      const open = [...metrics.matchAll(/^roomkv_connections\{transport="([^"]+)"\} (\d+)/gm)]
      expect(open.reduce((n, m) => n + Number(m[2]), 0)).toBeGreaterThanOrEqual(1)
    } finally {
      tls.setDefaultCACertificates(defaults)
    }
  })
})

describe.skipIf(!haveOpenssl)('relay TLS flags', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'relay/main.ts', '--port', '0', '--p2p-port', '0', ...args], { encoding: 'utf8', timeout: 30_000 })
  let dir: string

  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'roomkv-tls-flags-')) })
  afterAll(async () => { if (dir != null) await rm(dir, { recursive: true, force: true }) })

  test('--tls-cert without --tls-key (and the reverse) exits with status 2 and says why', async () => {
    const certFile = join(dir, 'only-cert.pem')
    await writeFile(certFile, 'not used')
    const out = cli(['--data-dir', join(dir, 'data'), '--tls-cert', certFile])
    expect(out.status).toBe(2)
    expect(out.stderr).toContain('--tls-cert and --tls-key go together')
    expect(out.stdout).not.toContain('roomkv relay started')

    const reverse = cli(['--data-dir', join(dir, 'data'), '--tls-key', certFile])
    expect(reverse.status).toBe(2)
    expect(reverse.stderr).toContain('--tls-cert and --tls-key go together')
  })

  test('an unreadable or malformed certificate stops the relay at startup, naming the problem', async () => {
    const missing = join(dir, 'missing.pem')
    const out = cli(['--data-dir', join(dir, 'data'), '--tls-cert', missing, '--tls-key', missing])
    expect(out.status).not.toBe(0)
    expect(out.stderr).toContain(missing)
    expect(out.stdout).not.toContain('roomkv relay started')

    const garbage = join(dir, 'garbage.pem')
    await writeFile(garbage, 'this is not PEM\n')
    const bad = cli(['--data-dir', join(dir, 'data'), '--tls-cert', garbage, '--tls-key', garbage])
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toMatch(/PEM/)
    expect(bad.stdout).not.toContain('roomkv relay started')
  })
})
