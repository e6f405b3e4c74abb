import { deriveRoomKeys, newRoomSecret } from '../shared/room-keys.ts'
import { sealRecord, verifyRecord } from '../shared/record.ts'
const keys = deriveRoomKeys(newRoomSecret())
let t = performance.now()
const recs: Uint8Array[] = []
const now = Date.now()
for (let i = 0; i < 2000; i++) recs.push(sealRecord(keys, { key: `item/${String(i).padStart(5, '0')}`, value: { i }, clock: { wall: now, counter: i }, writer: 'seed' }))
console.log('seal ms/rec', (performance.now() - t) / 2000, 'bytes', recs[0].length)
t = performance.now()
for (const r of recs) verifyRecord(r)
console.log('verify ms/rec', (performance.now() - t) / 2000)
