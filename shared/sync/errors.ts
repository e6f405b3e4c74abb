/**
 * Errors of the sync exchange (docs/protocol.md, "Sync"). Codes are stable:
 * peers send them in SyncReply.error and relays count them by code.
 */
import { RoomkvError } from '../errors.ts'

/** A sync message that breaks the format: bad range bounds, sizes or modes. */
export class SyncMalformedError extends RoomkvError {
  static readonly code = 'ERR_SYNC_MALFORMED'
  constructor (message = 'Malformed sync message') {
    super(message, SyncMalformedError.code)
    this.name = 'SyncMalformedError'
  }
}

/** A sync exchange over its bounds: too many rounds, ranges, ids or bytes, or too long. */
export class SyncLimitError extends RoomkvError {
  static readonly code = 'ERR_SYNC_LIMIT'
  constructor (message = 'Sync exchange over its limits') {
    super(message, SyncLimitError.code)
    this.name = 'SyncLimitError'
  }
}
