import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ECHO_CHARS, clip, echo, echoValue, listNames } from '../src/echo.js';
import { startApp, upload, type TestApp } from './helper.js';
import { I32, buildModule, uleb } from './reliability/wasm-builder.js';

/** Error bodies stay below this however large the value they are about. */
const SMALL = 2048;

test('echo quotes short values whole and long ones as a clipped prefix with their size', () => {
  assert.equal(echo(2.5), '2.5');
  assert.equal(echo(-0), '-0');
  assert.equal(echo('x'), '"x"');
  assert.equal(echo(null), 'null');
  assert.equal(echo(undefined), 'undefined');
  assert.equal(echo({ a: [1, true] }), '{"a":[1,true]}');
  const long = echo('7'.repeat(1000));
  assert.equal(long, `"${'7'.repeat(ECHO_CHARS)}…" (1000 characters)`);
  assert.equal(echo('7'.repeat(ECHO_CHARS)), `"${'7'.repeat(ECHO_CHARS)}"`, 'a string of ECHO_CHARS is whole');
  assert.match(echo(Array.from({ length: 10_000 }, (_, i) => i)), /^\[0,1,2,.*… \(10000 items\)$/);
  assert.equal(clip('abc'), 'abc');
  assert.equal(clip('a'.repeat(100), 10), 'aaaaaaaaaa… (100 characters)');
  assert.equal(echoValue(3), 3);
  assert.equal(echoValue('1'.repeat(100)), echo('1'.repeat(100)));
  assert.equal(listNames(['a', 'b', 'c'], 2), '"a", "b" and 1 more');
});

test('regression (issue 15, item 1): echo of a value nested 1.5M deep neither overflows the stack nor walks it', () => {
  let deep: unknown = [];
  for (let i = 0; i < 1_500_000; i++) deep = [deep];
  const text = echo(deep);
  assert.ok(text.startsWith('[[[['));
  assert.ok(text.length < 100, text);
  // JSON.stringify overflows past about ten thousand levels already.
  let wide: Record<string, unknown> = {};
  for (let i = 0; i < 200_000; i++) wide = { [`k${i}`]: wide };
  assert.ok(echo(wide).length < 100);
});

/** A module importing a `() -> ()` function for each [module, name] (a hand-made binary: wasm-builder has no imports). */
function importing(imports: string[][]): Buffer {
  const text = (value: string) => {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([Buffer.from(uleb(bytes.length)), bytes]);
  };
  const section = (id: number, content: Buffer) => Buffer.concat([Buffer.from([id, ...uleb(content.length)]), content]);
  const entries = imports.map(([module, name]) => Buffer.concat([text(module ?? ''), text(name ?? ''), Buffer.from([0x00, 0x00])]));
  return Buffer.concat([
    Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
    section(1, Buffer.from([0x01, 0x60, 0x00, 0x00])),
    section(2, Buffer.concat([Buffer.from(uleb(entries.length)), ...entries])),
  ]);
}

describe('errors quote what a client sent, briefly', () => {
  let t: TestApp;
  let add: string;
  const run = (id: string, payload: unknown) => t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: payload as Record<string, unknown> });

  before(async () => {
    t = await startApp();
    add = (await upload(t.app, 'add')).id;
  });
  after(() => t.close());

  test('regression (issue 15, item 2): a 2,000,000-digit argument gets a small 400 that still says what was wrong', async () => {
    const digits = '1'.repeat(2_000_000);
    const res = await run(add, { function: 'add', args: [digits, 1] });
    assert.equal(res.statusCode, 400);
    assert.ok(res.body.length < SMALL, `${res.body.length} bytes`);
    const error = res.json().error;
    assert.equal(error.code, 'INVALID_ARGUMENT');
    assert.match(error.message, /^args\[0\] \(i32\): "1{64}…" \(2000000 characters\) is out of range \[-2147483648, 4294967295\]$/);
    assert.equal(error.details.index, 0);
    assert.equal(error.details.value, `"${'1'.repeat(64)}…" (2000000 characters)`);
    // A batch item says the same, as small.
    const batch = await run(add, { function: 'add', batch: [[digits, 1], [1, 2]] });
    assert.ok(batch.body.length < SMALL, `${batch.body.length} bytes`);
    assert.match(batch.json().batch[0].error.message, /2000000 characters\) is out of range/);
  });

  test('regression (issue 15, item 2): a megabyte field name, a hundred thousand bad items and a long header give small VALIDATION answers', async () => {
    const field = 'f'.repeat(1_000_000);
    const unknown = await run(add, { function: 'add', args: [1, 2], [field]: 1 });
    assert.equal(unknown.statusCode, 400);
    assert.ok(unknown.body.length < SMALL, `${unknown.body.length} bytes`);
    assert.match(unknown.json().error.message, /^body: unknown field\(s\) "f{64}…" \(1000000 characters\)$/);

    const env = await run(add, { env: { [field]: 5 } });
    assert.ok(env.body.length < SMALL, `${env.body.length} bytes`);
    assert.match(env.json().error.message, /^body\.env\.f{64}… \(1000000 characters\): /);

    const items = await run(add, { function: 'add', batch: Array.from({ length: 100_000 }, () => 1) });
    assert.equal(items.statusCode, 400);
    assert.ok(items.body.length < SMALL, `${items.body.length} bytes`);
    const error = items.json().error;
    assert.equal(error.code, 'VALIDATION');
    assert.match(error.message, /^body\.batch\.0: each batch item must be an array of arguments;.*; and 99990 more problems$/);
    assert.equal(error.details.problems.length, 11);

    const ifMatch = await t.app.inject({ method: 'DELETE', url: `/modules/${add}`, headers: { 'if-match': 'x'.repeat(10_000) } });
    assert.equal(ifMatch.statusCode, 400);
    assert.ok(ifMatch.body.length < SMALL, `${ifMatch.body.length} bytes`);
  });

  test('regression (issue 15, item 2): export and import names as long as the module, and a module of 100,000 imports, give small errors', async () => {
    const long = (c: string) => c.repeat(100_000);
    const names = ['a', 'b', 'c', 'd', 'e'].map(long);
    const bytes = buildModule({ funcs: names.map((name) => ({ params: [], results: [I32], code: [0x41, 0x01], export: name })) });
    const mod = await upload(t.app, 'long-names', bytes);
    const res = await run(mod.id, { function: 'nope' });
    assert.equal(res.statusCode, 400);
    assert.ok(res.body.length < SMALL, `${res.body.length} bytes`);
    assert.match(res.json().error.message, /exports no function "nope"; it exports "a{64}…" \(100000 characters\), /);

    // Long import names, and a hundred thousand imports: FORBIDDEN_IMPORT names a few, clipped.
    for (const imports of [Array.from({ length: 10 }, (_, i) => [long(String(i)), long('n')]), Array.from({ length: 100_000 }, (_, i) => ['env', `f${i}`])]) {
      const refused = await t.app.inject({ method: 'POST', url: '/modules?name=imports', headers: { 'content-type': 'application/wasm' }, payload: importing(imports) });
      assert.equal(refused.statusCode, 400);
      // The details list up to 20 imports, each name clipped: bounded, if not as small as one value.
      assert.ok(refused.body.length < 4 * SMALL, `${refused.body.length} bytes`);
      const error = refused.json().error;
      assert.equal(error.code, 'FORBIDDEN_IMPORT');
      assert.ok(error.details.imports.length <= 20);
      if (imports.length > 20) assert.equal(error.details.refused, imports.length);
      else assert.match(error.message, /^module imports function 0{64}… \(100000 characters\)\.n{64}… \(100000 characters\), /);
    }
  });
});
