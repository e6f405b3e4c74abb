/**
 * A stable, random writer id per browser profile. It breaks clock ties
 * deterministically; it is not an identity claim (the room key signs).
 */
const STORAGE_KEY = 'roomkv:writer'

export function writerId (): string {
  let id = globalThis.localStorage?.getItem(STORAGE_KEY)
  if (id == null || id === '') {
    const bytes = crypto.getRandomValues(new Uint8Array(12))
    id = `w-${Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')}`
    globalThis.localStorage?.setItem(STORAGE_KEY, id)
  }
  return id
}
