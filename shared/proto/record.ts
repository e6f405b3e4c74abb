import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Absent bytes fields of decoded messages: one shared empty array (scripts/gen-proto.mjs). */
const EMPTY_BYTES = new Uint8Array(0)

export interface RecordBody {
  format: number
  roomKey: Uint8Array
  keyId: Uint8Array
  sealed: Uint8Array
  hlcWall: number
  hlcCounter: number
  writer: string
  expiresAt: number
  replaces: Uint8Array[]
  tombstone: boolean
  seen: Seen[]
}

export namespace RecordBody {
  let _codec: Codec<RecordBody>

  export const codec = (): Codec<RecordBody> => {
    if (_codec == null) {
      _codec = message<RecordBody>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.format != null && obj.format !== 0)) {
          w.uint32(8)
          w.uint32(obj.format)
        }

        if ((obj.roomKey != null && obj.roomKey.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.roomKey)
        }

        if ((obj.keyId != null && obj.keyId.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.keyId)
        }

        if ((obj.sealed != null && obj.sealed.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.sealed)
        }

        if ((obj.hlcWall != null && obj.hlcWall !== 0)) {
          w.uint32(40)
          w.uint64Number(obj.hlcWall)
        }

        if ((obj.hlcCounter != null && obj.hlcCounter !== 0)) {
          w.uint32(48)
          w.uint32(obj.hlcCounter)
        }

        if ((obj.writer != null && obj.writer !== '')) {
          w.uint32(58)
          w.string(obj.writer)
        }

        if ((obj.expiresAt != null && obj.expiresAt !== 0)) {
          w.uint32(64)
          w.uint64Number(obj.expiresAt)
        }

        if (obj.replaces != null && obj.replaces.length > 0) {
          for (const value of obj.replaces) {
            w.uint32(74)
            w.bytes(value)
          }
        }

        if ((obj.tombstone != null && obj.tombstone !== false)) {
          w.uint32(80)
          w.bool(obj.tombstone)
        }

