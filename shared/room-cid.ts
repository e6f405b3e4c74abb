/**
 * The CID under which room members announce themselves as DHT providers.
 * Derived from the public room id only, so relays and strangers learn that a
 * room exists and who is in it, never what it holds.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { keyIdFor, type RoomKeys } from './room-keys.ts'

const RAW_CODEC = 0x55
const SHA2_256 = 0x12
const LABEL = new TextEncoder().encode('roomkv/v1/members/')
const KEY_LABEL = new TextEncoder().encode('roomkv/v1/key/')

function labelledCid (label: Uint8Array, id: Uint8Array): CID {
  const bytes = new Uint8Array(label.length + id.length)
  bytes.set(label)
  bytes.set(id, label.length)
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256, sha256(bytes)))
}

export function roomMembersCid (roomId: Uint8Array): CID {
  return labelledCid(LABEL, roomId)
}

/**
 * The CID peers provide to say "I hold this key" (the kv-store example's
 * PUT_PROVIDER / GET_PROVIDERS). Built from room id and key id: it names
 * neither the room secret nor the key name.
 */
export function keyCid (keys: Pick<RoomKeys, 'roomId' | 'nameKey'>, name: string): CID {
  return labelledCid(KEY_LABEL, new Uint8Array([...keys.roomId, ...keyIdFor(keys, name)]))
}
