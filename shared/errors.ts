/**
 * Typed errors. Callers branch on `err.code` (stable, part of the API) or
 * `err.name`; the UI maps codes to human messages.
 */
export class RoomkvError extends Error {
  readonly code: string

  constructor (message: string, code: string) {
    super(message)
    this.name = 'RoomkvError'
    this.code = code
  }
}

function define (name: string, code: string, defaultMessage: string): new (message?: string) => RoomkvError {
  const cls = class extends RoomkvError {
    static readonly code = code
    constructor (message: string = defaultMessage) {
      super(message, code)
      this.name = name
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  return cls
}

/** A room link that is malformed, truncated or of an unknown version. */
export const InvalidLinkError = define('InvalidLinkError', 'ERR_INVALID_LINK', 'Invalid room link')
/** A key name that is empty, too long or not valid UTF-8 text. */
export const InvalidKeyError = define('InvalidKeyError', 'ERR_INVALID_KEY', 'Invalid key')
/** A value that cannot be stored: not JSON-able, or over MAX_VALUE_BYTES. */
export const InvalidValueError = define('InvalidValueError', 'ERR_INVALID_VALUE', 'Invalid value')
/** An encoded record over MAX_RECORD_BYTES; rejected before parsing. */
export const RecordTooLargeError = define('RecordTooLargeError', 'ERR_RECORD_TOO_LARGE', 'Record too large')
/** A record that does not parse or breaks a structural rule. */
export const InvalidRecordError = define('InvalidRecordError', 'ERR_INVALID_RECORD', 'Invalid record')
/** A record whose signature does not verify under its room key. */
export const BadSignatureError = define('BadSignatureError', 'ERR_BAD_SIGNATURE', 'Record signature does not verify')
/** A record that belongs to another room or another DHT key. */
export const WrongRoomError = define('WrongRoomError', 'ERR_WRONG_ROOM', 'Record belongs to another room or key')
/** A record whose payload does not decrypt with this room's secret. */
export const DecryptError = define('DecryptError', 'ERR_DECRYPT', 'Record does not decrypt with this room secret')
/** A record past its expiry time. */
export const RecordExpiredError = define('RecordExpiredError', 'ERR_RECORD_EXPIRED', 'Record has expired')
/** A peer sent more than its allowance. */
export const RateLimitedError = define('RateLimitedError', 'ERR_RATE_LIMITED', 'Rate limit exceeded')
/** A network step did not finish in time. */
export const StepTimeoutError = define('StepTimeoutError', 'ERR_TIMEOUT', 'Timed out')
/** No relay could be reached or none gave a reservation. */
export const RelayUnreachableError = define('RelayUnreachableError', 'ERR_RELAY_UNREACHABLE', 'No relay reachable')
/** Fewer peers than asked for stored or answered (the write is still kept locally and synced later). */
export const QuorumFailedError = define('QuorumFailedError', 'ERR_QUORUM_FAILED', 'Quorum not reached')
/** A WebRTC signal that does not open with the room's signal key, or whose signature or addressee is wrong. */
export const BadSignalError = define('BadSignalError', 'ERR_BAD_SIGNAL', 'Signal does not open or verify')
/** A relay could not pass a signal on: the member has no session there (gone, or it cannot take signals). */
export const NoSessionError = define('NoSessionError', 'ERR_NO_SESSION', 'Member has no session at that relay')
/** A remote peer answered with a protocol error. */
export const ProtocolError = define('ProtocolError', 'ERR_PROTOCOL', 'Protocol error')

export function errorCode (err: unknown): string {
  if (err instanceof RoomkvError) return err.code
  if (err instanceof Error && typeof (err as any).code === 'string') return (err as any).code
  if (err instanceof Error) return err.name
  return 'ERR_UNKNOWN'
}
