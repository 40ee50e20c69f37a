import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, authHeaders, listen, startApp, type TestApp } from '../helper.js';

/**
 * Each build the README's "Bring your module" names, the file uploaded and the kind Wess must store it as.
 * Built from the source beside each by scripts/build-toolchain-fixtures.sh (toolchains/),
 * build-wasi-fixtures.sh (wasi/) and build-as-fixtures.sh (assemblyscript/); the text format is uploaded as it is.
 */
const FIXTURES = {
  'c-echo': { file: 'wasi/echo.wasm', kind: 'wasi' },
  'c-lib': { file: 'toolchains/c-lib.wasm', kind: 'functions' },
  'cpp-hello': { file: 'toolchains/cpp-hello.wasm', kind: 'wasi' },
  'cpp-lib': { file: 'toolchains/cpp-lib.wasm', kind: 'functions' },
  'em-hello': { file: 'toolchains/em-hello.wasm', kind: 'wasi' },
  'em-reactor': { file: 'toolchains/em-reactor.wasm', kind: 'functions' },
  'rust-hello': { file: 'toolchains/rust-hello.wasm', kind: 'wasi' },
  'rust-lib': { file: 'toolchains/rust-lib.wasm', kind: 'functions' },
  'as-abort': { file: 'assemblyscript/abort.wasm', kind: 'functions' },
  'wat-add': { file: 'wasm/add.wat', kind: 'functions' },
} as const;
type Fixture = keyof typeof FIXTURES;

// Over a real socket, uploaded the way the README tells users to (a raw application/wasm or text/wat body).
describe('modules as C, C++, Emscripten, Rust and AssemblyScript build them, and the text format', () => {
  let t: TestApp;
  let base: string;
  // Kept, not asserted in before(): a refused upload then fails its own tests, with the answer.
  const uploads = {} as Record<Fixture, { status: number; body: string }>;
  const idOf = (name: Fixture): string => {
    const { status, body } = uploads[name];
    assert.equal(status, 201, `upload of ${name}: ${body}`);
    return (JSON.parse(body) as { id: string }).id;
  };
  const run = async (name: Fixture, payload: Record<string, unknown>) => {
    const res = await fetch(`${base}/modules/${idOf(name)}/run`, {
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
    for (const [name, { file }] of Object.entries(FIXTURES)) {
      const res = await fetch(`${base}/modules?name=${name}`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': file.endsWith('.wat') ? 'text/wat' : 'application/wasm' }),
        body: readFileSync(new URL(`test/fixtures/${file}`, ROOT)),
      });
      uploads[name as Fixture] = { status: res.status, body: await res.text() };
    }
  });
  after(async () => t.close());

  test('each build uploads (201) and is stored as the kind it is: a WASI command or a module of functions', async () => {
    for (const [name, { kind }] of Object.entries(FIXTURES)) {
      const res = await fetch(`${base}/modules/${idOf(name as Fixture)}`, { headers: authHeaders() });
      assert.equal(((await res.json()) as { kind: string }).kind, kind, name);
    }
  });

  test('a C program built with wasi-libc runs as a command: stdin in, stdout out', async () => {
    const out = await run('c-echo', { stdin: 'quiet please' });
    assert.deepEqual([out.exit_code, out.stdout], [0, 'QUIET PLEASE']);
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

  test('C++ built as a reactor (-mexec-model=reactor) is its extern "C" functions, containers included', async () => {
    assert.deepEqual((await run('cpp-lib', { function: 'sum_to', args: [100] })).results, [5050]);
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

  test('a Rust panic is 422 WASM_TRAP with the panic message as details.stderr', async () => {
    // Not UTF-8, so read_to_string fails and .expect("stdin") panics; Rust's std aborts with unreachable.
    const res = await fetch(`${base}/modules/${idOf('rust-hello')}/run`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ stdin_base64: Buffer.from([0xff]).toString('base64') }),
    });
    const { error } = (await res.json()) as { error: { code: string; details: { stderr: string } } };
    assert.equal(res.status, 422);
    assert.equal(error.code, 'WASM_TRAP');
    assert.match(error.details.stderr, /^thread 'main' panicked at 'stdin: .*rust-hello\.rs:9:/);
  });

  test('a Rust cdylib for wasm32-unknown-unknown exports plain i32, i64 and f64 functions', async () => {
    assert.deepEqual((await run('rust-lib', { function: 'add', args: [2, 3] })).results, [5]);
    assert.deepEqual((await run('rust-lib', { function: 'add', args: [2147483647, 1] })).results, [-2147483648]);
    assert.deepEqual((await run('rust-lib', { function: 'fib', args: [90] })).results, ['2880067194370816120']);
    assert.deepEqual((await run('rust-lib', { function: 'hypot', args: [3, 4] })).results, [5]);
  });

  test('AssemblyScript built with `asc abort.ts -O3` (it imports env.abort) runs its exports', async () => {
    assert.deepEqual((await run('as-abort', { function: 'divide', args: [42, 6] })).results, [7]);
  });

  test('the text format uploaded as text/wat is compiled by Wess and runs', async () => {
    assert.deepEqual((await run('wat-add', { function: 'add', args: [2, 3] })).results, [5]);
  });
});
