import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, authHeaders, listen, startApp, type TestApp } from '../helper.js';

/** A module in test/fixtures/toolchains/, built by scripts/build-toolchain-fixtures.sh from the source beside it. */
const built = (name: string): Buffer => readFileSync(new URL(`test/fixtures/toolchains/${name}.wasm`, ROOT));

/** Each fixture and the kind Wess must store it as: a WASI command, or a module of functions. */
const FIXTURES = {
  'c-lib': 'functions',
  'cpp-hello': 'wasi',
  'em-hello': 'wasi',
  'em-reactor': 'functions',
  'rust-hello': 'wasi',
  'rust-lib': 'functions',
} as const;
type Fixture = keyof typeof FIXTURES;

// Over a real socket, uploaded the way the README tells users to (a raw application/wasm body).
describe('modules as C (clang, no libc), C++ (clang++, wasi libc++), Emscripten and Rust build them', () => {
  let t: TestApp;
  let base: string;
  const ids = {} as Record<Fixture, string>;
  const run = async (name: Fixture, payload: Record<string, unknown>) => {
    const res = await fetch(`${base}/modules/${ids[name]}/run`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify(payload),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    return JSON.parse(body);
  };

  before(async () => {
    t = await startApp({ runner: { timeout: 5000 } });
    base = await listen(t.app);
    for (const name of Object.keys(FIXTURES) as Fixture[]) {
      const res = await fetch(`${base}/modules?name=${name}`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/wasm' }),
        body: built(name),
      });
      const body = await res.text();
      assert.equal(res.status, 201, `${name}: ${body}`);
      ids[name] = JSON.parse(body).id;
    }
  });
  after(async () => t.close());

  test('each build is stored as the kind it is: a WASI command or a module of functions', async () => {
    for (const [name, kind] of Object.entries(FIXTURES)) {
      const res = await fetch(`${base}/modules/${ids[name as Fixture]}`, { headers: authHeaders() });
      assert.equal(((await res.json()) as { kind: string }).kind, kind, name);
    }
  });

  test('C built with -nostdlib --no-entry --export=… is its exported i32, i64 and f64 functions', async () => {
    assert.deepEqual((await run('c-lib', { function: 'add', args: [2, 3] })).results, [5]);
    assert.deepEqual((await run('c-lib', { function: 'gcd', args: ['-12', 18] })).results, ['6']);
    assert.deepEqual((await run('c-lib', { function: 'average', args: [1, 2] })).results, [1.5]);
  });

  test('a C++ program with iostream, containers and a static constructor runs as a command', async () => {
    const out = await run('cpp-hello', { args: ['b', 'a', 'b'] });
    assert.equal(out.stdout, 'hello from C++\na 1\nb 2\n');
    assert.equal(out.stderr, '3 words\n');
  });

  test('an Emscripten -sSTANDALONE_WASM program imports only WASI and runs as a command', async () => {
    const out = await run('em-hello', { args: ['x', 'y', 'z'] });
    assert.deepEqual([out.exit_code, out.stdout, out.stderr], [3, 'emscripten says x+y+z\n', '3 args\n']);
  });

  test('an Emscripten --no-entry module with numeric exports gets _initialize (its constructors) before each call', async () => {
    assert.deepEqual((await run('em-reactor', { function: 'square_plus_40', args: [3] })).results, [49]);
  });

  test('a Rust std program for wasm32-wasi reads stdin and args, writes stdout and stderr, and exits with its code', async () => {
    const out = await run('rust-hello', { args: ['x', 'y'], stdin: 'b a b' });
    assert.deepEqual(
      [out.exit_code, out.stdout, out.stderr],
      [2, 'hello from Rust, x+y\na 1\nb 2\n', '3 words\n'],
    );
  });

  test('a Rust cdylib for wasm32-unknown-unknown exports plain i32, i64 and f64 functions', async () => {
    assert.deepEqual((await run('rust-lib', { function: 'add', args: [2, 3] })).results, [5]);
    assert.deepEqual((await run('rust-lib', { function: 'add', args: [2147483647, 1] })).results, [-2147483648]);
    assert.deepEqual((await run('rust-lib', { function: 'fib', args: [90] })).results, ['2880067194370816120']);
    assert.deepEqual((await run('rust-lib', { function: 'hypot', args: [3, 4] })).results, [5]);
  });
});
