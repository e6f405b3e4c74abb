/** Human words for the stable error codes. */
const MESSAGES: Record<string, string> = {
  ERR_INVALID_LINK: 'This room link is not valid',
  ERR_INVALID_KEY: 'Invalid key',
  ERR_INVALID_VALUE: 'Invalid value',
  ERR_RECORD_TOO_LARGE: 'Too large to store',
  ERR_RELAY_UNREACHABLE: 'The relay cannot be reached',
  ERR_TIMEOUT: 'The network did not answer in time'
}

export function describeError (err: unknown): string {
  const code = (err as { code?: string })?.code
  const message = err instanceof Error ? err.message : String(err)
  const prefix = code != null ? MESSAGES[code] : undefined
  return prefix != null && !message.startsWith(prefix) ? `${prefix}: ${message}` : message
}
