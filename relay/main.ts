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
  if (config.logFormat === 'json') {
    relay.log.info('roomkv relay started', { peerId: relay.peerId, multiaddrs: relay.multiaddrs().join(' '), dataDir: config.dataDir, url: relay.url })
  } else {
    process.stdout.write([
      'roomkv relay started',
      `  peer id:    ${relay.peerId}`,
      ...relay.multiaddrs().map(ma => `  multiaddr:  ${ma}`),
      `  data dir:   ${config.dataDir}`,
      `  web app:    ${relay.url}`,
      ''
    ].join('\n'))
  }
  const shutdown = (signal: string): void => {
    relay.log.info('shutting down', { signal })
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    relay.stop().then(() => {
      relay.log.info('stopped cleanly')
      process.exit(0)
    }, (err) => {
      relay.log.error('shutdown failed', { error: err.message })
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
