/**
 * The CID under which room members announce themselves as DHT providers.
 * Derived from the public room id only, so relays and strangers learn that a
 * room exists and who is in it, never what it holds.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'

const RAW_CODEC = 0x55
const SHA2_256 = 0x12
const LABEL = new TextEncoder().encode('roomkv/v1/members/')

export function roomMembersCid (roomId: Uint8Array): CID {
  const bytes = new Uint8Array(LABEL.length + roomId.length)
  bytes.set(LABEL)
  bytes.set(roomId, LABEL.length)
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256, sha256(bytes)))
}
