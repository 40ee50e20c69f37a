import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, upload, wasiFixture, type TestApp } from '../helper.js';
import { closedPort, lines, wess } from './helper.js';

describe('wess modules and wess run against a real server', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};
  const cli = (args: string[], input?: string) => wess(args, { env, input });
  const runRequests = () => t.logs.filter((l) => l.msg === 'request' && String(l.url).includes('/run')).length;

  before(async () => {
    t = await startApp();
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
    ids.trap = (await upload(t.app, 'trap')).id;
    ids.echo = (await upload(t.app, 'echo', wasiFixture('echo'))).id;
    ids.exit = (await upload(t.app, 'exit', wasiFixture('exit'))).id;
  });
  after(() => t.close());

  test('--help lists the commands, the environment and the exit codes', async () => {
    const { code, stdout } = await cli(['--help']);
    assert.equal(code, 0);
    for (const word of ['serve', 'modules', 'run', 'keys', 'config', 'doctor', 'WESS_URL', 'WESS_KEY', 'Exit codes:', '3  the server could not be reached', '5  wess doctor found damaged stored content']) {
      assert.ok(stdout.includes(word), `--help mentions ${word}`);
    }
  });

  test('upload prints the module; --json prints exactly the server document', async () => {
    const human = await cli(['modules', 'upload', 'test/fixtures/wasm/add.wasm']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^name:\s+add$/m, 'name defaults to the file name without .wasm');
    assert.match(human.stdout, /^exports:\s+add\(i32, i32\) -> i32$/m);
    ids.add = /^id:\s+(\S+)$/m.exec(human.stdout)?.[1] ?? '';

    const json = await cli(['--json', 'modules', 'upload', 'test/fixtures/wasm/add-i64.wasm', '--name', 'big']);
    assert.equal(json.code, 0, json.stderr);
    const made = JSON.parse(json.stdout) as { id: string; name: string };
    assert.equal(made.name, 'big');
    ids.big = made.id;
    const server = await t.app.inject({ url: `/modules/${made.id}` });
    const got = await cli(['modules', 'get', made.id, '--json']);
    assert.deepEqual(JSON.parse(got.stdout), server.json());
  });

  test('ls aligns its columns, and --all follows next_cursor to the end', async () => {
    const { stdout } = await cli(['modules', 'ls']);
    const [header, ...rows] = lines(stdout);
    assert.match(header ?? '', /^ID\s+NAME\s+VERSION\s+KIND\s+SIZE\s+EXPORTS\s+UPDATED$/);
    assert.equal(rows.length, 5);
    const nameAt = (header ?? '').indexOf('NAME');
    for (const row of rows) assert.match(row.slice(nameAt), /^(add|big|trap|echo|exit)\s/, row);

    const all = await cli(['modules', 'ls', '--limit', '2', '--all', '--json']);
    const page = JSON.parse(all.stdout) as { items: { id: string }[]; next_cursor: string | null };
    assert.equal(page.items.length, 5);
    assert.equal(new Set(page.items.map((m) => m.id)).size, 5);
    assert.equal(page.next_cursor, null);
  });

  test('run types the arguments by the signature and prints one result per line', async () => {
    const add = await cli(['run', ids.add as string, 'add', '2', '-5']);
    assert.deepEqual([add.code, add.stdout, add.stderr], [0, '-3\n', '']);
    // One export: the function may be left out; an i64 past 2^53 keeps every digit.
    const big = await cli(['run', ids.big as string, '9007199254740993', '1']);
    assert.deepEqual([big.code, big.stdout], [0, '9007199254740994\n']);
  });

  test('a bad argument is refused locally (exit 2) and nothing is sent', async () => {
    const before = runRequests();
    const bad = await cli(['run', ids.add as string, 'add', '1', '2.5']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.deepEqual(lines(bad.stderr), ['wess: add(i32, i32): args[1] (i32): "2.5" is not an integer']);
    const count = await cli(['run', ids.add as string, 'add', '1']);
    assert.equal(count.code, 2);
    assert.match(count.stderr, /takes 2 arguments \(i32, i32\), got 1/);
    assert.equal(runRequests(), before, 'no run request reached the server');
  });

  test('a trap exits 4 with one line; --json puts the server error body on stdout', async () => {
    const trap = await cli(['run', ids.trap as string, 'div', '1', '0']);
    assert.equal(trap.code, 4);
    assert.deepEqual(lines(trap.stderr), ['wess: WASM_TRAP: integer divide by zero (HTTP 422)']);
    const json = await cli(['--json', 'run', ids.trap as string, 'div', '1', '0']);
    assert.equal(json.code, 4);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'WASM_TRAP');
  });

  test('a WASI program gets our stdin, writes to our stdout and stderr, and sets the exit code', async () => {
    const echo = await cli(['run', ids.echo as string, '--stdin'], 'quiet please');
    assert.deepEqual([echo.code, echo.stdout], [0, 'QUIET PLEASE']);
    const exit = await cli(['run', ids.exit as string, '7']);
    assert.deepEqual([exit.code, exit.stdout, exit.stderr], [7, 'this line is on stdout\n', 'exiting with 7\n']);
  });

  test('rm removes the module; then get exits 1 with the server code on one line', async () => {
    const rm = await cli(['modules', 'rm', ids.add as string]);
    assert.deepEqual([rm.code, rm.stdout], [0, `removed module ${ids.add}\n`]);
    const gone = await cli(['modules', 'get', ids.add as string]);
    assert.equal(gone.code, 1);
    assert.deepEqual(lines(gone.stderr), [`wess: MODULE_NOT_FOUND: no module with id ${ids.add} (HTTP 404)`]);
  });

  test('an unreachable server exits 3 with one line', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const res = await wess(['modules', 'ls', '--url', url], { env: { WESS_KEY: TEST_ADMIN_KEY } });
    assert.equal(res.code, 3);
    assert.equal(res.stdout, '');
    assert.deepEqual(lines(res.stderr), [`wess: cannot reach ${url}: connection refused`]);
  });
});
