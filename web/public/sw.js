// roomkv app shell service worker. Plain JavaScript, copied as-is into the
// build (web/public). It makes the page open with the relay down: the room's
// data is in IndexedDB, so only the page and its assets are needed.
//  - Pages: network first (the relay inlines its current /roomkv.json into
//    the page), the last good copy when the network fails.
//  - /assets/*: file names carry a content hash, so cache first.
//  - Everything else (/roomkv.json, /health, /metrics, other origins): untouched.
const CACHE = 'roomkv-shell-v1'
const PAGE = '/'
/** Asset URLs a page references (script, stylesheet, preload tags). */
const assetsOf = (html) => [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map(m => m[1])

/** Store the page and every asset it names; drop assets no page names any more. */
async function cachePage (response) {
  const cache = await caches.open(CACHE)
  const html = await response.clone().text()
  const assets = assetsOf(html)
  await cache.put(PAGE, response)
  await Promise.all(assets.map(async (url) => {
    if (await cache.match(url) == null) await cache.add(url)
  }))
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname
    if (path.startsWith('/assets/') && !assets.includes(path)) await cache.delete(request)
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const response = await fetch(PAGE, { cache: 'no-store' })
    if (response.ok) await cachePage(response)
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name)
    await self.clients.claim()
  })())
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  if (request.mode === 'navigate') {
    event.respondWith((async () => {
      try {
        const response = await fetch(request)
        if (response.ok && (response.headers.get('content-type') ?? '').includes('text/html')) {
          event.waitUntil(cachePage(response.clone()).catch(() => {}))
        }
        return response
      } catch (err) {
        const cached = await caches.match(PAGE)
        if (cached != null) return cached
        throw err
      }
    })())
    return
  }
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith((async () => {
      const cached = await caches.match(request)
      if (cached != null) return cached
      const response = await fetch(request)
      if (response.ok) {
        const copy = response.clone()
        event.waitUntil(caches.open(CACHE).then(cache => cache.put(request, copy)))
      }
      return response
    })())
  }
})
