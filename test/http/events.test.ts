import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeaders, fixture, listen, startApp, upload, type TestApp } from '../helper.js';
import { within } from '../within.js';

interface Frame { id?: string; event?: string; data?: Record<string, unknown> }

/** A Server-Sent Events client over fetch: frames arrive in `next()` order. */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const res = await fetch(url, { headers: authHeaders(headers), signal: controller.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const frames: Frame[] = [];
  let ended = false;
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const frame: Frame = {};
          for (const line of block.split('\n')) {
            const [field, ...rest] = line.split(': ');
            const value = rest.join(': ');
            if (field === 'id') frame.id = value;
            if (field === 'event') frame.event = value;
            if (field === 'data') frame.data = JSON.parse(value) as Record<string, unknown>;
          }
          if (frame.event) frames.push(frame);
        }
      }
    } catch {
      // aborted by the test
    }
    ended = true;
  })();
  return {
    res,
    frames,
    get ended() { return ended; },
    /** Resolves once the stream has ended (the server closed it, or close() aborted it). */
    finished: pump,
    async waitFor(count: number) {
      for (let i = 0; frames.length < count && !ended && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
      return frames;
    },
    async close() {
      controller.abort();
      await pump;
    },
  };
}

describe('GET /events', () => {
  let t: TestApp;
  let base: string;
  before(async () => {
    t = await startApp({ server: { max_event_clients: 3 } });
    base = await listen(t.app);
  });
  after(async () => t.close());

  test('streams created, updated and deleted events as they become durable', async () => {
    const stream = await openStream(`${base}/events`);
    assert.equal(stream.res.status, 200);
    assert.match(String(stream.res.headers.get('content-type')), /text\/event-stream/);
    const mod = await upload(t.app, 'add');
    await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, payload: { name: 'renamed' } });
    await t.app.inject({ method: 'DELETE', url: `/modules/${mod.id}` });
    const frames = await stream.waitFor(3);
    await stream.close();
    assert.deepEqual(frames.map((f) => f.event), ['module.created', 'module.updated', 'module.deleted']);
    assert.deepEqual(frames.map((f) => f.data?.module_id), [mod.id, mod.id, mod.id]);
    assert.equal(frames[1]?.data?.version, 2);
    const ids = frames.map((f) => Number(f.id));
    assert.ok(ids[0]! < ids[1]! && ids[1]! < ids[2]!, 'sequence numbers increase');
  });

  test('?module= filters to one module; Last-Event-ID replays what was missed', async () => {
    const a = await upload(t.app, 'add');
    const b = await upload(t.app, 'float-ops');
    const stream = await openStream(`${base}/events?module=${a.id}`);
    await t.app.inject({ method: 'PUT', url: `/modules/${b.id}`, payload: { name: 'b2' } });
    await t.app.inject({ method: 'PUT', url: `/modules/${a.id}`, payload: { name: 'a2' } });
    const frames = await stream.waitFor(1);
    await stream.close();
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.data?.module_id, a.id);
    const seen = Number(frames[0]?.id);
    await t.app.inject({ method: 'PUT', url: `/modules/${a.id}`, payload: { content: fixture('single-export').toString('base64') } });
    const resumed = await openStream(`${base}/events?module=${a.id}`, { 'last-event-id': String(seen) });
    const replayed = await resumed.waitFor(1);
    await resumed.close();
    assert.equal(replayed[0]?.event, 'module.updated');
    assert.equal(replayed[0]?.data?.version, 3);
  });

  test('bad filters are 400; too many streams are 503', async () => {
    const bad = await fetch(`${base}/events?module=nope`, { headers: authHeaders() });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'VALIDATION');
    const open = await Promise.all([1, 2, 3].map(() => openStream(`${base}/events`)));
    const extra = await fetch(`${base}/events`, { headers: authHeaders() });
    assert.equal(extra.status, 503);
    assert.ok(extra.headers.get('retry-after'));
    await Promise.all(open.map((s) => s.close()));
  });

  test('shutdown ends open streams instead of waiting on them', { timeout: 30_000 }, async () => {
    const local = await startApp();
    const stream = await openStream(`${await listen(local.app)}/events`);
    // A close that waited on the stream would wait as long as the client stays: forever, here.
    await within(local.close(), 10_000, 'closing the app with a stream open');
    await within(stream.finished, 10_000, 'the stream ending');
    assert.ok(stream.ended, 'stream ended');
  });
});
