import { afterEach, describe, expect, it } from 'vitest'
import { entry, FakeClient, LINK } from './fake-room-client.ts'
import { MAX_IMPORT_BYTES, ROOM_FILE_FORMAT, ROOM_FILE_VERSION } from './room-file.ts'
import { RoomState } from './room-state.svelte.ts'
import { TransferState } from './transfer-state.svelte.ts'

const file = (name: string, content: unknown, size?: number): { name: string, size: number, text(): Promise<string>, reads: number } => {
  const text = typeof content === 'string' ? content : JSON.stringify(content)
  const f = { name, size: size ?? text.length, reads: 0, text: async () => { f.reads++; return text } }
  return f
}
const exported = (keys: unknown[]): unknown => ({ format: ROOM_FILE_FORMAT, version: ROOM_FILE_VERSION, exportedAt: new Date(0).toISOString(), keys })

describe('TransferState', () => {
  let room: RoomState | undefined
  afterEach(async () => { await room?.close() })

  async function setup (rows = [entry('same', 1), entry('diff', 'old')]): Promise<{ transfer: TransferState, client: FakeClient }> {
    const client = new FakeClient()
    client.rows = rows
    room = new RoomState({ join: async () => client })
    await room.join({ link: LINK })
    return { transfer: new TransferState(room), client }
  }

  it('exports the room\'s set keys with their types', async () => {
    const { transfer } = await setup([entry('n', 3), entry('o', { a: true }), entry('gone', undefined, { deleted: true, conflicts: [entry('gone', 'x')] })])
    const data = JSON.parse(transfer.exportText())
    expect(data.keys).toEqual([{ key: 'n', value: 3 }, { key: 'o', value: { a: true } }])
  })

  it('plans an import against the rows without writing, then writes only new and changed keys', async () => {
    const { transfer, client } = await setup()
    await transfer.choose(file('room.json', exported([{ key: 'same', value: 1 }, { key: 'diff', value: 'new' }, { key: 'added', value: 7 }])))
    expect(transfer.plan).toMatchObject({ added: [{ key: 'added', value: 7 }], changed: [{ key: 'diff', value: 'new' }], unchanged: 1 })
    expect(client.writes).toEqual([])
    await transfer.run()
    expect(client.writes).toEqual([{ op: 'put', args: ['added', 7, {}] }, { op: 'put', args: ['diff', 'new', {}] }])
    expect(transfer.result).toBe('Imported 2 keys from room.json')
    expect(transfer.plan).toBeUndefined()
    expect(transfer.running).toBe(false)
  })

  it('refuses a too large file without reading it', async () => {
    const { transfer } = await setup()
    const big = file('big.json', '{}', MAX_IMPORT_BYTES + 1)
    await transfer.choose(big)
    expect(big.reads).toBe(0)
    expect(transfer.error).toMatch(/too large/)
    expect(transfer.plan).toBeUndefined()
  })

  it('explains a file that is not an export', async () => {
    const { transfer } = await setup()
    await transfer.choose(file('x.json', '{"keys": ['))
    expect(transfer.error).toMatch(/^The file is not JSON/)
    await transfer.choose(file('x.json', { hello: 1 }))
    expect(transfer.error).toBe('This is not a roomkv export file')
    expect(transfer.plan).toBeUndefined()
  })

  it('says how far an import got when a write is refused', async () => {
    const { transfer, client } = await setup([])
    client.failPut = new Error('disk full')
    await transfer.choose(file('room.json', exported([{ key: 'a', value: 1 }])))
    await transfer.run()
    expect(transfer.error).toBe('Imported 0 of 1 keys, then stopped: "a": disk full')
    expect(transfer.result).toBe('')
  })

  it('cancel drops the plan and writes nothing', async () => {
    const { transfer, client } = await setup([])
    await transfer.choose(file('room.json', exported([{ key: 'a', value: 1 }])))
    transfer.cancel()
    await transfer.run()
    expect(transfer.plan).toBeUndefined()
    expect(client.writes).toEqual([])
  })
})
