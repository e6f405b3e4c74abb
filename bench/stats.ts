/**
 * Small statistics helpers for the benchmark. Percentiles use the
 * nearest-rank method: p-th percentile = the smallest sample such that at
 * least p% of the samples are <= it (p99 of 200 samples = 198th smallest).
 * No interpolation, so every reported number is a real measurement.
 */

export function sorted (samples: number[]): number[] {
  return [...samples].sort((a, b) => a - b)
}

export function percentile (samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  if (p <= 0) return Math.min(...samples)
  const s = sorted(samples)
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length, Math.max(1, rank)) - 1]
}

export function mean (samples: number[]): number {
  if (samples.length === 0) return Number.NaN
  return samples.reduce((a, b) => a + b, 0) / samples.length
}

export interface Summary {
  count: number
  min: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export function summarize (samples: number[]): Summary {
  return {
    count: samples.length,
    min: round(Math.min(...samples)),
    p50: round(percentile(samples, 50)),
    p90: round(percentile(samples, 90)),
    p99: round(percentile(samples, 99)),
    max: round(Math.max(...samples)),
    mean: round(mean(samples))
  }
}

/** Milliseconds to 0.01 ms: the page clock is coarsened to 0.1 ms anyway. */
export function round (ms: number): number {
  return Number.isFinite(ms) ? Math.round(ms * 100) / 100 : ms
}

/** A plain-text table: first row is the header. */
export function table (rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length)))
  const line = (r: string[]): string => r.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join('  ')
  return [line(rows[0]), widths.map(w => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}
