// Reading Prometheus' text format (GET /metrics, open) into the few figures the live page charts:
// requests, errors by code, the request-duration histogram, and reader cache hits and misses.

/** Samples of the exposition text: { name, labels, value } per line that is not a comment. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

function sum(samples, name, filter = () => true) {
  return samples.filter((s) => s.name === name && filter(s.labels)).reduce((total, s) => total + s.value, 0);
}

/** The cumulative figures of one scrape that the live page turns into rates. */
export function snapshot(samples, at) {
  const buckets = new Map();
  for (const s of samples) {
    if (s.name !== 'wess_request_duration_seconds_bucket') continue;
    buckets.set(s.labels.le, (buckets.get(s.labels.le) ?? 0) + s.value);
  }
  const errors = {};
  for (const s of samples) if (s.name === 'wess_errors_total') errors[s.labels.code] = (errors[s.labels.code] ?? 0) + s.value;
  return {
    at,
    requests: sum(samples, 'wess_requests_total'),
    buckets,
    errors,
    hits: sum(samples, 'wess_cache_hits'),
    misses: sum(samples, 'wess_cache_misses'),
  };
}

/** The `q` quantile (0-1) of the requests between two snapshots, from their histogram buckets (upper bound of the bucket it falls in). */
export function quantile(before, after, q) {
  const bounds = [...after.buckets.keys()].sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const counts = bounds.map((le) => after.buckets.get(le) - (before.buckets.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  const at = counts.findIndex((count) => count >= rank);
  const le = bounds[at];
  return le === '+Inf' ? Number(bounds[bounds.length - 2]) : Number(le);
}

/** One point per scrape: request rate, latency percentiles (ms), errors per second, cache hit ratio. */
export function point(before, after) {
  const seconds = Math.max((after.at - before.at) / 1000, 0.001);
  const lookups = after.hits - before.hits + (after.misses - before.misses);
  const ms = (q) => {
    const value = quantile(before, after, q);
    return value === null ? null : value * 1000;
  };
  const errorRate = Object.keys(after.errors).reduce((total, code) => total + (after.errors[code] - (before.errors[code] ?? 0)), 0) / seconds;
  return {
    at: after.at,
    rate: (after.requests - before.requests) / seconds,
    p50: ms(0.5),
    p95: ms(0.95),
    p99: ms(0.99),
    errors: errorRate,
    hitRatio: lookups > 0 ? (after.hits - before.hits) / lookups : null,
  };
}
