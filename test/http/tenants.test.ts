import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { WessApp } from '../../src/app.js';
import { fixture, listen, startApp, type TestApp } from '../helper.js';
import { makeKey, type MadeKey } from '../helper.js';

interface ModuleView {
  id: string;
  name: string;
  version: number;
  tenant: string;
  sha256: string;
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const addB64 = () => fixture('add').toString('base64');

/** Uploads `add` with `key` (the admin when undefined), optionally into `?tenant=`. */
async function uploadAs(app: WessApp, key: string | undefined, name: string, tenant?: string): Promise<ModuleView> {
  const res = await app.inject({
    method: 'POST',
    url: tenant ? `/modules?tenant=${tenant}` : '/modules',
    payload: { name, content: addB64() },
    ...(key ? { headers: bearer(key) } : {}),
  });
  assert.equal(res.statusCode, 201, `upload ${name}: ${res.body}`);
  return res.json() as ModuleView;
}

function errorCode(res: { json(): unknown }): string | undefined {
  return (res.json() as { error?: { code?: string } }).error?.code;
}

interface Frame {
  event: string;
  data: { module_id?: string; type?: string; tenant?: string } & Record<string, unknown>;
}

/** A Server-Sent Events client over node:http (destroying it closes the socket at once, unlike an aborted fetch). */
async function openStream(base: string, key: string, path = '/events') {
  const frames: Frame[] = [];
  let buffer = '';
  let ended = false;
  let req!: http.ClientRequest;
  const status = await new Promise<number>((resolve, reject) => {
    req = http.get(`${base}${path}`, { headers: bearer(key), agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event: string | undefined;
          let data: Frame['data'] | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            if (line.startsWith('data: ')) data = JSON.parse(line.slice(6)) as Frame['data'];
          }
          if (event && data) frames.push({ event, data });
        }
      });
      res.on('error', () => {});
      res.on('end', () => (ended = true));
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
  return {
    status,
    frames,
    /** True once the server ended the stream. */
    get ended() {
      return ended;
    },
    /** Waits (bounded) until `count` frames arrived. */
    async waitFor(count: number): Promise<Frame[]> {
      for (let i = 0; frames.length < count && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
      return frames;
    },
    close() {
      req.on('error', () => {});
      req.destroy();
    },
  };
}

describe('tenant isolation', () => {
  let t: TestApp;
  let base: string;
  let a: MadeKey;
  let b: MadeKey;
  before(async () => {
    t = await startApp();
    base = await listen(t.app);
    a = await makeKey(t.app, { name: 'dev-a', role: 'developer', tenant: 'a' });
    b = await makeKey(t.app, { name: 'dev-b', role: 'developer', tenant: 'b' });
  });
  after(async () => t.close());

  test("another tenant's module is MODULE_NOT_FOUND on every module route, and stays untouched", async () => {
    const mod = await uploadAs(t.app, a.key, 'a-module');
    assert.equal(mod.tenant, 'a', 'a developer key uploads into its own tenant');
    // A second version so that a rollback would change something.
    const put = await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, headers: bearer(a.key), payload: { name: 'a-module-v2' } });
    assert.equal(put.statusCode, 200);
    const before = (await t.app.inject({ method: 'GET', url: `/modules/${mod.id}`, headers: bearer(a.key) })).json() as ModuleView;
    assert.equal(before.version, 2);

    const attempts: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; payload?: object; headers?: Record<string, string> }[] = [
      { method: 'GET', url: `/modules/${mod.id}` },
      { method: 'GET', url: `/modules/${mod.id}/content` },
      { method: 'GET', url: `/modules/${mod.id}/versions` },
      { method: 'GET', url: `/modules/${mod.id}/versions/1` },
      { method: 'GET', url: `/modules/${mod.id}/versions/1/content` },
      { method: 'POST', url: `/modules/${mod.id}/run`, payload: { function: 'add', args: [1, 2] } },
      { method: 'PUT', url: `/modules/${mod.id}`, payload: { name: 'stolen' } },
      { method: 'PUT', url: `/modules/${mod.id}`, payload: { content: addB64() } },
      { method: 'PUT', url: `/modules/${mod.id}`, payload: { name: 'stolen' }, headers: { 'if-match': '"2"' } },
      { method: 'DELETE', url: `/modules/${mod.id}` },
      { method: 'DELETE', url: `/modules/${mod.id}`, headers: { 'if-match': '"2"' } },
      { method: 'POST', url: `/modules/${mod.id}/rollback`, payload: { version: 1 } },
    ];
    for (const attempt of attempts) {
      const res = await t.app.inject({
        method: attempt.method,
        url: attempt.url,
        headers: { ...bearer(b.key), ...attempt.headers },
        ...(attempt.payload ? { payload: attempt.payload } : {}),
      });
      assert.equal(res.statusCode, 404, `tenant b ${attempt.method} ${attempt.url} must be 404, got ${res.statusCode} ${res.body}`);
      assert.equal(errorCode(res), 'MODULE_NOT_FOUND');
      // Same answer as a module that does not exist at all.
      assert.ok(!res.body.includes('a-module'), 'the 404 does not reveal the module');
    }

    const after = await t.app.inject({ method: 'GET', url: `/modules/${mod.id}`, headers: bearer(a.key) });
    assert.equal(after.statusCode, 200, 'the module still exists for its tenant');
    const now = after.json() as ModuleView;
    assert.deepEqual({ name: now.name, version: now.version, sha256: now.sha256 }, { name: before.name, version: 2, sha256: before.sha256 });
    const versions = (await t.app.inject({ method: 'GET', url: `/modules/${mod.id}/versions`, headers: bearer(a.key) })).json() as { items: unknown[] };
    assert.equal(versions.items.length, 2, 'no version was added by tenant b');
  });

