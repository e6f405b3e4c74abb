/**
 * What Node integration tests read off a running relay: /health, /metrics
 * and one metric's value (Prometheus text format).
 */
import { expect } from 'vitest'
import type { RelayProcess } from '../../e2e/harness.ts'

/** /health as JSON; it must answer 200 within `timeout` ms. */
export async function health (relay: Pick<RelayProcess, 'url'>, timeout = 5000): Promise<any> {
  const response = await fetch(`${relay.url}/health`, { signal: AbortSignal.timeout(timeout) })
  expect(response.status).toBe(200)
  return response.json()
}

export async function metricsText (relay: Pick<RelayProcess, 'url'>): Promise<string> {
  const response = await fetch(`${relay.url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
  return response.text()
}

/**
 * Sum of the samples of `name` whose labels include `labels`; undefined
 * when no such sample exists.
 */
export function metric (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (m == null || m[1] !== name) continue
    const have: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[k] = v
    if (!Object.entries(labels).every(([k, v]) => have[k] === v)) continue
    sum = (sum ?? 0) + Number(m[3])
  }
  return sum
}
