/**
 * The relay's HTTP side: the built web app, `GET /health` and
 * `GET /roomkv.json`, which tells a page how to reach this relay's libp2p
 * node (so nobody copies multiaddrs by hand).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import sirv from 'sirv'

export interface RelayHttpInit {
  host: string
  port: number
  webDir: string
  /** PEM files: serve HTTPS instead of HTTP. */
  tls?: { cert: string, key: string }
  /** Prometheus text for /metrics. */
  metrics(): Promise<{ contentType: string, body: string }>
  /** JSON for /health; `ok: false` answers 503. */
  health(): { ok: boolean } & Record<string, unknown>
  /** JSON for /roomkv.json. */
  bootstrap(): Record<string, unknown>
}

export async function startRelayHttp (init: RelayHttpInit): Promise<{ server: Server, port: number }> {
  const serveApp = existsSync(init.webDir)
    ? sirv(init.webDir, {
      single: true,
      etag: true,
      // The build writes .br and .gz beside every asset (vite.config.ts).
      gzip: true,
      brotli: true,
      setHeaders: (res, pathname) => {
        // File names under /assets/ carry a content hash: they never change.
        if (pathname.startsWith('/assets/')) res.setHeader('cache-control', 'public, max-age=31536000, immutable')
      }
    })
    : undefined
  const indexPath = join(init.webDir, 'index.html')
  const indexHtml = existsSync(indexPath) ? readFileSync(indexPath, 'utf8') : undefined
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/health' || path === '/roomkv.json') {
      const body = path === '/health' ? init.health() : init.bootstrap()
      res.writeHead(path === '/health' && !body.ok ? 503 : 200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        // Pages served by another origin (dev server, other relay) may ask too.
        'access-control-allow-origin': '*'
      })
      res.end(JSON.stringify(body, null, 2))
      return
    }
    if (path === '/metrics') {
      init.metrics().then(({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body)
      }, (err) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`)
      })
      return
    }
    if (serveApp == null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`Web app not built: run "npm run build" (looked in ${init.webDir})\n`)
      return
    }
    // The page (any path without a file extension: the app is a single page)
    // carries /roomkv.json inline, so joining a room does not wait for a fetch.
    if (!/\.[a-z0-9]+$/i.test(path) && indexHtml != null) {
      const info = JSON.stringify(init.bootstrap()).replace(/</g, '\\u003c')
      const html = indexHtml.replace('</head>', `<script type="application/json" id="roomkv-relay">${info}</script></head>`)
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : html)
      return
    }
    serveApp(req, res, () => { res.writeHead(404).end() })
  }
  const server: Server = init.tls != null
    ? createHttpsServer({ cert: readFileSync(init.tls.cert), key: readFileSync(init.tls.key) }, handler)
    : createServer(handler)
  // Slow or silent clients must not hold sockets forever.
  server.requestTimeout = 10_000
  server.headersTimeout = 5_000
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port, init.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  return { server, port: typeof address === 'object' && address != null ? address.port : init.port }
}