  test("GET /modules lists only the caller's tenant; admin sees all and can narrow with ?tenant=", async () => {
    const ma = await uploadAs(t.app, a.key, 'list-a');
    const mb = await uploadAs(t.app, b.key, 'list-b');
    const ids = async (key: string | undefined, url: string): Promise<{ status: number; ids: string[]; tenants: string[] }> => {
      const res = await t.app.inject({ method: 'GET', url, ...(key ? { headers: bearer(key) } : {}) });
      if (res.statusCode !== 200) return { status: res.statusCode, ids: [], tenants: [] };
      const items = (res.json() as { items: ModuleView[] }).items;
      return { status: 200, ids: items.map((m) => m.id), tenants: items.map((m) => m.tenant) };
    };
    const asA = await ids(a.key, '/modules?limit=100');
    assert.ok(asA.ids.includes(ma.id));
    assert.ok(!asA.ids.includes(mb.id), "tenant a does not see tenant b's module");
    assert.ok(asA.tenants.every((x) => x === 'a'));
    const asB = await ids(b.key, '/modules?limit=100');
    assert.ok(asB.ids.includes(mb.id));
    assert.ok(!asB.ids.includes(ma.id), "tenant b does not see tenant a's module");
    assert.ok(asB.tenants.every((x) => x === 'b'));

    const all = await ids(undefined, '/modules?limit=100');
    assert.ok(all.ids.includes(ma.id) && all.ids.includes(mb.id), 'admin sees every tenant');
    const onlyA = await ids(undefined, '/modules?tenant=a&limit=100');
    assert.ok(onlyA.ids.includes(ma.id) && !onlyA.ids.includes(mb.id), '?tenant=a narrows to a');
    assert.ok(onlyA.tenants.every((x) => x === 'a'));

    const crossing = await t.app.inject({ method: 'GET', url: '/modules?tenant=b', headers: bearer(a.key) });
    assert.equal(crossing.statusCode, 403, 'a non-admin naming another tenant is forbidden');
    assert.equal(errorCode(crossing), 'FORBIDDEN');
    const own = await ids(a.key, '/modules?tenant=a&limit=100');
    assert.equal(own.status, 200, 'naming its own tenant is fine');
    assert.ok(own.ids.includes(ma.id));
    const createCrossing = await t.app.inject({ method: 'POST', url: '/modules?tenant=b', headers: bearer(a.key), payload: { name: 'x', content: addB64() } });
    assert.equal(createCrossing.statusCode, 403, 'a developer may not create a module in another tenant');
    assert.ok(!(await ids(b.key, '/modules?limit=100')).ids.some((id) => !asB.ids.includes(id)), 'nothing was created in tenant b');
  });

