// The live page: charts from GET /metrics (request rate, latency percentiles, errors, cache hit
// ratio), errors by code, and the module event feed of GET /events. EventSource cannot send an
// Authorization header and the key must never go in a URL, so the stream is read with fetch.
import { authHeaders } from './api.js';
import { errorBox, h, replace, when } from './dom.js';
import { lineChart } from './chart.js';
import { parseMetrics, point, snapshot } from './metrics.js';

const SCRAPE_MS = 2000;
const KEEP_POINTS = 60;
const KEEP_EVENTS = 100;

/** Reads an SSE stream from `response.body`, calling `onEvent({ id, event, data })` per event. */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { id: null, event: 'message', data: '' };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon === 0) continue;
        const name = colon === -1 ? line : line.slice(0, colon);
        const text = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'id') event.id = text;
        else if (name === 'event') event.event = text;
        else if (name === 'data') event.data += event.data ? `\n${text}` : text;
      }
      if (event.data) onEvent(event);
    }
  }
}

function eventItem(event) {
  let body;
  try {
    body = JSON.parse(event.data);
  } catch {
    body = { type: event.event };
  }
  // A module event names its module in module_id; a job event names the job in id and its module in module.
  const moduleId = body.module_id ?? body.module;
  const job = String(body.type ?? event.event).startsWith('job.') && body.id ? `job ${body.id}` : null;
  const details = [body.version !== undefined ? `version ${body.version}` : null, job, body.tenant ? `tenant ${body.tenant}` : null].filter(Boolean).join(', ');
  return h('li', { class: 'event' },
    h('span', { class: 'event-type' }, body.type ?? event.event), ' ',
    moduleId ? h('a', { href: `#/modules/${moduleId}` }, moduleId) : null,
    details ? ` (${details})` : '',
    h('span', { class: 'hint' }, ` ${when(body.at)} · #${event.id ?? '?'}`));
}

/** The live page; returns what stops its polling and closes its event stream when the page is left. */
export function livePage(main) {
  const stop = new AbortController();
  const rate = lineChart('Request rate', [['rate', 'requests/s']], (v) => v.toFixed(2), KEEP_POINTS);
  const latency = lineChart('Latency percentiles', [['p50', 'p50 ms'], ['p95', 'p95 ms'], ['p99', 'p99 ms']], (v) => `≤ ${v.toFixed(1)}`, KEEP_POINTS);
  const errors = lineChart('Errors', [['errors', 'errors/s']], (v) => v.toFixed(2), KEEP_POINTS);
  const cache = lineChart('Cache hit ratio', [['hitRatio', 'hits / lookups']], (v) => `${(v * 100).toFixed(0)}%`, KEEP_POINTS);
  const codes = h('div', { 'aria-live': 'off' }, h('p', {}, 'Waiting for data…'));
  const metricsProblem = h('div');
  const feedState = h('p', { class: 'hint', role: 'status' }, 'Connecting…');
  const feed = h('ol', { class: 'events', reversed: true, 'aria-label': 'Events, newest first' });

  const points = [];
  let previous = null;
  const scrape = async () => {
    try {
      const res = await fetch('/metrics', { signal: stop.signal, cache: 'no-store' });
      if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
      const now = snapshot(parseMetrics(await res.text()), Date.now());
      if (previous) {
        points.push(point(previous, now));
        if (points.length > KEEP_POINTS) points.shift();
        for (const chart of [rate, latency, errors, cache]) chart.update(points);
      }
      previous = now;
      const entries = Object.entries(now.errors).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
      replace(codes, entries.length
        ? h('table', {}, h('caption', { class: 'visually-hidden' }, 'Errors by code since the server started'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col' }, 'Answers'))),
          h('tbody', {}, entries.map(([code, n]) => h('tr', {}, h('th', { scope: 'row' }, code), h('td', {}, h('meter', { min: 0, max: entries[0][1], value: n, 'aria-label': `${code} share` }), ` ${n}`)))))
        : h('p', {}, 'No error answers since the server started.'));
      replace(metricsProblem);
    } catch (err) {
      if (stop.signal.aborted) return;
      replace(metricsProblem, errorBox(err));
    }
    if (!stop.signal.aborted) setTimeout(scrape, SCRAPE_MS);
  };

  const listen = async () => {
    let lastId = null;
    while (!stop.signal.aborted) {
      try {
        const headers = { ...authHeaders(), accept: 'text/event-stream' };
        if (lastId !== null) headers['last-event-id'] = lastId;
        const res = await fetch('/events', { headers, signal: stop.signal, cache: 'no-store' });
        if (!res.ok) {
          const body = await res.json().catch(() => ({}));
          replace(feedState, errorBox(body.error ?? { message: `GET /events answered ${res.status}` }));
          if (res.status === 401 || res.status === 403) return;
        } else {
          replace(feedState, 'Connected: module changes appear here as they happen.');
          await readEvents(res, (event) => {
            lastId = event.id ?? lastId;
            feed.prepend(eventItem(event));
            while (feed.children.length > KEEP_EVENTS) feed.lastChild.remove();
          });
          replace(feedState, 'The stream ended; reconnecting…');
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        replace(feedState, `The stream broke (${err.message}); reconnecting…`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };

  replace(main,
    h('h1', {}, 'Live'),
    metricsProblem,
    h('div', { class: 'charts' }, rate.card, latency.card, errors.card, cache.card),
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'codes-title' }, h('h2', { id: 'codes-title' }, 'Errors by code'), codes),
      h('section', { class: 'card', 'aria-labelledby': 'feed-title' }, h('h2', { id: 'feed-title' }, 'Event feed'), feedState, feed)));
  scrape();
  listen();
  return () => stop.abort();
}
