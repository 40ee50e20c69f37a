import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { nestedDeeperThan } from '../../src/http/json-body.js';
import { ROOT, authHeaders, listen, startApp, upload, type TestApp } from '../helper.js';

/** `[[[…]]]` nested `depth` levels, as JSON text. */
const brackets = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** The nesting depth of a parsed JSON value (for the small reference cases only: it recurses). */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const inner = Object.values(value as Record<string, unknown>).map(depthOf);
  return 1 + Math.max(0, ...inner);
}

describe('JSON bodies: nesting is bounded before parsing', () => {
  let t: TestApp;
  let base: string;
  let add: string;
  const post = (body: string) =>
    fetch(`${base}/modules/${add}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body });

  before(async () => {
    t = await startApp();
    base = await listen(t.app);
    add = (await upload(t.app, 'add')).id;
  });
  after(() => t.close());

  test('regression (issue 15, item 1): a body nested 1.5M deep gets 400 VALIDATION naming the limit, not 500, and the server stays responsive', async () => {
    const depth = 1_500_000;
    const body = `{"function":"add","args":[${brackets(depth)},1]}`;
    assert.ok(body.length < t.app.services.config.server.body_limit, 'the body is within the body limit: only its depth is wrong');
    // A probe sent alongside is answered too, and so is a real call afterwards.
    const [deep, live] = await Promise.all([post(body), fetch(`${base}/health/live`)]);
    assert.equal(deep.status, 400);
    const error = ((await deep.json()) as { error: { code: string; message: string; details: { limit: number } } }).error;
    assert.equal(error.code, 'VALIDATION');
    assert.match(error.message, /nested deeper than 32 levels .*limits\.max_json_depth/);
    assert.equal(error.details.limit, 32);
    assert.equal(live.status, 200);
    const ok = await post('{"function":"add","args":[2,3]}');
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { results: number[] }).results, [5]);
  });

  test('regression (issue 15, item 1): a body at depth 32 still reaches the route, 33 does not', async () => {
    // body {…} is level 1, args [...] level 2: an argument nested 30 deep makes the body 32 deep.
    const at32 = await post(`{"function":"add","args":[${brackets(30)},1]}`);
    assert.equal(at32.status, 400);
    const error = ((await at32.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'INVALID_ARGUMENT', 'the route itself judged the argument');
    assert.match(error.message, /^args\[0\] \(i32\): \[\[\[/);
    const at33 = await post(`{"function":"add","args":[${brackets(31)},1]}`);
    assert.equal(((await at33.json()) as { error: { code: string } }).error.code, 'VALIDATION');
    // Brackets inside strings are text, not nesting.
    const inString = await post(`{"function":"add","args":["${'['.repeat(100)}",1]}`);
    assert.equal(((await inString.json()) as { error: { code: string } }).error.code, 'INVALID_ARGUMENT');
  });

  test('other JSON rules stay: empty and malformed bodies are 400 VALIDATION, __proto__ keys are refused', async () => {
    for (const body of ['', '{"function":', '{"__proto__":{"x":1}}']) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'VALIDATION', body);
    }
  });
});

test('regression (issue 15, item 1): limits.max_json_depth is read from wess.toml and WESS_LIMITS_MAX_JSON_DEPTH, and a raised one is honoured', async () => {
  const toml = fileURLToPath(new URL('wess.toml', ROOT));
  assert.equal(loadConfig({ defaultPath: toml }).limits.max_json_depth, 32);
  assert.equal(loadConfig({ defaultPath: toml, env: { WESS_LIMITS_MAX_JSON_DEPTH: '40' } }).limits.max_json_depth, 40);
  const t = await startApp({ limits: { max_json_depth: 40 } });
  try {
    const add = (await upload(t.app, 'add')).id;
    const res = await t.app.inject({
      method: 'POST', url: `/modules/${add}/run`, headers: { 'content-type': 'application/json' }, payload: `{"function":"add","args":[${brackets(38)},1]}`,
    });
    assert.equal(res.json().error.code, 'INVALID_ARGUMENT', 'depth 40 passes a limit of 40');
  } finally {
    await t.close();
  }
});

test('nestedDeeperThan agrees with the parsed depth, strings and escapes included', () => {
  const cases = [
    '1', '"x"', '[]', '{}', '[[]]', '{"a":{"b":[1,{"c":[]}]}}',
    '["[[[[", "]]]]"]', '{"k[": "v{"}', '["\\"[[["]', '["\\\\", [[]]]', '["\\\\\\"[", []]', '[{"\\u005b": "\\u005d"}]',
    `[${'"]",'.repeat(10)}[[[0]]]]`,
  ];
  for (const text of cases) {
    const depth = depthOf(JSON.parse(text));
    assert.equal(nestedDeeperThan(text, depth), false, `${text} is ${depth} deep`);
    if (depth > 0) assert.equal(nestedDeeperThan(text, depth - 1), true, `${text} is deeper than ${depth - 1}`);
  }
  // An unterminated string ends the scan: what follows it is inside the string.
  assert.equal(nestedDeeperThan('["[[[[', 1), false);
});
