import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { authHeaders, fixture, listen, makeKey, ROOT, startApp, upload, type MadeKey, type TestApp } from '../helper.js';
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

describe('event streams per tenant', () => {
  let t: TestApp;
  let base: string;
  let a: MadeKey;
  let a2: MadeKey;
  let b: MadeKey;
  const as = (key: MadeKey) => ({ authorization: `Bearer ${key.key}` });
  before(async () => {
    t = await startApp({ server: { max_event_clients: 100 }, tiers: { tiny: { max_event_streams: 2 } } });
    base = await listen(t.app);
    a = await makeKey(t.app, { name: 'dev-a', role: 'developer', tenant: 'a', tier: 'tiny' });
    a2 = await makeKey(t.app, { name: 'dev-a2', role: 'developer', tenant: 'a', tier: 'tiny' });
    b = await makeKey(t.app, { name: 'dev-b', role: 'developer', tenant: 'b', tier: 'tiny' });
  });
  after(async () => t.close());

  /** Uploads `add` as `key`; its id. */
  async function uploadAs(key: MadeKey, name: string): Promise<string> {
    const res = await t.app.inject({ method: 'POST', url: '/modules', headers: as(key), payload: { name, content: fixture('add').toString('base64') } });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { id: string }).id;
  }

  async function rename(key: MadeKey, id: string, name: string): Promise<void> {
    assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${id}`, headers: as(key), payload: { name } })).statusCode, 200);
  }

  test('the repository wess.toml gives free 10 and pro 100 event streams', () => {
    const config = loadConfig({ defaultPath: fileURLToPath(new URL('wess.toml', ROOT)) });
    assert.equal(config.tiers.free?.max_event_streams, 10);
    assert.equal(config.tiers.pro?.max_event_streams, 100);
  });

  test('regression (issue 15, item 5): a tenant opening max_event_streams + 1 gets 403 TIER_LIMIT while another tenant still opens one', async () => {
    // Two keys of tenant a: the limit is the tenant's, not each key's.
    const open = [await openStream(`${base}/events`, as(a)), await openStream(`${base}/events`, as(a2))];
    try {
      for (const stream of open) assert.equal(stream.res.status, 200);
      const over = await fetch(`${base}/events`, { headers: as(a) });
      assert.equal(over.status, 403);
      const { error } = (await over.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
      assert.equal(error.code, 'TIER_LIMIT');
      assert.deepEqual(error.details, { limit: 2, open: 2, tier: 'tiny' });
      assert.match(error.message, /max_event_streams/);
      const other = await openStream(`${base}/events`, as(b));
      assert.equal(other.res.status, 200, 'tenant b is not held back by tenant a');
      const admin = await openStream(`${base}/events`);
      assert.equal(admin.res.status, 200, "admin streams count in no tenant's limit");
      await Promise.all([other.close(), admin.close()]);
    } finally {
      await Promise.all(open.map((s) => s.close()));
    }
    // A closed stream gives its place back (the server sees the close a moment later).
    let again: Awaited<ReturnType<typeof openStream>> | undefined;
    for (let i = 0; i < 200 && again?.res.status !== 200; i++) {
      await again?.close();
      again = await openStream(`${base}/events`, as(a));
      if (again.res.status !== 200) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(again?.res.status, 200);
    await again?.close();
  });

  test("regression (issue 15, item 5): a tenant's event ids are consecutive while another tenant is busy; an admin's count every tenant", async () => {
    const streamA = await openStream(`${base}/events`, as(a));
    const admin = await openStream(`${base}/events`);
    try {
      const ma = await uploadAs(a, 'ids-a');
      const mb = await uploadAs(b, 'ids-b');
      await rename(b, mb, 'ids-b2');
      await rename(a, ma, 'ids-a2');
      await rename(b, mb, 'ids-b3');
      await rename(b, mb, 'ids-b4');
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/modules/${ma}`, headers: as(a) })).statusCode, 204);
      const framesA = await streamA.waitFor(3);
      const framesAdmin = await admin.waitFor(7);
      assert.deepEqual(framesA.map((f) => [f.event, f.data?.module_id]), [['module.created', ma], ['module.updated', ma], ['module.deleted', ma]]);
      const idsA = framesA.map((f) => Number(f.id));
      assert.deepEqual(idsA, [idsA[0]!, idsA[0]! + 1, idsA[0]! + 2], `tenant a's ids ${idsA.join(',')} have no gaps`);
      assert.equal(framesAdmin.length, 7);
      const idsAdmin = framesAdmin.map((f) => Number(f.id));
      assert.deepEqual(idsAdmin, idsAdmin.map((_, i) => idsAdmin[0]! + i), `the admin's ids ${idsAdmin.join(',')} count every tenant's events`);
      for (const frame of framesA) assert.equal(frame.data?.seq, undefined, 'no other numbering rides along in the data');
    } finally {
      await Promise.all([streamA.close(), admin.close()]);
    }
  });

  test("regression (issue 15, item 5): Last-Event-ID replays the tenant's own events by its own ids", async () => {
    const first = await openStream(`${base}/events`, as(a));
    const ma = await uploadAs(a, 'replay-a');
    const [created] = await first.waitFor(1);
    await first.close();
    const seen = Number(created?.id);
    const mb = await uploadAs(b, 'replay-b');
    for (let i = 0; i < 5; i++) await rename(b, mb, `replay-b${i}`);
    await rename(a, ma, 'replay-a2');
    await rename(a, ma, 'replay-a3');
    const resumed = await openStream(`${base}/events`, { ...as(a), 'last-event-id': String(seen) });
    const replayed = await resumed.waitFor(2);
    await new Promise((r) => setTimeout(r, 50));
    await resumed.close();
    assert.deepEqual(replayed.map((f) => [Number(f.id), f.data?.module_id, f.data?.version]), [[seen + 1, ma, 2], [seen + 2, ma, 3]], 'exactly what tenant a missed');
    // Tenant b's own numbering replays b's events only.
    const fromB = await openStream(`${base}/events`, { ...as(b), 'last-event-id': '0' });
    const framesB = await fromB.waitFor(1);
    await new Promise((r) => setTimeout(r, 50));
    await fromB.close();
    assert.ok(framesB.length > 0 && framesB.every((f) => f.data?.tenant === 'b'), 'only tenant b events');
    assert.deepEqual(framesB.map((f) => Number(f.id)), framesB.map((_, i) => i + 1), "b's replay is numbered 1, 2, … within b");
  });
});
