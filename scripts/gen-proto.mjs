/**
 * Regenerates shared/proto/*.ts from their .proto files with protons, then
 * post-processes the output: protons fills every absent bytes field of a
 * decoded message with `alloc(0)` (in Node a Buffer plus a Uint8Array view
 * per field, per decode). A 10,000-record catch-up decodes each record
 * several times; those empty arrays were ~5 % of a Node peer's join CPU
 * and garbage to collect. A zero-length array holds nothing that could be
 * changed, so every decode shares one (frozen by being empty; it is never
 * written to: an encoder only reads it).
 *
 *   node scripts/gen-proto.mjs
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

const files = ['shared/proto/protocol.proto', 'shared/proto/record.proto']
for (const proto of files) {
  execFileSync('npx', ['protons', proto], { stdio: 'inherit' })
  const ts = proto.replace(/\.proto$/, '.ts')
  let text = readFileSync(ts, 'utf8')
  if (!text.includes('uint8ArrayAlloc(0)')) continue
  text = text
    .replace("import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'\n", '')
    .replaceAll('uint8ArrayAlloc(0)', 'EMPTY_BYTES')
  // After the imports: one shared empty array for absent bytes fields (scripts/gen-proto.mjs).
  const lines = text.split('\n')
  const lastImport = lines.findLastIndex(line => line.startsWith('import '))
  lines.splice(lastImport + 1, 0, '', '/** Absent bytes fields of decoded messages: one shared empty array (scripts/gen-proto.mjs). */', 'const EMPTY_BYTES = new Uint8Array(0)')
  if (text.includes('uint8ArrayAlloc')) throw new Error(`${ts}: uint8ArrayAlloc still used`)
  writeFileSync(ts, lines.join('\n'))
  console.log(`generated ${ts}`)
}
