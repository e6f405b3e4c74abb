/**
 * Sealed WebRTC signals: what two members of a room exchange through a
 * relay to open a direct connection, without a relayed libp2p connection
 * (circuit + Noise + muxer) first.
 *
 * Why sealed: the relay passes signals on but must learn nothing from them
 * (ICE candidates carry the members' local addresses), and no one outside
 * the room may inject any: AES-256-GCM under the room's signal key.
 * Why signed: every room member holds that key, so it alone would let one
 * member answer in another's name. The SDP offer and answer carry the DTLS
 * certificate fingerprints that end-to-end authenticate the WebRTC
 * connection (it skips Noise); each is signed with the sender's libp2p key,
 * and the receiver checks the key is the peer id the connection will be
 * credited to. That gives what Noise over a circuit gave: a relay (or a
 * member) in the middle cannot pose as either side.
 *
 * Layout (docs/protocol.md, "Signalling"): nonce (12 random bytes) ||
 * AES-256-GCM(signalKey, nonce, aad = "roomkv/v1/signal" || roomId,
 * SignalMessage protobuf) with the 16-byte tag last.
 */
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import * as Digest from 'multiformats/hashes/digest'
import { concat } from 'uint8arrays'
import { aesGcmDecrypt, aesGcmEncrypt } from '../aead.ts'
import { MAX_SIGNAL_BYTES } from '../constants.ts'
import { BadSignalError } from '../errors.ts'
import { SignalMessage } from '../proto/protocol.ts'
import type { RoomKeys } from '../room-keys.ts'

export { SignalMessage }

const NONCE_BYTES = 12
const AAD_PREFIX = new TextEncoder().encode('roomkv/v1/signal')
const SIGNING_DOMAIN = new TextEncoder().encode('roomkv/v1/signal-sdp')

/** What a signal says, before sealing / after opening. `from` is filled in by sealSignal from the key. */
export interface Signal {
  to: PeerId
  dial: bigint
  type: SignalMessage.Type
  data: string
}

export interface OpenedSignal extends Signal {
  /** The sender, as proven by its key (and, for OFFER / ANSWER, its signature). */
  from: PeerId
}

/** The wire number of each type (SignalMessage.Type is a string enum in TypeScript). */
const TYPE_NUMBER: Record<SignalMessage.Type, number> = {
  [SignalMessage.Type.OFFER]: 0,
  [SignalMessage.Type.ANSWER]: 1,
  [SignalMessage.Type.CANDIDATE]: 2,
  [SignalMessage.Type.ABORT]: 3
}

const signed = (type: SignalMessage.Type): boolean => type === SignalMessage.Type.OFFER || type === SignalMessage.Type.ANSWER

/**
 * The bytes an OFFER or ANSWER signature covers: a domain label, the
 * addressee (so it cannot be replayed to another peer), the dial id (nor
 * into another dial), the type and the SDP.
 */
export function signalSigningBytes (to: Uint8Array, dial: bigint, type: SignalMessage.Type, data: string): Uint8Array {
  const dialBytes = new Uint8Array(8)
  new DataView(dialBytes.buffer).setBigUint64(0, dial)
  return concat([SIGNING_DOMAIN, Uint8Array.of(to.length), to, dialBytes, Uint8Array.of(TYPE_NUMBER[type]), new TextEncoder().encode(data)])
}

const aadOf = (roomId: Uint8Array): Uint8Array => concat([AAD_PREFIX, roomId])

/** Seal a signal from the holder of `key` for a member of the room `keys` belong to. */
export async function sealSignal (keys: Pick<RoomKeys, 'signalKey' | 'roomId'>, key: PrivateKey, signal: Signal, nonce: Uint8Array = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES))): Promise<Uint8Array> {
  const to = signal.to.toMultihash().bytes
  const signature = signed(signal.type) ? await key.sign(signalSigningBytes(to, signal.dial, signal.type, signal.data)) : new Uint8Array(0)
  const plain = SignalMessage.encode({ from: publicKeyToProtobuf(key.publicKey), to, dial: signal.dial, type: signal.type, data: signal.data, signature })
  const sealed = concat([nonce, await aesGcmEncrypt(keys.signalKey, nonce, aadOf(keys.roomId), plain)])
  if (sealed.length > MAX_SIGNAL_BYTES) throw new BadSignalError(`Signal of ${sealed.length} bytes is over ${MAX_SIGNAL_BYTES}`)
  return sealed
}

/**
 * Open a signal a relay passed on from `sender` (the relay's word for who
 * sent it), addressed to `self`. Throws BadSignalError when it does not
 * decrypt, is not for us, is not from `sender`, or its signature fails.
 */
export async function openSignal (keys: Pick<RoomKeys, 'signalKey' | 'roomId'>, sealed: Uint8Array, sender: PeerId, self: PeerId): Promise<OpenedSignal> {
  if (sealed.length > MAX_SIGNAL_BYTES || sealed.length < NONCE_BYTES + 16) throw new BadSignalError('Signal size out of bounds')
  let message: SignalMessage
  try {
    const plain = await aesGcmDecrypt(keys.signalKey, sealed.subarray(0, NONCE_BYTES), aadOf(keys.roomId), sealed.subarray(NONCE_BYTES))
    message = SignalMessage.decode(plain)
  } catch {
    throw new BadSignalError('Signal does not open with this room\'s signal key')
  }
  let from: PeerId
  let to: PeerId
  try {
    from = peerIdFromPublicKey(publicKeyFromProtobuf(message.from))
    to = peerIdFromMultihash(Digest.decode(message.to))
  } catch {
    throw new BadSignalError('Signal names no valid sender key or addressee')
  }
  if (!from.equals(sender)) throw new BadSignalError('Signal key is not the sender\'s')
  if (!to.equals(self)) throw new BadSignalError('Signal is for another peer')
  if (signed(message.type)) {
    let ok = false
    try {
      ok = await (from.publicKey?.verify(signalSigningBytes(message.to, message.dial, message.type, message.data), message.signature) ?? false)
    } catch {} // a signature of the wrong length throws
    if (!ok) throw new BadSignalError('Signal signature does not verify')
  } else if (message.signature.length > 0) {
    throw new BadSignalError('Unsigned signal type carries a signature')
  }
  return { from, to, dial: message.dial, type: message.type, data: message.data }
}
