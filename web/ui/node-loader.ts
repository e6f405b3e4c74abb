/**
 * The libp2p node (about two thirds of the app's JavaScript) in its own
 * chunk: the start screen paints without it, and a page opened on a room
 * link starts fetching it at once (web/main.ts), in parallel with the UI.
 */
type NodeModule = typeof import('../node/room-client.ts')

let pending: Promise<NodeModule> | undefined

/** Load (once) the module that joins rooms; later calls share the first load. */
export async function loadNode (): Promise<NodeModule> {
  pending ??= import('../node/room-client.ts')
  return await pending
}
