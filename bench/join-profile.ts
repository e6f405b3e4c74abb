/**
 * Profile one Node SDK peer joining a room of KEYS (default 10,000) keys
 * through a relay process: seal and seed the room (not timed), start the
 * relay, then time openRoom() -> relay connected -> every record stored
 * (watch count) -> list() returns every key, with the client's join phases.
 * PROFILE=<file.cpuprofile> writes a CPU profile of the last run's join
 * only (sealing and seeding left out; the relay runs in its own process).
 * HEAP=<file.heapprofile> writes a sampling heap profile (bytes allocated
 * by function) of the last run's join.
 * WATCH=0 waits for the `synced` phase instead of counting watch() events
 * (watch decrypts every record, which a join without a listener skips).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startRelayProcess } from '../e2e/harness.ts'
import { formatRoomLink } from '../shared/link.ts'
import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { closePeer, openPeer, sealManyAsync, seedRelayDataDir } from './seed.ts'

const keys = Number(process.env.KEYS ?? 10_000)
const runs = Number(process.env.RUNS ?? 1)
const watch = process.env.WATCH !== '0'
const inspector = new Session()
inspector.connect()
const dataDir = await mkdtemp(join(tmpdir(), 'roomkv-join-profile-'))
const secret = newRoomSecret()
await seedRelayDataDir(dataDir, await sealManyAsync(deriveRoomKeys(secret), keys, 'item/'))
const relay = await startRelayProcess({ dataDir })
/** CPU ms (user + system) of this process's children: the relay (Linux /proc; NaN elsewhere). */
function relayCpuMs (): number {
  try {
    const pids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)]).toString().trim().split(/\s+/)
    let ticks = 0
    for (const pid of pids) {
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      } catch {
        continue // ps itself, gone by now
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    }
    return ticks * 10 // USER_HZ 100
  } catch {
    return Number.NaN
  }
}
try {
  const link = formatRoomLink(relay.url, secret)
  for (let run = 1; run <= runs; run++) {
    const profiling = process.env.PROFILE != null && run === runs
    if (profiling) { await inspector.post('Profiler.enable'); await inspector.post('Profiler.start') }
    const heapProfiling = process.env.HEAP != null && run === runs
    if (heapProfiling) { await inspector.post('HeapProfiler.enable'); await inspector.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }) }
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const relayCpu0 = relayCpuMs()
    const client = await openPeer(link, relay.url, 60_000)
    const connected = performance.now() - t0
    let stored = 0
    let storedAt = Number.NaN
    let first = Number.NaN
    if (watch) {
      await new Promise<void>((resolve) => {
        client.session.watch(() => {
          if (stored++ === 0) first = performance.now() - t0
          if (stored >= keys) { storedAt = performance.now() - t0; resolve() }
        })
      })
    } else {
      while (client.phases().synced == null) await new Promise(resolve => setTimeout(resolve, 5))
      storedAt = performance.now() - t0
    }
    const entries = (await client.session.list()).length
    const listed = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const relayCpu = relayCpuMs() - relayCpu0
    if (profiling) {
      const { profile } = await inspector.post('Profiler.stop')
      await writeFile(process.env.PROFILE as string, JSON.stringify(profile))
    }
    if (heapProfiling) {
      const { profile } = await inspector.post('HeapProfiler.stopSampling')
      await writeFile(process.env.HEAP as string, JSON.stringify(profile))
    }
    const phases = client.phases()
    const rel = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round((v as number) - (phases.joinStarted ?? 0))]))
    console.log(`run ${run}: connected ${Math.round(connected)} ms, first record ${Math.round(first)} ms, all ${stored} stored ${Math.round(storedAt)} ms, list() ${entries} entries ${Math.round(listed)} ms, peer CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms, relay CPU ${relayCpu} ms (a loaded machine stretches wall times, CPU less); phases ${JSON.stringify(rel)}`)
    await closePeer(client)
  }
} finally {
  await relay.stop()
  await rm(dataDir, { recursive: true, force: true })
}
