import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vitest/config'

// Three projects, run in this order by `npm test`: pure unit tests, Node
// integration (real relay process, real libp2p peers on loopback), and
// real-browser end-to-end tests (Debian chromium driven by playwright-core).
export default defineConfig({
  test: {
    projects: [
      {
        // web/ui's rune classes (*.svelte.ts) and their *.svelte.test.ts
        // tests go through the Svelte compiler (svelte.dev/docs/svelte/testing).
        // In Node, Vitest transforms as `ssr`, for which the plugin would emit
        // server code (each $derived computed once, no effects): compile for
        // the client instead, and resolve `svelte` (and flushSync) to its
        // client runtime through the `browser` condition. Only this project:
        // `node` and `e2e` run real peers and the built app.
        plugins: [svelte({ dynamicCompileOptions: () => ({ generate: 'client' }) })],
        ssr: { resolve: { conditions: ['browser'] } },
        test: {
          name: 'unit',
          include: ['shared/**/*.test.ts', 'web/**/*.test.ts', 'relay/**/*.test.ts'],
          environment: 'node'
        }
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false
        }
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false
        }
      }
    ]
  }
})
