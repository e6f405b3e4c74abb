/**
 * Short readable names for writer ids (`w-3f9a…`): the same id always gets
 * the same two words, in every tab, so people can tell writers apart
 * without reading hex. This tab's own writer is "you".
 */

const ADJECTIVES = ['amber', 'brave', 'calm', 'clever', 'coral', 'dusty', 'eager', 'fuzzy', 'gentle', 'golden', 'happy', 'icy', 'jolly', 'keen', 'lucky', 'mellow', 'misty', 'noble', 'olive', 'plucky', 'quiet', 'rapid', 'rosy', 'shy', 'silver', 'sunny', 'swift', 'tidy', 'vivid', 'warm', 'witty', 'zesty']
const ANIMALS = ['badger', 'bison', 'crane', 'dingo', 'eagle', 'ferret', 'gecko', 'heron', 'ibis', 'jackal', 'koala', 'lemur', 'lynx', 'marten', 'newt', 'otter', 'owl', 'panda', 'puffin', 'quail', 'raven', 'robin', 'seal', 'stoat', 'tapir', 'toad', 'viper', 'walrus', 'wombat', 'yak', 'zebra', 'finch']

/** FNV-1a: a fast, stable spread of any id string (not a security property). */
function hash (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

export function writerName (writer: string, self?: string): string {
  if (self != null && writer === self) return 'you'
  const h = hash(writer)
  return `${ADJECTIVES[h % ADJECTIVES.length]} ${ANIMALS[(h >>> 8) % ANIMALS.length]}`
}