  test('a module the admin creates with ?tenant=a belongs to tenant a', async () => {
    const mod = await uploadAs(t.app, undefined, 'made-for-a', 'a');
    assert.equal(mod.tenant, 'a');
    const asA = await t.app.inject({ method: 'GET', url: `/modules/${mod.id}`, headers: bearer(a.key) });
    assert.equal(asA.statusCode, 200);
    const run = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, headers: bearer(a.key), payload: { function: 'add', args: [2, 2] } });
    assert.deepEqual((run.json() as { results: number[] }).results, [4]);
    assert.equal((await t.app.inject({ method: 'GET', url: `/modules/${mod.id}`, headers: bearer(b.key) })).statusCode, 404);
    const raw = await t.app.inject({
      method: 'POST', url: '/modules?name=raw-for-b&tenant=b', headers: { 'content-type': 'application/wasm' }, payload: fixture('add'),
    });
    assert.equal(raw.statusCode, 201);
    assert.equal((raw.json() as ModuleView).tenant, 'b', 'raw uploads honour ?tenant= too');
  });

  test("an event stream never carries another tenant's module events", async () => {
    const streamB = await openStream(base, b.key);
    const streamA = await openStream(base, a.key);
    const admin = await makeKey(t.app, { name: 'events-admin', role: 'admin' });
    const streamAdmin = await openStream(base, admin.key);
    try {
      assert.equal(streamB.status, 200);
      assert.equal(streamA.status, 200);
      // Changes as A: create, update, rollback, delete.
      const ma = await uploadAs(t.app, a.key, 'evt-a');
      assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${ma.id}`, headers: bearer(a.key), payload: { name: 'evt-a2' } })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'POST', url: `/modules/${ma.id}/rollback`, headers: bearer(a.key), payload: { version: 1 } })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/modules/${ma.id}`, headers: bearer(a.key) })).statusCode, 204);
      // Then one change as B: its stream's marker.
      const mb = await uploadAs(t.app, b.key, 'evt-b');

      const adminFrames = await streamAdmin.waitFor(5);
      assert.deepEqual(
        adminFrames.map((f) => [f.event, f.data.module_id]),
        [['module.created', ma.id], ['module.updated', ma.id], ['module.updated', ma.id], ['module.deleted', ma.id], ['module.created', mb.id]],
        'control: the admin stream saw all five events',
      );
      const bFrames = await streamB.waitFor(1);
      // Give any stray frame for tenant a a moment to arrive before asserting it did not.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(bFrames.map((f) => [f.event, f.data.module_id]), [['module.created', mb.id]], "B's stream carries only B's event");
      const aFrames = await streamA.waitFor(4);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(aFrames.map((f) => f.data.module_id), [ma.id, ma.id, ma.id, ma.id], "A's stream carries only A's events");
      assert.ok(!JSON.stringify(bFrames).includes(ma.id));
    } finally {
      streamA.close();
      streamB.close();
      streamAdmin.close();
    }
  });
  test("naming another tenant's module in ?module= is 404, like any route; a stream of a revoked key ends", async () => {
    const ma = await uploadAs(t.app, a.key, 'evt-named');
    const streamB = await openStream(base, b.key, `/events?module=${ma.id}`);
    const streamA = await openStream(base, a.key, `/events?module=${ma.id}`);
    try {
      assert.equal(streamB.status, 404, 'refused like a missing module');
      assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${ma.id}`, headers: bearer(a.key), payload: { name: 'evt-named-2' } })).statusCode, 200);
      const aFrames = await streamA.waitFor(1);
      assert.deepEqual(aFrames.map((f) => [f.event, f.data.module_id]), [['module.updated', ma.id]], 'control: the owner saw the update');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(streamB.frames, [], "tenant b's stream for a's module stays silent");
      const revoked = await t.app.inject({ method: 'DELETE', url: `/keys/${a.id}` });
      assert.equal(revoked.statusCode, 204);
      for (let i = 0; !streamA.ended && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(streamA.ended, "the revoked key's open stream was ended by the server");
    } finally {
      streamA.close();
      streamB.close();
    }
  });
});

describe('module-scoped keys', () => {
  let t: TestApp;
  let id1: string;
  let id2: string;
  let foreign: string;
  before(async () => {
    t = await startApp();
    id1 = (await uploadAs(t.app, undefined, 'scoped-1', 's')).id;
    id2 = (await uploadAs(t.app, undefined, 'scoped-2', 's')).id;
    foreign = (await uploadAs(t.app, undefined, 'other-tenant', 'o')).id;
  });
  after(async () => t.close());

  test('a runner key scoped to one module runs it, is forbidden the others, and lists only it', async () => {
    const scoped = await makeKey(t.app, { name: 'scoped-runner', role: 'runner', tenant: 's', modules: [id1] });
    assert.deepEqual((scoped as unknown as { modules: string[] }).modules, [id1]);
    const run1 = await t.app.inject({ method: 'POST', url: `/modules/${id1}/run`, headers: bearer(scoped.key), payload: { function: 'add', args: [3, 4] } });
    assert.equal(run1.statusCode, 200, run1.body);
    assert.deepEqual((run1.json() as { results: number[] }).results, [7]);
    const run2 = await t.app.inject({ method: 'POST', url: `/modules/${id2}/run`, headers: bearer(scoped.key), payload: { function: 'add', args: [3, 4] } });
    assert.equal(run2.statusCode, 403, `a module outside the scope: ${run2.body}`);
    assert.equal(errorCode(run2), 'FORBIDDEN');
    const get2 = await t.app.inject({ method: 'GET', url: `/modules/${id2}`, headers: bearer(scoped.key) });
    assert.equal(get2.statusCode, 403);
    const list = await t.app.inject({ method: 'GET', url: '/modules?limit=100', headers: bearer(scoped.key) });
    assert.equal(list.statusCode, 200);
    assert.deepEqual((list.json() as { items: ModuleView[] }).items.map((m) => m.id), [id1], 'GET /modules lists only the scoped module');
    // Another tenant's module stays invisible, scope or not.
    const runForeign = await t.app.inject({ method: 'POST', url: `/modules/${foreign}/run`, headers: bearer(scoped.key), payload: { function: 'add', args: [1, 1] } });
    assert.equal(runForeign.statusCode, 404);
    assert.equal(errorCode(runForeign), 'MODULE_NOT_FOUND');
  });

  test('a scoped developer key cannot create modules, but may update its module and not another', async () => {
    const scoped = await makeKey(t.app, { name: 'scoped-dev', role: 'developer', tenant: 's', modules: [id1] });
    const create = await t.app.inject({ method: 'POST', url: '/modules', headers: bearer(scoped.key), payload: { name: 'nope', content: addB64() } });
    assert.equal(create.statusCode, 403);
    assert.equal(errorCode(create), 'FORBIDDEN');
    const listed = (await t.app.inject({ method: 'GET', url: '/modules?tenant=s&limit=100' })).json() as { items: ModuleView[] };
    assert.ok(!listed.items.some((m) => m.name === 'nope'), 'nothing was created');
    const put2 = await t.app.inject({ method: 'PUT', url: `/modules/${id2}`, headers: bearer(scoped.key), payload: { name: 'hijacked' } });
    assert.equal(put2.statusCode, 403);
    assert.equal(((await t.app.inject({ method: 'GET', url: `/modules/${id2}` })).json() as ModuleView).name, 'scoped-2');
    const put1 = await t.app.inject({ method: 'PUT', url: `/modules/${id1}`, headers: bearer(scoped.key), payload: { name: 'scoped-1b' } });
    assert.equal(put1.statusCode, 200);
  });

  test('a scoped key\'s event stream carries only its modules\' events', async () => {
    const base = await listen(t.app);
    const scoped = await makeKey(t.app, { name: 'scoped-stream', role: 'runner', tenant: 's', modules: [id1] });
    const stream = await openStream(base, scoped.key);
    try {
      assert.equal(stream.status, 200);
      assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${id2}`, payload: { name: 'scoped-2-renamed' } })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${id2}`, payload: { name: 'scoped-2' } })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${foreign}`, payload: { name: 'other-renamed' } })).statusCode, 200);
      const marker = await t.app.inject({ method: 'PUT', url: `/modules/${id1}`, payload: { name: 'scoped-1-marker' } });
      assert.equal(marker.statusCode, 200);
      const frames = await stream.waitFor(1);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(frames.map((f) => [f.event, f.data.module_id]), [['module.updated', id1]], 'only the scoped module\'s event');
    } finally {
      stream.close();
    }
  });

  test('regression (issue 15, item 6): a key limited to named modules manages no keys: list, another key\'s usage, revoke and create are 403', async () => {
    const scoped = await makeKey(t.app, { name: 'scoped-manager', role: 'developer', tenant: 's', modules: [id1] });
    const victim = await makeKey(t.app, { name: 'scoped-victim', role: 'runner', tenant: 's' });
    const scopedAdmin = await makeKey(t.app, { name: 'scoped-admin', role: 'admin', tenant: 's', modules: [id1] });
    const refused = [
      await t.app.inject({ method: 'GET', url: '/keys', headers: bearer(scoped.key) }),
      await t.app.inject({ method: 'GET', url: `/keys/${victim.id}/usage`, headers: bearer(scoped.key) }),
      await t.app.inject({ method: 'DELETE', url: `/keys/${victim.id}`, headers: bearer(scoped.key) }),
      await t.app.inject({ method: 'POST', url: '/keys', headers: bearer(scopedAdmin.key), payload: { name: 'escape', role: 'developer', tenant: 's' } }),
      await t.app.inject({ method: 'GET', url: '/keys', headers: bearer(scopedAdmin.key) }),
    ];
    for (const [i, res] of refused.entries()) {
      assert.equal(res.statusCode, 403, `request ${i}: ${res.body}`);
      assert.equal(errorCode(res), 'FORBIDDEN');
      assert.ok(!res.body.includes('"items"') && !res.body.includes('"usage"'), 'nothing about keys comes back');
    }
    assert.equal((await t.app.inject({ method: 'GET', url: '/modules', headers: bearer(victim.key) })).statusCode, 200, 'the other key still works');
    const keys = (await t.app.inject({ method: 'GET', url: '/keys?limit=100' })).json() as { items: { name: string }[] };
    assert.ok(!keys.items.some((k) => k.name === 'escape'), 'no key was created');
    // Its own usage it may still read, as any key.
    const own = await t.app.inject({ method: 'GET', url: `/keys/${scoped.id}/usage`, headers: bearer(scoped.key) });
    assert.equal(own.statusCode, 200, own.body);
  });

  test('POST /keys refuses a scope naming another tenant\'s module, or no module at all', async () => {
    for (const modules of [[foreign], [id1, foreign], ['00000000-0000-4000-8000-000000000000']]) {
      const res = await t.app.inject({ method: 'POST', url: '/keys', payload: { name: 'bad-scope', role: 'runner', tenant: 's', modules } });
      assert.equal(res.statusCode, 400, `modules ${JSON.stringify(modules)}: ${res.body}`);
      assert.equal(errorCode(res), 'VALIDATION');
    }
    const keys = (await t.app.inject({ method: 'GET', url: '/keys?limit=100' })).json() as { items: { name: string }[] };
    assert.ok(!keys.items.some((k) => k.name === 'bad-scope'), 'no key was created');
  });
});

