/**
 * Wire-level constants of roomkv v1. Changing any of these changes the
 * protocol: bump the version in the name and in docs/protocol.md.
 */

export const second = 1000
export const minute = 60 * second
export const KiB = 1024
export const MiB = 1024 * KiB

/** Kademlia protocol id: our own DHT, never the public IPFS one. */
export const DHT_PROTOCOL = '/roomkv/kad/1.0.0'
/** Replication sessions: one long-lived stream per (room, peer), batches and acks both ways. */
export const REPLICATE_PROTOCOL = '/roomkv/replicate/1.0.0'
/** Catch-up: range-based set reconciliation of the room's heads, then only the missing records. */
export const SYNC_PROTOCOL = '/roomkv/sync/2.0.0'
/**
 * WebRTC signalling over replication sessions (ReplicateFrame.signal): not
 * a stream protocol but a capability a peer lists in identify. A relay
 * passes signals on only between peers that list it; a member sends
 * signals only through a relay that lists it.
 */
export const SIGNAL_CAPABILITY = '/roomkv/signal/1.0.0'

/** First path segment of every roomkv DHT key; kad-dht picks validators by it. */
export const RECORD_NAMESPACE = 'roomkv'

/**
 * Record format written, carried in RecordBody.format. Format 2's payload
 * AEAD binds the whole body (every field but `sealed`), so a member
 * authenticates a record by decrypting it, without its signature.
 */
export const RECORD_FORMAT = 2
/** The earlier format, still accepted: its payload AEAD binds only the room id and key id. */
export const RECORD_FORMAT_V1 = 1

/** Longest key name, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 256
/** Largest value, as UTF-8 JSON text. */
export const MAX_VALUE_BYTES = 32 * KiB
/**
 * Largest encoded SignedRecord. Checked before any parsing. Leaves room for
 * a maximal key and value plus nonce, tag, clock, writer and replaces.
 */
export const MAX_RECORD_BYTES = 40 * KiB
/** Longest writer id. */
export const MAX_WRITER_CHARS = 64
/** Most record ids one record may supersede. */
export const MAX_REPLACES = 16
/** Most per-writer entries in a record's `seen` list. */
export const MAX_SEEN = 32
/**
 * Most heads (concurrent versions) one replica keeps per key: the greatest
 * by the record order; lower ones are dropped as if replaced. Bounds a
 * key's stored head set to MAX_HEADS * MAX_RECORD_BYTES.
 */
export const MAX_HEADS = 8
/** Records may not claim a clock further than this in the future. */
export const MAX_CLOCK_SKEW = 5 * minute

/** Bytes of the room secret carried in a room link. */
export const ROOM_SECRET_BYTES = 32
/** Bytes of the public room id (truncated SHA-256 of the room public key). */
export const ROOM_ID_BYTES = 16
/** Bytes of a record id (truncated SHA-256 of the record body). */
export const RECORD_ID_BYTES = 16
/** Bytes of the record id prefix used in sync digests. */
export const DIGEST_ID_BYTES = 8

/**
 * Largest replication frame: a batch of records (at most 256 KiB of them)
 * plus framing. Far below the 4 MiB a libp2p stream buffers unread.
 */
export const MAX_REPLICATE_FRAME_BYTES = 384 * KiB
/** Largest sealed signal (an SDP offer is ~1 KiB; an ICE candidate ~0.2 KiB). */
export const MAX_SIGNAL_BYTES = 4 * KiB
/** Most records in one replication batch: bounds the work one frame can ask for. */
export const MAX_REPLICATE_RECORDS = 512
/** Batches a sender may keep unacknowledged on one session (its credit). */
export const REPLICATE_WINDOW = 4
/** Sync: a mismatched range is split into this many ranges (docs/protocol.md, "Sync"). */
export const SYNC_BRANCHING = 16
/** Sync: a range holding at most this many of the sender's items is sent as their ids instead of split. */
export const SYNC_IDS_THRESHOLD = 32
/** Most ranges in one sync message (SyncQuery or SyncReply): <= 72 bytes each, 72 KiB. */
export const MAX_SYNC_RANGES = 1024
/** Most record ids one sync message lists (ids ranges together), and most in its want / need list: 128 KiB each. */
export const MAX_SYNC_IDS = 8192
/** Largest SyncQuery: MAX_SYNC_RANGES ranges and 2 * MAX_SYNC_IDS ids fit with room to spare. */
export const MAX_SYNC_QUERY_BYTES = 512 * KiB
/** Largest sync reply frame (records; or the round's ranges and need list). Far below the 4 MiB a stream buffers. */
export const MAX_SYNC_FRAME_BYTES = 1 * MiB
/** Most rounds (queries) in one sync: a fresh replica needs 1, 10 differences in 100,000 heads about 3. */
export const MAX_SYNC_ROUNDS = 256
/** A sync session ends (ERR_SYNC_LIMIT) after this long, whatever the progress. */
export const MAX_SYNC_DURATION = 5 * minute
/** Every read on a roomkv stream times out after this. */
export const STREAM_READ_TIMEOUT = 10 * second
