// `npm test`: environment check, unit + Node integration tests, web build,
// then real-browser end-to-end tests. Ends with one summary line.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', env: process.env }).status ?? 1
const reports = mkdtempSync(join(tmpdir(), 'roomkv-test-'))
let passed = 0
let failed = 0
let status = run(process.execPath, ['scripts/check-env.mjs'])

function vitest (name, projects) {
  const out = join(reports, `${name}.json`)
  const code = run('npx', ['vitest', 'run', ...projects.flatMap(p => ['--project', p]), '--reporter=default', '--reporter=json', `--outputFile.json=${out}`])
  try {
    const report = JSON.parse(readFileSync(out, 'utf8'))
    passed += report.numPassedTests
    failed += report.numFailedTests
  } catch {
    failed += 1 // the runner itself failed before reporting
  }
  return code
}

if (status === 0) status = vitest('unit-node', ['unit', 'node'])
if (status === 0) status = run('npm', ['run', 'build', '--silent'])
if (status === 0) status = vitest('e2e', ['e2e'])
rmSync(reports, { recursive: true, force: true })
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(status !== 0 ? status : failed > 0 ? 1 : 0)
