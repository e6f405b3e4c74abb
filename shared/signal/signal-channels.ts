/**
 * WebRTC signalling through the relays members already hold room sessions
 * with, instead of a relayed libp2p connection per dial.
 *
 * Why: @libp2p/webrtc signals over a stream of a circuit-relay connection
 * to the other member: a HOP/STOP exchange, a Noise handshake and a muxer
 * over the circuit, identify both ways, then the signalling stream. On
 * this machine that was ~180 ms of a ~280 ms WebRTC connect; the room
 * session to the relay is already open, and the relay already knows both
 * members. The transport (patched: patches/@libp2p+webrtc+*.patch) asks
 * `open` for a channel and falls back to the circuit when it gets none:
 * no route to the peer, a relay that does not pass signals on, or a
 * signalled dial to that peer failed a moment ago.
 *
 * A channel is one dial: its messages are sealed and signed (signal-message.ts),
 * numbered by a random dial id, and carried in replication frames. The
 * dialler's OFFER opens the channel on the other side.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'
import { toString } from 'uint8arrays'
import { second } from '../constants.ts'
import { NoSessionError, ProtocolError, StepTimeoutError, errorCode } from '../errors.ts'
import type { RoomKeys } from '../room-keys.ts'
import { openSignal, sealSignal, SignalMessage } from './signal-message.ts'

const log = logger('roomkv:signal')

/** A message of @libp2p/webrtc's signalling protocol, as its transport reads and writes them. */
export interface WebRtcSignal {
  type?: 'SDP_OFFER' | 'SDP_ANSWER' | 'ICE_CANDIDATE'
  data?: string
}

/** One dial's signalling, shaped like the pb stream @libp2p/webrtc uses. */
export interface SignalChannel {
  write(message: WebRtcSignal, options?: AbortOptions): Promise<void>
  /** The next message from the other side; rejects when the dial is given up on either side. */
  read(options?: AbortOptions): Promise<WebRtcSignal>
  /** The dial is done (connected): nothing more is read or sent. */
  close(options?: AbortOptions): Promise<void>
  /** The dial failed here: the other side is told (ABORT) and stops waiting. */
  abort(err: Error): void
}

export interface SignalChannelsInit {
  /** This node's key: signs SDP offers and answers. */
  privateKey: PrivateKey
  /** Send a sealed signal for `to` through `relay` (replication.signal). */
  send(relay: PeerId, roomId: Uint8Array, to: PeerId, sealed: Uint8Array): Promise<void>
  /** Whether a relay passes signals on (it lists SIGNAL_CAPABILITY in identify). @default every relay */
  relayTakesSignals?(relay: PeerId): Promise<boolean>
  /**
   * How long a dial waits for the other side's first message (its answer)
   * before giving up: a peer that does not take signals never answers, and
   * the next try goes over the circuit. @default 2 s
   */
  answerTimeout?: number
  /** How long a peer whose signalled dial failed is dialled over a circuit instead. @default 60 s */
  fallbackFor?: number
  /** Dials in progress at most (inbound offers past it are dropped). @default 64 */
  maxChannels?: number
}

/** What a room session tells the signalling: its keys, and which relay listed which member. */
export type RoomSignals = Pick<SignalChannels, 'addRoom' | 'route' | 'incomingFrom'>

export interface SignalChannels {
  /** A channel for a dial to `peer`, or undefined: dial over a circuit instead. */
  open(peer: PeerId, options?: AbortOptions): Promise<SignalChannel | undefined>
  /** The WebRTC transport takes inbound dials (an OFFER) here. */
  onIncoming(handler: (channel: SignalChannel, peer: PeerId) => void): void
  /** A room this node is in: signals sealed with its keys are opened. Returns its removal. */
  addRoom(keys: Pick<RoomKeys, 'roomId' | 'signalKey'>): () => void
  /** `relay` listed `peer` as a member of `roomId`: dials to it can be signalled there. */
  route(peer: PeerId, roomId: Uint8Array, relay: PeerId): void
  /**
   * Whether `peer` is dialling us through signalling right now (its offer
   * came, the dial is not over): the room then leaves the dial to it instead
   * of starting a second RTCPeerConnection for the same pair.
   */
  incomingFrom(peer: PeerId): boolean
  /** A signal (or, with `error`, a refusal) a relay passed on (replication.onSignal). */
  received(relay: PeerId, roomId: Uint8Array, sender: PeerId, sealed: Uint8Array, error: string): void
  /** Signals dropped, by error code (bad seal or signature, no room, too many dials). */
  readonly dropped: Record<string, number>
}

const TYPE_TO_WIRE: Record<string, SignalMessage.Type> = {
  SDP_OFFER: SignalMessage.Type.OFFER,
  SDP_ANSWER: SignalMessage.Type.ANSWER,
  ICE_CANDIDATE: SignalMessage.Type.CANDIDATE
}
const TYPE_FROM_WIRE: Partial<Record<SignalMessage.Type, WebRtcSignal['type']>> = {
  [SignalMessage.Type.OFFER]: 'SDP_OFFER',
  [SignalMessage.Type.ANSWER]: 'SDP_ANSWER',
  [SignalMessage.Type.CANDIDATE]: 'ICE_CANDIDATE'
}

