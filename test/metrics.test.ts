import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { CounterFront, HistogramFront } from '../src/metric-fronts.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** A histogram and a counter on a registry of their own, and the text a scrape of it gives. */
function metrics(name: string) {
  const registry = new Registry();
  const histogram = new Histogram({ name: `${name}_seconds`, help: 'h', labelNames: ['route'] as const, buckets: BUCKETS, registers: [registry] });
  const front = { counter: undefined as CounterFront<'route' | 'status'> | undefined };
  const counter = new Counter({ name: `${name}_total`, help: 'c', labelNames: ['route', 'status'] as const, registers: [registry], collect: () => front.counter?.flush() });
  front.counter = new CounterFront(counter);
  return { registry, histogram, counter, counterFront: front.counter, scrape: async () => (await registry.metrics()).replaceAll(name, 'm') };
}

test('pre-bound histogram and counter series give a scrape the values observe() and inc() give', async () => {
  const values = [0.0004, 0.001, 0.005, 0.05, 0.5, 0.99, 2, 30, 0];
  const plain = metrics('plain');
  const bound = metrics('bound');
  const histograms = new HistogramFront(bound.histogram);
  for (const [i, value] of values.entries()) {
    const route = i % 3 === 0 ? '/a' : '/b/:id';
    plain.histogram.observe({ route }, value);
    histograms.series({ route }).observe(value);
    plain.counter.inc({ route, status: 200 }, i);
    bound.counterFront.series({ route, status: 200 }).add(i);
  }
  assert.equal(await bound.scrape(), await plain.scrape());
  assert.match(await bound.scrape(), /m_seconds_count\{route="\/b\/:id"\} 6/);
  // A value observe() refuses is refused the same way.
  assert.throws(() => histograms.series({ route: '/a' }).observe(Number.NaN), /not a valid number/);
  // After a reset the series starts again from the histogram's new store.
  plain.histogram.reset();
  bound.histogram.reset();
  plain.histogram.observe({ route: '/a' }, 0.02);
  histograms.series({ route: '/a' }).observe(0.02);
  assert.equal(await bound.scrape(), await plain.scrape());
  assert.equal(histograms.series({ route: '/a' }), histograms.series({ route: '/a' }), 'one series per label set');
});
