import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, startApp, upload, type TestApp } from '../helper.js';

/** A module in test/fixtures/toolchains/, built by scripts/build-toolchain-fixtures.sh from the source beside it. */
const built = (name: string): Buffer => readFileSync(new URL(`test/fixtures/toolchains/${name}.wasm`, ROOT));

describe('modules as C++ (clang++, wasi libc++) and Emscripten build them', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  const run = (name: string, payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: `/modules/${ids[name]}/run`, payload });

  before(async () => {
    t = await startApp({ runner: { timeout: 5000 } });
    for (const name of ['cpp-hello', 'em-hello', 'em-reactor']) ids[name] = (await upload(t.app, name, built(name))).id;
  });
  after(async () => t.close());

  test('a C++ program with iostream, containers and a static constructor runs as a command', async () => {
    const res = await run('cpp-hello', { args: ['b', 'a', 'b'] });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().stdout, 'hello from C++\na 1\nb 2\n');
    assert.equal(res.json().stderr, '3 words\n');
  });

  test('an Emscripten -sSTANDALONE_WASM program imports only WASI and runs as a command', async () => {
    const res = await run('em-hello', { args: ['x', 'y', 'z'] });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().exit_code, res.json().stdout, res.json().stderr], [3, 'emscripten says x+y+z\n', '3 args\n']);
  });

  test('an Emscripten --no-entry module with numeric exports gets _initialize (its constructors) before each call', async () => {
    const record = (await t.app.inject({ method: 'GET', url: `/modules/${ids['em-reactor']}` })).json();
    assert.equal(record.kind, 'functions');
    const res = await run('em-reactor', { function: 'square_plus_40', args: [3] });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().results, [49]);
  });
});
