/**
 * `npm start` / `npm run relay`: parse flags, start the relay, print where
 * it is, and shut down cleanly on SIGINT/SIGTERM.
 */
import { ConfigError, parseConfig, usage } from './config.ts'
import { startRelay } from './relay.ts'

async function main (): Promise<void> {
  let config
  try {
    config = parseConfig(process.argv.slice(2))
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roomkv relay: ${err.message}\n\n${usage()}`)
      process.exit(2)
    }
    throw err
  }
  if (config === 'help') {
    process.stdout.write(usage())
    return
  }
  const relay = await startRelay(config)
  process.stdout.write([
    'roomkv relay started',
    `  peer id:    ${relay.peerId}`,
    ...relay.multiaddrs().map(ma => `  multiaddr:  ${ma}`),
    `  data dir:   ${config.dataDir}`,
    `  web app:    ${relay.url}`,
    ''
  ].join('\n'))
  const shutdown = (signal: string): void => {
    process.stdout.write(`roomkv relay: ${signal}, shutting down\n`)
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    relay.stop().then(() => process.exit(0), (err) => {
      process.stderr.write(`roomkv relay: shutdown failed: ${err.message}\n`)
      process.exit(1)
    })
  }
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.once('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((err) => {
  process.stderr.write(`roomkv relay: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
