import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Absent bytes fields of decoded messages: one shared empty array (scripts/gen-proto.mjs). */
const EMPTY_BYTES = new Uint8Array(0)

export interface SyncRange {
  upper: Uint8Array
  mode: number
  fingerprint: Uint8Array
  ids: Uint8Array
}

export namespace SyncRange {
  let _codec: Codec<SyncRange>

  export const codec = (): Codec<SyncRange> => {
    if (_codec == null) {
      _codec = message<SyncRange>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.upper != null && obj.upper.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.upper)
        }

        if ((obj.mode != null && obj.mode !== 0)) {
          w.uint32(16)
          w.uint32(obj.mode)
        }

        if ((obj.fingerprint != null && obj.fingerprint.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.fingerprint)
        }

        if ((obj.ids != null && obj.ids.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.ids)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          upper: EMPTY_BYTES,
          mode: 0,
          fingerprint: EMPTY_BYTES,
          ids: EMPTY_BYTES
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.upper = reader.bytes()
              break
            }
            case 2: {
              obj.mode = reader.uint32()
              break
            }
            case 3: {
              obj.fingerprint = reader.bytes()
              break
            }
            case 4: {
              obj.ids = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.upper`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.mode`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.fingerprint`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.ids`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncRangeUpperFieldEvent {
    field: '$.upper'
    value: Uint8Array
  }

  export interface SyncRangeModeFieldEvent {
    field: '$.mode'
    value: number
  }

  export interface SyncRangeFingerprintFieldEvent {
    field: '$.fingerprint'
    value: Uint8Array
  }

  export interface SyncRangeIdsFieldEvent {
    field: '$.ids'
    value: Uint8Array
  }

  export function encode (obj: Partial<SyncRange>): Uint8Array {
    return encodeMessage(obj, SyncRange.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRange>): SyncRange {
    return decodeMessage(buf, SyncRange.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRange>): Generator<SyncRangeUpperFieldEvent | SyncRangeModeFieldEvent | SyncRangeFingerprintFieldEvent | SyncRangeIdsFieldEvent> {
    return streamMessage(buf, SyncRange.codec(), opts)
  }
}

export interface SyncQuery {
  roomId: Uint8Array
  ranges: SyncRange[]
  want: Uint8Array
}

export namespace SyncQuery {
  let _codec: Codec<SyncQuery>

  export const codec = (): Codec<SyncQuery> => {
    if (_codec == null) {
      _codec = message<SyncQuery>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.roomId != null && obj.roomId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.roomId)
        }

        if (obj.ranges != null && obj.ranges.length > 0) {
          for (const value of obj.ranges) {
            w.uint32(18)
            SyncRange.codec().encode(value, w)
          }
        }

        if ((obj.want != null && obj.want.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.want)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          roomId: EMPTY_BYTES,
          ranges: [],
          want: EMPTY_BYTES
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.roomId = reader.bytes()
              break
            }
            case 2: {
              if (opts.limits?.ranges != null && obj.ranges.length === opts.limits.ranges) {
                throw new MaxLengthError('Decode error - repeated field "ranges" had too many elements')
              }

              obj.ranges.push(SyncRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ranges$
              }))
              break
            }
            case 3: {
              obj.want = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          ranges: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.roomId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              if (opts.limits?.ranges != null && obj.ranges === opts.limits.ranges) {
                throw new MaxLengthError('Streaming decode error - repeated field "ranges" had too many elements')
              }

              for (const evt of SyncRange.codec().stream(reader, reader.uint32(), `${prefix}.ranges[]`, {
                limits: opts.limits?.ranges$
              })) {
                yield {
                  ...evt,
                  index: obj.ranges
                }
              }

              obj.ranges++

              break
            }
            case 3: {
              yield {
                field: `${prefix}.want`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncQueryRoomIdFieldEvent {
    field: '$.roomId'
    value: Uint8Array
  }

  export interface SyncQueryRangesUpperFieldEvent {
    field: '$.ranges[].upper'
    value: Uint8Array
    index: number
  }

  export interface SyncQueryRangesModeFieldEvent {
    field: '$.ranges[].mode'
    value: number
    index: number
  }

  export interface SyncQueryRangesFingerprintFieldEvent {
    field: '$.ranges[].fingerprint'
    value: Uint8Array
    index: number
  }

  export interface SyncQueryRangesIdsFieldEvent {
    field: '$.ranges[].ids'
    value: Uint8Array
    index: number
  }

  export interface SyncQueryWantFieldEvent {
    field: '$.want'
    value: Uint8Array
  }

  export function encode (obj: Partial<SyncQuery>): Uint8Array {
    return encodeMessage(obj, SyncQuery.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncQuery>): SyncQuery {
    return decodeMessage(buf, SyncQuery.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncQuery>): Generator<SyncQueryRoomIdFieldEvent | SyncQueryRangesUpperFieldEvent | SyncQueryRangesModeFieldEvent | SyncQueryRangesFingerprintFieldEvent | SyncQueryRangesIdsFieldEvent | SyncQueryWantFieldEvent> {
    return streamMessage(buf, SyncQuery.codec(), opts)
  }
}

export interface SyncReply {
  ranges: SyncRange[]
  need: Uint8Array
  records: Uint8Array[]
  last: boolean
  error: string
  total: number
}

export namespace SyncReply {
  let _codec: Codec<SyncReply>

  export const codec = (): Codec<SyncReply> => {
    if (_codec == null) {
      _codec = message<SyncReply>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.ranges != null && obj.ranges.length > 0) {
          for (const value of obj.ranges) {
            w.uint32(10)
            SyncRange.codec().encode(value, w)
          }
        }

        if ((obj.need != null && obj.need.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.need)
        }

        if (obj.records != null && obj.records.length > 0) {
          for (const value of obj.records) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if ((obj.last != null && obj.last !== false)) {
          w.uint32(32)
          w.bool(obj.last)
        }

        if ((obj.error != null && obj.error !== '')) {
          w.uint32(42)
          w.string(obj.error)
        }

        if ((obj.total != null && obj.total !== 0)) {
          w.uint32(48)
          w.uint32(obj.total)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          ranges: [],
          need: EMPTY_BYTES,
          records: [],
          last: false,
          error: '',
          total: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.ranges != null && obj.ranges.length === opts.limits.ranges) {
                throw new MaxLengthError('Decode error - repeated field "ranges" had too many elements')
              }

              obj.ranges.push(SyncRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ranges$
              }))
              break
            }
            case 2: {
              obj.need = reader.bytes()
              break
            }
            case 3: {
              if (opts.limits?.records != null && obj.records.length === opts.limits.records) {
                throw new MaxLengthError('Decode error - repeated field "records" had too many elements')
              }

              obj.records.push(reader.bytes())
              break
            }
            case 4: {
              obj.last = reader.bool()
              break
            }
            case 5: {
              obj.error = reader.string()
              break
            }
            case 6: {
              obj.total = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          ranges: 0,
          records: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.ranges != null && obj.ranges === opts.limits.ranges) {
                throw new MaxLengthError('Streaming decode error - repeated field "ranges" had too many elements')
              }

              for (const evt of SyncRange.codec().stream(reader, reader.uint32(), `${prefix}.ranges[]`, {
                limits: opts.limits?.ranges$
              })) {
                yield {
                  ...evt,
                  index: obj.ranges
                }
              }

              obj.ranges++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.need`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              if (opts.limits?.records != null && obj.records === opts.limits.records) {
                throw new MaxLengthError('Streaming decode error - repeated field "records" had too many elements')
              }

              yield {
                field: `${prefix}.records[]`,
                index: obj.records,
                value: reader.bytes()
              }

              obj.records++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.last`,
                value: reader.bool()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.error`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.total`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncReplyRangesUpperFieldEvent {
    field: '$.ranges[].upper'
    value: Uint8Array
    index: number
  }

  export interface SyncReplyRangesModeFieldEvent {
    field: '$.ranges[].mode'
    value: number
    index: number
  }

  export interface SyncReplyRangesFingerprintFieldEvent {
    field: '$.ranges[].fingerprint'
    value: Uint8Array
    index: number
  }

  export interface SyncReplyRangesIdsFieldEvent {
    field: '$.ranges[].ids'
    value: Uint8Array
    index: number
  }

  export interface SyncReplyNeedFieldEvent {
    field: '$.need'
    value: Uint8Array
  }

  export interface SyncReplyRecordsFieldEvent {
    field: '$.records[]'
    index: number
    value: Uint8Array
  }

  export interface SyncReplyLastFieldEvent {
    field: '$.last'
    value: boolean
  }

  export interface SyncReplyErrorFieldEvent {
    field: '$.error'
    value: string
  }

  export interface SyncReplyTotalFieldEvent {
    field: '$.total'
    value: number
  }

  export function encode (obj: Partial<SyncReply>): Uint8Array {
    return encodeMessage(obj, SyncReply.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncReply>): SyncReply {
    return decodeMessage(buf, SyncReply.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncReply>): Generator<SyncReplyRangesUpperFieldEvent | SyncReplyRangesModeFieldEvent | SyncReplyRangesFingerprintFieldEvent | SyncReplyRangesIdsFieldEvent | SyncReplyNeedFieldEvent | SyncReplyRecordsFieldEvent | SyncReplyLastFieldEvent | SyncReplyErrorFieldEvent | SyncReplyTotalFieldEvent> {
    return streamMessage(buf, SyncReply.codec(), opts)
  }
}

export interface ReplicateFrame {
  roomId: Uint8Array
  seq: number
  records: Uint8Array[]
  delivered: Uint8Array[]
  ack: number
  results: AckResult[]
  error: string
  members: Uint8Array[]
  query: number
  want: Uint8Array[]
  reply: number
  signalPeer: Uint8Array
  signal: Uint8Array
  signals: boolean
}

export namespace ReplicateFrame {
  let _codec: Codec<ReplicateFrame>

  export const codec = (): Codec<ReplicateFrame> => {
    if (_codec == null) {
      _codec = message<ReplicateFrame>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.roomId != null && obj.roomId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.roomId)
        }

        if ((obj.seq != null && obj.seq !== 0)) {
          w.uint32(16)
          w.uint32(obj.seq)
        }

        if (obj.records != null && obj.records.length > 0) {
          for (const value of obj.records) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if (obj.delivered != null && obj.delivered.length > 0) {
          for (const value of obj.delivered) {
            w.uint32(34)
            w.bytes(value)
          }
        }

        if ((obj.ack != null && obj.ack !== 0)) {
          w.uint32(40)
          w.uint32(obj.ack)
        }

        if (obj.results != null && obj.results.length > 0) {
          for (const value of obj.results) {
            w.uint32(50)
            AckResult.codec().encode(value, w)
          }
        }

        if ((obj.error != null && obj.error !== '')) {
          w.uint32(58)
          w.string(obj.error)
        }

        if (obj.members != null && obj.members.length > 0) {
          for (const value of obj.members) {
            w.uint32(66)
            w.bytes(value)
          }
        }

        if ((obj.query != null && obj.query !== 0)) {
          w.uint32(72)
          w.uint32(obj.query)
        }

        if (obj.want != null && obj.want.length > 0) {
          for (const value of obj.want) {
            w.uint32(82)
            w.bytes(value)
          }
        }

        if ((obj.reply != null && obj.reply !== 0)) {
          w.uint32(88)
          w.uint32(obj.reply)
        }

        if ((obj.signalPeer != null && obj.signalPeer.byteLength > 0)) {
          w.uint32(98)
          w.bytes(obj.signalPeer)
        }

        if ((obj.signal != null && obj.signal.byteLength > 0)) {
          w.uint32(106)
          w.bytes(obj.signal)
        }

        if ((obj.signals != null && obj.signals !== false)) {
          w.uint32(112)
          w.bool(obj.signals)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          roomId: EMPTY_BYTES,
          seq: 0,
          records: [],
          delivered: [],
          ack: 0,
          results: [],
          error: '',
          members: [],
          query: 0,
          want: [],
          reply: 0,
          signalPeer: EMPTY_BYTES,
          signal: EMPTY_BYTES,
          signals: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.roomId = reader.bytes()
              break
            }
            case 2: {
              obj.seq = reader.uint32()
              break
            }
            case 3: {
              if (opts.limits?.records != null && obj.records.length === opts.limits.records) {
                throw new MaxLengthError('Decode error - repeated field "records" had too many elements')
              }

              obj.records.push(reader.bytes())
              break
            }
            case 4: {
              if (opts.limits?.delivered != null && obj.delivered.length === opts.limits.delivered) {
                throw new MaxLengthError('Decode error - repeated field "delivered" had too many elements')
              }

              obj.delivered.push(reader.bytes())
              break
            }
            case 5: {
              obj.ack = reader.uint32()
              break
            }
            case 6: {
              if (opts.limits?.results != null && obj.results.length === opts.limits.results) {
                throw new MaxLengthError('Decode error - repeated field "results" had too many elements')
              }

              obj.results.push(AckResult.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.results$
              }))
              break
            }
            case 7: {
              obj.error = reader.string()
              break
            }
            case 8: {
              if (opts.limits?.members != null && obj.members.length === opts.limits.members) {
                throw new MaxLengthError('Decode error - repeated field "members" had too many elements')
              }

              obj.members.push(reader.bytes())
              break
            }
            case 9: {
              obj.query = reader.uint32()
              break
            }
            case 10: {
              if (opts.limits?.want != null && obj.want.length === opts.limits.want) {
                throw new MaxLengthError('Decode error - repeated field "want" had too many elements')
              }

              obj.want.push(reader.bytes())
              break
            }
            case 11: {
              obj.reply = reader.uint32()
              break
            }
            case 12: {
              obj.signalPeer = reader.bytes()
              break
            }
            case 13: {
              obj.signal = reader.bytes()
              break
            }
            case 14: {
              obj.signals = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          records: 0,
          delivered: 0,
          results: 0,
          members: 0,
          want: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.roomId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              if (opts.limits?.records != null && obj.records === opts.limits.records) {
                throw new MaxLengthError('Streaming decode error - repeated field "records" had too many elements')
              }

              yield {
                field: `${prefix}.records[]`,
                index: obj.records,
                value: reader.bytes()
              }

              obj.records++

              break
            }
            case 4: {
              if (opts.limits?.delivered != null && obj.delivered === opts.limits.delivered) {
                throw new MaxLengthError('Streaming decode error - repeated field "delivered" had too many elements')
              }

              yield {
                field: `${prefix}.delivered[]`,
                index: obj.delivered,
                value: reader.bytes()
              }

              obj.delivered++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.ack`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              if (opts.limits?.results != null && obj.results === opts.limits.results) {
                throw new MaxLengthError('Streaming decode error - repeated field "results" had too many elements')
              }

              for (const evt of AckResult.codec().stream(reader, reader.uint32(), `${prefix}.results[]`, {
                limits: opts.limits?.results$
              })) {
                yield {
                  ...evt,
                  index: obj.results
                }
              }

              obj.results++

              break
            }
            case 7: {
              yield {
                field: `${prefix}.error`,
                value: reader.string()
              }
              break
            }
            case 8: {
              if (opts.limits?.members != null && obj.members === opts.limits.members) {
                throw new MaxLengthError('Streaming decode error - repeated field "members" had too many elements')
              }

              yield {
                field: `${prefix}.members[]`,
                index: obj.members,
                value: reader.bytes()
              }

              obj.members++

              break
            }
            case 9: {
              yield {
                field: `${prefix}.query`,
                value: reader.uint32()
              }
              break
            }
            case 10: {
              if (opts.limits?.want != null && obj.want === opts.limits.want) {
                throw new MaxLengthError('Streaming decode error - repeated field "want" had too many elements')
              }

              yield {
                field: `${prefix}.want[]`,
                index: obj.want,
                value: reader.bytes()
              }

              obj.want++

              break
            }
            case 11: {
              yield {
                field: `${prefix}.reply`,
                value: reader.uint32()
              }
              break
            }
            case 12: {
              yield {
                field: `${prefix}.signalPeer`,
                value: reader.bytes()
              }
              break
            }
            case 13: {
              yield {
                field: `${prefix}.signal`,
                value: reader.bytes()
              }
              break
            }
            case 14: {
              yield {
                field: `${prefix}.signals`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ReplicateFrameRoomIdFieldEvent {
    field: '$.roomId'
    value: Uint8Array
  }

  export interface ReplicateFrameSeqFieldEvent {
    field: '$.seq'
    value: number
  }

  export interface ReplicateFrameRecordsFieldEvent {
    field: '$.records[]'
    index: number
    value: Uint8Array
  }

  export interface ReplicateFrameDeliveredFieldEvent {
    field: '$.delivered[]'
    index: number
    value: Uint8Array
  }

  export interface ReplicateFrameAckFieldEvent {
    field: '$.ack'
    value: number
  }

  export interface ReplicateFrameResultsStatusFieldEvent {
    field: '$.results[].status'
    value: AckResult.Status
    index: number
  }

  export interface ReplicateFrameResultsCodeFieldEvent {
    field: '$.results[].code'
    value: string
    index: number
  }

  export interface ReplicateFrameErrorFieldEvent {
    field: '$.error'
    value: string
  }

  export interface ReplicateFrameMembersFieldEvent {
    field: '$.members[]'
    index: number
    value: Uint8Array
  }

  export interface ReplicateFrameQueryFieldEvent {
    field: '$.query'
    value: number
  }

  export interface ReplicateFrameWantFieldEvent {
    field: '$.want[]'
    index: number
    value: Uint8Array
  }

  export interface ReplicateFrameReplyFieldEvent {
    field: '$.reply'
    value: number
  }

  export interface ReplicateFrameSignalPeerFieldEvent {
    field: '$.signalPeer'
    value: Uint8Array
  }

  export interface ReplicateFrameSignalFieldEvent {
    field: '$.signal'
    value: Uint8Array
  }

  export interface ReplicateFrameSignalsFieldEvent {
    field: '$.signals'
    value: boolean
  }

  export function encode (obj: Partial<ReplicateFrame>): Uint8Array {
    return encodeMessage(obj, ReplicateFrame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplicateFrame>): ReplicateFrame {
    return decodeMessage(buf, ReplicateFrame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplicateFrame>): Generator<ReplicateFrameRoomIdFieldEvent | ReplicateFrameSeqFieldEvent | ReplicateFrameRecordsFieldEvent | ReplicateFrameDeliveredFieldEvent | ReplicateFrameAckFieldEvent | ReplicateFrameResultsStatusFieldEvent | ReplicateFrameResultsCodeFieldEvent | ReplicateFrameErrorFieldEvent | ReplicateFrameMembersFieldEvent | ReplicateFrameQueryFieldEvent | ReplicateFrameWantFieldEvent | ReplicateFrameReplyFieldEvent | ReplicateFrameSignalPeerFieldEvent | ReplicateFrameSignalFieldEvent | ReplicateFrameSignalsFieldEvent> {
    return streamMessage(buf, ReplicateFrame.codec(), opts)
  }
}

export interface SignalMessage {
  from: Uint8Array
  to: Uint8Array
  dial: bigint
  type: SignalMessage.Type
  data: string
  signature: Uint8Array
}

export namespace SignalMessage {
  export enum Type {
    OFFER = 'OFFER',
    ANSWER = 'ANSWER',
    CANDIDATE = 'CANDIDATE',
    ABORT = 'ABORT'
  }

  enum __TypeValues {
    OFFER = 0,
    ANSWER = 1,
    CANDIDATE = 2,
    ABORT = 3
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<SignalMessage>

  export const codec = (): Codec<SignalMessage> => {
    if (_codec == null) {
      _codec = message<SignalMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.from != null && obj.from.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.from)
        }

        if ((obj.to != null && obj.to.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.to)
        }

        if ((obj.dial != null && obj.dial !== 0n)) {
          w.uint32(24)
          w.uint64(obj.dial)
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(32)
          SignalMessage.Type.codec().encode(obj.type, w)
        }

        if ((obj.data != null && obj.data !== '')) {
          w.uint32(42)
          w.string(obj.data)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          from: EMPTY_BYTES,
          to: EMPTY_BYTES,
          dial: 0n,
          type: Type.OFFER,
          data: '',
          signature: EMPTY_BYTES
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.from = reader.bytes()
              break
            }
            case 2: {
              obj.to = reader.bytes()
              break
            }
            case 3: {
              obj.dial = reader.uint64()
              break
            }
            case 4: {
              obj.type = SignalMessage.Type.codec().decode(reader)
              break
            }
            case 5: {
              obj.data = reader.string()
              break
            }
            case 6: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.from`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.to`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.dial`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.type`,
                value: SignalMessage.Type.codec().decode(reader)
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.data`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SignalMessageFromFieldEvent {
    field: '$.from'
    value: Uint8Array
  }

  export interface SignalMessageToFieldEvent {
    field: '$.to'
    value: Uint8Array
  }

  export interface SignalMessageDialFieldEvent {
    field: '$.dial'
    value: bigint
  }

  export interface SignalMessageTypeFieldEvent {
    field: '$.type'
    value: SignalMessage.Type
  }

  export interface SignalMessageDataFieldEvent {
    field: '$.data'
    value: string
  }

  export interface SignalMessageSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array
  }

  export function encode (obj: Partial<SignalMessage>): Uint8Array {
    return encodeMessage(obj, SignalMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignalMessage>): SignalMessage {
    return decodeMessage(buf, SignalMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignalMessage>): Generator<SignalMessageFromFieldEvent | SignalMessageToFieldEvent | SignalMessageDialFieldEvent | SignalMessageTypeFieldEvent | SignalMessageDataFieldEvent | SignalMessageSignatureFieldEvent> {
    return streamMessage(buf, SignalMessage.codec(), opts)
  }
}

export interface AckResult {
  status: AckResult.Status
  code: string
}

export namespace AckResult {
  export enum Status {
    STORED = 'STORED',
    KNOWN = 'KNOWN',
    REFUSED = 'REFUSED'
  }

  enum __StatusValues {
    STORED = 0,
    KNOWN = 1,
    REFUSED = 2
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<AckResult>

  export const codec = (): Codec<AckResult> => {
    if (_codec == null) {
      _codec = message<AckResult>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          AckResult.Status.codec().encode(obj.status, w)
        }

        if ((obj.code != null && obj.code !== '')) {
          w.uint32(18)
          w.string(obj.code)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.STORED,
          code: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = AckResult.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.code = reader.string()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: AckResult.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.code`,
                value: reader.string()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface AckResultStatusFieldEvent {
    field: '$.status'
    value: AckResult.Status
  }

  export interface AckResultCodeFieldEvent {
    field: '$.code'
    value: string
  }

  export function encode (obj: Partial<AckResult>): Uint8Array {
    return encodeMessage(obj, AckResult.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AckResult>): AckResult {
    return decodeMessage(buf, AckResult.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AckResult>): Generator<AckResultStatusFieldEvent | AckResultCodeFieldEvent> {
    return streamMessage(buf, AckResult.codec(), opts)
  }
}
