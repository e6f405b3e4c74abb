// Pre-flight for `npm test`: the right Node, the WebRTC patch applied, and
// Debian chromium present (installed here when we are root, otherwise we stop
// with the exact command to run).
import { execSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'

const fail = (message) => { console.error(`\nroomkv test setup: ${message}\n`); process.exit(1) }

const major = Number(process.versions.node.split('.')[0])
if (major < 22) fail(`Node ${process.version} is running; libp2p 3 needs Node >= 22. Run tests through npm ("npm test"), which uses the Node 22 from the "node" devDependency, after "npm install".`)

const patches = [
  ['node_modules/@libp2p/webrtc/dist/src/private-to-private/initiate-connection.js', "['open', 'close', 'error']"],
  ['node_modules/libp2p/dist/src/connection.js', '[...this.components.registrar.getMiddleware('],
  ['node_modules/@libp2p/utils/dist/src/stream-utils.js', 'bytes without a complete varint'],
  ['node_modules/@libp2p/websockets/dist/src/listener.js', 'socketGate'],
  ['node_modules/@libp2p/kad-dht/dist/src/rpc/index.js', 'onInboundMessage']
]
if (patches.some(([file, marker]) => !readFileSync(file, 'utf8').includes(marker))) {
  console.log('roomkv test setup: applying patches/ (patch-package)')
  execSync('npx patch-package', { stdio: 'inherit' })
}

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (!existsSync(chromium)) {
  const command = 'apt-get update && apt-get install -y chromium'
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.log(`roomkv test setup: ${chromium} missing, running: ${command}`)
    const result = spawnSync('sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    if (result.status !== 0 || !existsSync(chromium)) fail(`installing chromium failed; run as root: ${command}`)
  } else {
    fail(`Debian chromium is missing (${chromium}). Install it with:\n  sudo ${command.replace('&& ', '&& sudo ')}\nor set CHROMIUM_PATH to a Chromium binary.`)
  }
}