interface Route { relay: PeerId, roomId: Uint8Array }

const randomDial = (): bigint => {
  const b = globalThis.crypto.getRandomValues(new Uint32Array(2))
  return (BigInt(b[0]) << 32n) | BigInt(b[1])
}

export function createSignalChannels (init: SignalChannelsInit): SignalChannels {
  const answerTimeout = init.answerTimeout ?? 2 * second
  const fallbackFor = init.fallbackFor ?? 60 * second
  const maxChannels = init.maxChannels ?? 64
  const selfId = peerIdFromPrivateKey(init.privateKey)
  const self = (): PeerId => selfId
  const rooms = new Map<string, Pick<RoomKeys, 'roomId' | 'signalKey'>>()
  const routes = new Map<string, Route>()
  const fallbackUntil = new Map<string, number>()
  const channels = new Map<string, Channel>()
  const dropped: Record<string, number> = {}
  let incoming: ((channel: SignalChannel, peer: PeerId) => void) | undefined

  /** Dial `peer` over a circuit for a while; the oldest marks go first past 4,096 peers. */
  const useCircuit = (peer: PeerId): void => {
    const id = peer.toString()
    fallbackUntil.delete(id)
    if (fallbackUntil.size >= 4096) fallbackUntil.delete(fallbackUntil.keys().next().value as string)
    fallbackUntil.set(id, Date.now() + fallbackFor)
  }

  const drop = (code: string, why: string, ...args: unknown[]): void => {
    dropped[code] = (dropped[code] ?? 0) + 1
    log(`dropped a signal (${code}): ${why}`, ...args)
  }

  class Channel implements SignalChannel {
    readonly key: string
    readonly #peer: PeerId
    readonly #route: Route
    readonly #keys: Pick<RoomKeys, 'roomId' | 'signalKey'>
    readonly #dial: bigint
    readonly outbound: boolean
    readonly #queue: WebRtcSignal[] = []
    readonly #readers: Array<{ resolve: (m: WebRtcSignal) => void, reject: (err: Error) => void }> = []
    #writes: Promise<void> = Promise.resolve()
    #failed?: Error
    #done = false
    #timer?: ReturnType<typeof setTimeout>

    constructor (peer: PeerId, route: Route, keys: Pick<RoomKeys, 'roomId' | 'signalKey'>, dial: bigint, outbound: boolean) {
      this.#peer = peer
      this.#route = route
      this.#keys = keys
      this.#dial = dial
      this.outbound = outbound
      this.key = `${peer.toString()}/${dial}`
      channels.set(this.key, this)
      if (outbound) {
        // Nothing back in time: the peer does not take signals (or is gone); the next try uses a circuit.
        this.#timer = setTimeout(() => {
          useCircuit(peer)
          this.#fail(new StepTimeoutError(`No answer over room signalling from ${peer.toString()} in ${answerTimeout} ms`), true)
        }, answerTimeout)
      }
    }

    get peer (): PeerId { return this.#peer }
    get relay (): PeerId { return this.#route.relay }

    async write (message: WebRtcSignal, options?: AbortOptions): Promise<void> {
      const type = TYPE_TO_WIRE[message.type ?? '']
      if (type == null) throw new ProtocolError(`Unknown WebRTC signal type ${String(message.type)}`)
      await this.#send(type, message.data ?? '', options)
    }

    async #send (type: SignalMessage.Type, data: string, options?: AbortOptions): Promise<void> {
      // In order: an ICE candidate must not overtake the offer it belongs to (sealing is async).
      const next = this.#writes.then(async () => {
        if (this.#failed != null && type !== SignalMessage.Type.ABORT) throw this.#failed
        options?.signal?.throwIfAborted()
        const sealed = await sealSignal(this.#keys, init.privateKey, { to: this.#peer, dial: this.#dial, type, data })
        await init.send(this.#route.relay, this.#route.roomId, this.#peer, sealed)
        log('sent %s to %p', type, this.#peer)
      })
      this.#writes = next.catch(() => {})
      return next
    }

    async read (options?: AbortOptions): Promise<WebRtcSignal> {
      const queued = this.#queue.shift()
      if (queued != null) return queued
      if (this.#failed != null) throw this.#failed
      return await new Promise<WebRtcSignal>((resolve, reject) => {
        const signal = options?.signal
        const reader = {
          resolve: (m: WebRtcSignal) => { signal?.removeEventListener('abort', onAbort); resolve(m) },
          reject: (err: Error) => { signal?.removeEventListener('abort', onAbort); reject(err) }
        }
        const onAbort = (): void => {
          const i = this.#readers.indexOf(reader)
          if (i >= 0) this.#readers.splice(i, 1)
          reject(signal?.reason ?? new StepTimeoutError())
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        this.#readers.push(reader)
      })
    }

    /** A message from the other side. */
    deliver (type: SignalMessage.Type, data: string): void {
      if (this.#done) return
      clearTimeout(this.#timer)
      if (type === SignalMessage.Type.ABORT) {
        this.#fail(new ProtocolError(`Peer gave the dial up: ${data}`), false)
        return
      }
      const message: WebRtcSignal = { type: TYPE_FROM_WIRE[type], data }
      const reader = this.#readers.shift()
      if (reader != null) reader.resolve(message)
      else if (this.#queue.length < 256) this.#queue.push(message)
    }

    /** The relay could not pass our signals on. */
    refused (code: string): void {
      useCircuit(this.#peer)
      this.#fail(code === new NoSessionError().code ? new NoSessionError() : new ProtocolError(`Relay refused a signal: ${code}`), false)
    }

    async close (): Promise<void> {
      this.#finish()
    }

    abort (err: Error): void {
      this.#fail(err, true)
    }

    #fail (err: Error, tell: boolean): void {
      if (this.#done) return
      this.#failed = err
      if (tell) void this.#send(SignalMessage.Type.ABORT, errorCode(err)).catch(() => {})
      for (const reader of this.#readers.splice(0)) reader.reject(err)
      this.#finish()
    }

    #finish (): void {
      this.#done = true
      clearTimeout(this.#timer)
      if (channels.get(this.key) === this) channels.delete(this.key)
      // Readers still waiting (the transport races a read against "connected") are let go.
      for (const reader of this.#readers.splice(0)) reader.reject(this.#failed ?? new ProtocolError('Signalling done'))
    }
  }

  async function openSealed (relay: PeerId, roomId: Uint8Array, sender: PeerId, sealed: Uint8Array): Promise<void> {
    const keys = rooms.get(toString(roomId, 'base32'))
    if (keys == null) {
      drop('ERR_WRONG_ROOM', 'not in room %s', toString(roomId, 'base32'))
      return
    }
    let opened
    log('received a signal from %p', sender)
    try {
      opened = await openSignal(keys, sealed, sender, self())
      log('opened %s from %p', opened.type, sender)
    } catch (err) {
      drop(errorCode(err), 'from %p: %s', sender, (err as Error).message)
      return
    }
    const key = `${opened.from.toString()}/${opened.dial}`
    const channel = channels.get(key)
    if (channel != null) {
      channel.deliver(opened.type, opened.data)
      return
    }
    // Anything but an offer for a dial we do not know is late (the dial is over): ignored.
    if (opened.type !== SignalMessage.Type.OFFER) return
    if (incoming == null || channels.size >= maxChannels) {
      drop('ERR_RATE_LIMITED', 'no room for another dial from %p', opened.from)
      return
    }
    const route = { relay, roomId }
    routes.set(opened.from.toString(), route)
    const inbound = new Channel(opened.from, route, keys, opened.dial, false)
    inbound.deliver(opened.type, opened.data)
    incoming(inbound, opened.from)
  }

  return {
    dropped,
    async open (peer) {
      const id = peer.toString()
      const route = routes.get(id)
      if (route == null) return undefined
      const keys = rooms.get(toString(route.roomId, 'base32'))
      if (keys == null) return undefined
      if ((fallbackUntil.get(id) ?? 0) > Date.now()) return undefined
      if (channels.size >= maxChannels) return undefined
      if (init.relayTakesSignals != null && !(await init.relayTakesSignals(route.relay).catch(() => false))) return undefined
      log('signalling a dial to %p through %p', peer, route.relay)
      return new Channel(peer, route, keys, randomDial(), true)
    },
    onIncoming (handler) {
      incoming = handler
    },
    incomingFrom (peer) {
      for (const channel of channels.values()) if (!channel.outbound && channel.peer.equals(peer)) return true
      return false
    },
    addRoom (keys) {
      const text = toString(keys.roomId, 'base32')
      rooms.set(text, keys)
      return () => {
        if (rooms.get(text) === keys) rooms.delete(text)
        for (const [peer, route] of routes) if (toString(route.roomId, 'base32') === text) routes.delete(peer)
      }
    },
    route (peer, roomId, relay) {
      if (peer.equals(self())) return
      if (routes.size >= 4096 && !routes.has(peer.toString())) routes.delete(routes.keys().next().value as string)
      routes.set(peer.toString(), { relay, roomId })
    },
    received (relay, roomId, sender, sealed, error) {
      if (error !== '') {
        // The relay could not pass on our signals to `sender`: every dial to it through that relay fails now.
        for (const channel of [...channels.values()]) if (channel.peer.equals(sender) && channel.relay.equals(relay)) channel.refused(error)
        return
      }
      void openSealed(relay, roomId, sender, sealed).catch((err) => { drop(errorCode(err), 'unexpected: %e', err) })
    }
  }
}