describe('keys across tenants', () => {
  let t: TestApp;
  let devA: MadeKey;
  let runnerA: MadeKey;
  let devB: MadeKey;
  let runnerB: MadeKey;
  before(async () => {
    t = await startApp();
    devA = await makeKey(t.app, { name: 'dev-a', role: 'developer', tenant: 'a' });
    runnerA = await makeKey(t.app, { name: 'runner-a', role: 'runner', tenant: 'a' });
    devB = await makeKey(t.app, { name: 'dev-b', role: 'developer', tenant: 'b' });
    runnerB = await makeKey(t.app, { name: 'runner-b', role: 'runner', tenant: 'b' });
  });
  after(async () => t.close());

  test("a developer lists only its tenant's keys", async () => {
    const res = await t.app.inject({ method: 'GET', url: '/keys?limit=100', headers: bearer(devA.key) });
    assert.equal(res.statusCode, 200);
    const items = (res.json() as { items: { id: string; tenant: string }[] }).items;
    assert.deepEqual(items.map((k) => k.id).sort(), [devA.id, runnerA.id].sort(), "exactly tenant a's keys");
    assert.ok(items.every((k) => k.tenant === 'a'));
    const crossing = await t.app.inject({ method: 'GET', url: '/keys?tenant=b', headers: bearer(devA.key) });
    assert.equal(crossing.statusCode, 403);
    assert.equal(errorCode(crossing), 'FORBIDDEN');
    const adminNarrowed = (await t.app.inject({ method: 'GET', url: '/keys?tenant=b&limit=100' })).json() as { items: { id: string }[] };
    assert.deepEqual(adminNarrowed.items.map((k) => k.id).sort(), [devB.id, runnerB.id].sort(), 'admin ?tenant=b narrows to b');
  });

  test("a developer cannot see or revoke another tenant's keys (404), and they keep working", async () => {
    for (const target of [runnerB, devB]) {
      const revoke = await t.app.inject({ method: 'DELETE', url: `/keys/${target.id}`, headers: bearer(devA.key) });
      assert.equal(revoke.statusCode, 404, `revoking ${target.id} of tenant b as a developer of a`);
      assert.equal(errorCode(revoke), 'KEY_NOT_FOUND');
      const usage = await t.app.inject({ method: 'GET', url: `/keys/${target.id}/usage`, headers: bearer(devA.key) });
      assert.equal(usage.statusCode, 404);
      assert.equal(errorCode(usage), 'KEY_NOT_FOUND');
      const still = await t.app.inject({ method: 'GET', url: '/modules', headers: bearer(target.key) });
      assert.equal(still.statusCode, 200, 'the other tenant\'s key still works');
    }
    // The answer is the same as for a key that does not exist.
    const unknown = await t.app.inject({ method: 'DELETE', url: '/keys/zzzzzzzzzzzz', headers: bearer(devA.key) });
    assert.equal(unknown.statusCode, 404);
    assert.equal(errorCode(unknown), 'KEY_NOT_FOUND');
    // Its own tenant's runner it can revoke.
    const own = await t.app.inject({ method: 'DELETE', url: `/keys/${runnerA.id}`, headers: bearer(devA.key) });
    assert.equal(own.statusCode, 204);
    assert.equal((await t.app.inject({ method: 'GET', url: '/modules', headers: bearer(runnerA.key) })).statusCode, 401);
  });

  test('a key created without a tenant belongs to the creating admin\'s tenant ("default")', async () => {
    const k = await makeKey(t.app, { name: 'no-tenant', role: 'runner' });
    assert.equal(k.tenant, 'default');
    const mod = await uploadAs(t.app, undefined, 'default-mod');
    assert.equal(mod.tenant, 'default');
    assert.equal((await t.app.inject({ method: 'GET', url: `/modules/${mod.id}`, headers: bearer(k.key) })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'GET', url: `/modules/${mod.id}`, headers: bearer(devA.key) })).statusCode, 404);
  });
});
