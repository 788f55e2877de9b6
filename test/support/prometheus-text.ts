import { createRequire } from 'node:module';

/**
 * /metrics read as Prometheus reads it: parse-prometheus-text-format (prom2json's output shape),
 * flattened to `name{label="value",…}` → number, labels sorted, histograms as their _count and
 * _sum. The package ships no types; this is the one place that says what it returns.
 */
interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string; sum?: string; buckets?: Record<string, string> }>;
}
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}="${v}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const family of parse(text)) {
    for (const m of family.metrics) {
      if (family.type === 'HISTOGRAM') {
        samples.set(sampleKey(`${family.name}_count`, m.labels), Number(m.count));
        samples.set(sampleKey(`${family.name}_sum`, m.labels), Number(m.sum));
      } else samples.set(sampleKey(family.name, m.labels), Number(m.value));
    }
  }
  return samples;
}

/** after − before for every sample in either (absent counts as 0), the zero differences left out. */
export function metricDeltas(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const deltas = new Map<string, number>();
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const d = (after.get(key) ?? 0) - (before.get(key) ?? 0);
    if (d !== 0) deltas.set(key, d);
  }
  return deltas;
}
