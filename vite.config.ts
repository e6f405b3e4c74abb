import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'

// The app lives in web/; the relay serves the build from dist/.
// `npm run dev` proxies /roomkv.json to a relay started with `npm run relay`.
export default defineConfig({
  root: 'web',
  plugins: [svelte()],
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
