/**
 * The relay's operational log: levels, and either readable text or one JSON
 * object per line (`--log-format json`) for log shippers. Never given key
 * names or values: the relay has none to give.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug'
export type LogFields = Record<string, string | number | boolean | undefined>

export interface RelayLog {
  error(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  debug(message: string, fields?: LogFields): void
}

export interface RelayLogInit {
  /** @default 'text' */
  format?: 'text' | 'json'
  /** @default 'info' */
  level?: LogLevel
  /** @default process.stdout.write */
  write?: (line: string) => void
  /** @default () => new Date() */
  now?: () => Date
}

const SEVERITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 }

export function createRelayLog (init: RelayLogInit = {}): RelayLog {
  const format = init.format ?? 'text'
  const threshold = SEVERITY[init.level ?? 'info']
  const write = init.write ?? ((line: string) => { process.stdout.write(line) })
  const now = init.now ?? (() => new Date())
  const emit = (level: LogLevel) => (message: string, fields: LogFields = {}): void => {
    if (SEVERITY[level] > threshold) return
    const time = now().toISOString()
    if (format === 'json') {
      write(`${JSON.stringify({ time, level, msg: message, ...fields })}\n`)
      return
    }
    const extra = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`)
    write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra.length > 0 ? ` ${extra.join(' ')}` : ''}\n`)
  }
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug') }
}
