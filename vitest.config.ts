import { defineConfig } from 'vitest/config'

// Three projects, run in this order by `npm test`: pure unit tests, Node
// integration (real relay process, real libp2p peers on loopback), and
// real-browser end-to-end tests (Debian chromium driven by playwright-core).
export default defineConfig({
  test: {
    projects: [
      {
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