        if (obj.seen != null && obj.seen.length > 0) {
          for (const value of obj.seen) {
            w.uint32(90)
            Seen.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          format: 0,
          roomKey: EMPTY_BYTES,
          keyId: EMPTY_BYTES,
          sealed: EMPTY_BYTES,
          hlcWall: 0,
          hlcCounter: 0,
          writer: '',
          expiresAt: 0,
          replaces: [],
          tombstone: false,
          seen: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.format = reader.uint32()
              break
            }
            case 2: {
              obj.roomKey = reader.bytes()
              break
            }
            case 3: {
              obj.keyId = reader.bytes()
              break
            }
            case 4: {
              obj.sealed = reader.bytes()
              break
            }
            case 5: {
              obj.hlcWall = reader.uint64Number()
              break
            }
            case 6: {
              obj.hlcCounter = reader.uint32()
              break
            }
            case 7: {
              obj.writer = reader.string()
              break
            }
            case 8: {
              obj.expiresAt = reader.uint64Number()
              break
            }
            case 9: {
              if (opts.limits?.replaces != null && obj.replaces.length === opts.limits.replaces) {
                throw new MaxLengthError('Decode error - repeated field "replaces" had too many elements')
              }

              obj.replaces.push(reader.bytes())
              break
            }
            case 10: {
              obj.tombstone = reader.bool()
              break
            }
            case 11: {
              if (opts.limits?.seen != null && obj.seen.length === opts.limits.seen) {
                throw new MaxLengthError('Decode error - repeated field "seen" had too many elements')
              }

              obj.seen.push(Seen.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.seen$
              }))
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
          replaces: 0,
          seen: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.format`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.roomKey`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.keyId`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.sealed`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.hlcWall`,
                value: reader.uint64Number()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.hlcCounter`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.writer`,
                value: reader.string()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.expiresAt`,
                value: reader.uint64Number()
              }
              break
            }
            case 9: {
              if (opts.limits?.replaces != null && obj.replaces === opts.limits.replaces) {
                throw new MaxLengthError('Streaming decode error - repeated field "replaces" had too many elements')
              }

              yield {
                field: `${prefix}.replaces[]`,
                index: obj.replaces,
                value: reader.bytes()
              }

              obj.replaces++

              break
            }
            case 10: {
              yield {
                field: `${prefix}.tombstone`,
                value: reader.bool()
              }
              break
            }
            case 11: {
              if (opts.limits?.seen != null && obj.seen === opts.limits.seen) {
                throw new MaxLengthError('Streaming decode error - repeated field "seen" had too many elements')
              }

              for (const evt of Seen.codec().stream(reader, reader.uint32(), `${prefix}.seen[]`, {
                limits: opts.limits?.seen$
              })) {
                yield {
                  ...evt,
                  index: obj.seen
                }
              }

              obj.seen++

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

  export interface RecordBodyFormatFieldEvent {
    field: '$.format'
    value: number
  }

  export interface RecordBodyRoomKeyFieldEvent {
    field: '$.roomKey'
    value: Uint8Array
  }

  export interface RecordBodyKeyIdFieldEvent {
    field: '$.keyId'
    value: Uint8Array
  }

  export interface RecordBodySealedFieldEvent {
    field: '$.sealed'
    value: Uint8Array
  }

  export interface RecordBodyHlcWallFieldEvent {
    field: '$.hlcWall'
    value: number
  }

  export interface RecordBodyHlcCounterFieldEvent {
    field: '$.hlcCounter'
    value: number
  }

  export interface RecordBodyWriterFieldEvent {
    field: '$.writer'
    value: string
  }

  export interface RecordBodyExpiresAtFieldEvent {
    field: '$.expiresAt'
    value: number
  }

  export interface RecordBodyReplacesFieldEvent {
    field: '$.replaces[]'
    index: number
    value: Uint8Array
  }

  export interface RecordBodyTombstoneFieldEvent {
    field: '$.tombstone'
    value: boolean
  }

  export interface RecordBodySeenWriterFieldEvent {
    field: '$.seen[].writer'
    value: string
    index: number
  }

  export interface RecordBodySeenWallFieldEvent {
    field: '$.seen[].wall'
    value: number
    index: number
  }

  export interface RecordBodySeenCounterFieldEvent {
    field: '$.seen[].counter'
    value: number
    index: number
  }

  export function encode (obj: Partial<RecordBody>): Uint8Array {
    return encodeMessage(obj, RecordBody.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordBody>): RecordBody {
    return decodeMessage(buf, RecordBody.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordBody>): Generator<RecordBodyFormatFieldEvent | RecordBodyRoomKeyFieldEvent | RecordBodyKeyIdFieldEvent | RecordBodySealedFieldEvent | RecordBodyHlcWallFieldEvent | RecordBodyHlcCounterFieldEvent | RecordBodyWriterFieldEvent | RecordBodyExpiresAtFieldEvent | RecordBodyReplacesFieldEvent | RecordBodyTombstoneFieldEvent | RecordBodySeenWriterFieldEvent | RecordBodySeenWallFieldEvent | RecordBodySeenCounterFieldEvent> {
    return streamMessage(buf, RecordBody.codec(), opts)
  }
}

export interface Seen {
  writer: string
  wall: number
  counter: number
}

export namespace Seen {
  let _codec: Codec<Seen>

  export const codec = (): Codec<Seen> => {
    if (_codec == null) {
      _codec = message<Seen>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.writer != null && obj.writer !== '')) {
          w.uint32(10)
          w.string(obj.writer)
        }

        if ((obj.wall != null && obj.wall !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.wall)
        }

        if ((obj.counter != null && obj.counter !== 0)) {
          w.uint32(24)
          w.uint32(obj.counter)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          writer: '',
          wall: 0,
          counter: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.writer = reader.string()
              break
            }
            case 2: {
              obj.wall = reader.uint64Number()
              break
            }
            case 3: {
              obj.counter = reader.uint32()
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
                field: `${prefix}.writer`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.wall`,
                value: reader.uint64Number()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.counter`,
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

  export interface SeenWriterFieldEvent {
    field: '$.writer'
    value: string
  }

  export interface SeenWallFieldEvent {
    field: '$.wall'
    value: number
  }

  export interface SeenCounterFieldEvent {
    field: '$.counter'
    value: number
  }

  export function encode (obj: Partial<Seen>): Uint8Array {
    return encodeMessage(obj, Seen.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Seen>): Seen {
    return decodeMessage(buf, Seen.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Seen>): Generator<SeenWriterFieldEvent | SeenWallFieldEvent | SeenCounterFieldEvent> {
    return streamMessage(buf, Seen.codec(), opts)
  }
}

export interface SignedRecord {
  body: Uint8Array
  signature: Uint8Array
}

export namespace SignedRecord {
  let _codec: Codec<SignedRecord>

  export const codec = (): Codec<SignedRecord> => {
    if (_codec == null) {
      _codec = message<SignedRecord>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.body != null && obj.body.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.body)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          body: EMPTY_BYTES,
          signature: EMPTY_BYTES
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.body = reader.bytes()
              break
            }
            case 2: {
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
                field: `${prefix}.body`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
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

  export interface SignedRecordBodyFieldEvent {
    field: '$.body'
    value: Uint8Array
  }

  export interface SignedRecordSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array
  }

  export function encode (obj: Partial<SignedRecord>): Uint8Array {
    return encodeMessage(obj, SignedRecord.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedRecord>): SignedRecord {
    return decodeMessage(buf, SignedRecord.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedRecord>): Generator<SignedRecordBodyFieldEvent | SignedRecordSignatureFieldEvent> {
    return streamMessage(buf, SignedRecord.codec(), opts)
  }
}

export interface Payload {
  name: string
  value: string
}

export namespace Payload {
  let _codec: Codec<Payload>

  export const codec = (): Codec<Payload> => {
    if (_codec == null) {
      _codec = message<Payload>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(10)
          w.string(obj.name)
        }

        if ((obj.value != null && obj.value !== '')) {
          w.uint32(18)
          w.string(obj.value)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          name: '',
          value: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.name = reader.string()
              break
            }
            case 2: {
              obj.value = reader.string()
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
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
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

  export interface PayloadNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface PayloadValueFieldEvent {
    field: '$.value'
    value: string
  }

  export function encode (obj: Partial<Payload>): Uint8Array {
    return encodeMessage(obj, Payload.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Payload>): Payload {
    return decodeMessage(buf, Payload.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Payload>): Generator<PayloadNameFieldEvent | PayloadValueFieldEvent> {
    return streamMessage(buf, Payload.codec(), opts)
  }
}

export interface HeadSet {
  records: Uint8Array[]
}

export namespace HeadSet {
  let _codec: Codec<HeadSet>

  export const codec = (): Codec<HeadSet> => {
    if (_codec == null) {
      _codec = message<HeadSet>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.records != null && obj.records.length > 0) {
          for (const value of obj.records) {
            w.uint32(10)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          records: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.records != null && obj.records.length === opts.limits.records) {
                throw new MaxLengthError('Decode error - repeated field "records" had too many elements')
              }

              obj.records.push(reader.bytes())
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
          records: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
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

  export interface HeadSetRecordsFieldEvent {
    field: '$.records[]'
    index: number
    value: Uint8Array
  }

  export function encode (obj: Partial<HeadSet>): Uint8Array {
    return encodeMessage(obj, HeadSet.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<HeadSet>): HeadSet {
    return decodeMessage(buf, HeadSet.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<HeadSet>): Generator<HeadSetRecordsFieldEvent> {
    return streamMessage(buf, HeadSet.codec(), opts)
  }
}
