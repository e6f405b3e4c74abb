import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig, type Plugin } from 'vite'

/**
 * The libp2p node is a lazy chunk (web/ui/node-loader.ts), so the start
 * screen runs without it. The page still names it with a modulepreload
 * link: a tab opened on a room link fetches it in parallel with the UI, and
 * the service worker (web/public/sw.js), which keeps the assets the page
 * names, keeps it for opening rooms offline. The Workers' scripts
 * (web/node/crypto-pool.ts, idb-storage.ts) are named with prefetch links for the same
 * reason (offline, a tab without them does their work on its main thread).
 */
function preloadLazyChunks (): Plugin {
  return {
    name: 'roomkv-preload-lazy-chunks',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler (html, ctx) {
        const lazy = Object.values(ctx.bundle ?? {})
          // Not the pure-JS AES fallback (shared/aead-js.ts): a browser with WebCrypto never loads it.
          .filter(chunk => chunk.type === 'chunk' && chunk.isDynamicEntry && !chunk.fileName.includes('aead-js'))
          .map(chunk => ({ tag: 'link', attrs: { rel: 'modulepreload', crossorigin: true, href: `/${chunk.fileName}` }, injectTo: 'head' as const }))
        const workers = Object.values(ctx.bundle ?? {})
          .filter(file => file.type === 'asset' && /^assets\/[\w-]*worker[\w-]*\.js$/.test(file.fileName))
          .map(file => ({ tag: 'link', attrs: { rel: 'prefetch', href: `/${file.fileName}` }, injectTo: 'head' as const }))
        return { html, tags: [...lazy, ...workers] }
      }
    }
  }
}

// The app lives in web/; the relay serves the build from dist/.
// `npm run dev` proxies /roomkv.json to a relay started with `npm run relay`.
/**
 * Brotli and gzip copies of every asset, written once at build time: the
 * relay serves them (sirv) to browsers that accept them, without
 * compressing per request.
 */
function precompress (): Plugin {
  let outDir = ''
  return {
    name: 'roomkv-precompress',
    apply: 'build',
    configResolved (config) { outDir = resolve(config.root, config.build.outDir) },
    closeBundle () {
      const dir = join(outDir, 'assets')
      for (const name of readdirSync(dir)) {
        const file = join(dir, name)
        if (!/\.(js|css|svg)$/.test(name) || statSync(file).size < 1024) continue
        const bytes = readFileSync(file)
        writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }))
        writeFileSync(`${file}.br`, brotliCompressSync(bytes))
      }
    }
  }
}

export default defineConfig({
  root: 'web',
  plugins: [svelte(), preloadLazyChunks(), precompress()],
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000
  },
  server: {
    proxy: {
      '/roomkv.json': 'http://127.0.0.1:8080',
      '/health': 'http://127.0.0.1:8080'
    }
  }
})
