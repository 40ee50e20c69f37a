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
    assert.match(header ?? '', /^ID\s+NAME\s+TENANT\s+VERSION\s+KIND\s+SIZE\s+EXPORTS\s+UPDATED$/);
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

  test('a WASI program gets our stdin, writes to our stdout and stderr; --exit-code exits with its code', async () => {
    const echo = await cli(['run', ids.echo as string, '--stdin'], 'quiet please');
    assert.deepEqual([echo.code, echo.stdout], [0, 'QUIET PLEASE']);
    const exit = await cli(['run', '--exit-code', ids.exit as string, '7']);
    assert.deepEqual([exit.code, exit.stdout, exit.stderr], [7, 'this line is on stdout\n', 'exiting with 7\n']);
  });

  test('regression (issue 15, item 18): a WASI exit code never passes for one of wess\'s own', async () => {
    // By default wess keeps to its own table: a program's 3 is not "unreachable" but 6, with the code named.
    const three = await cli(['run', ids.exit as string, '3']);
    assert.deepEqual([three.code, three.stdout], [6, 'this line is on stdout\n']);
    assert.deepEqual(lines(three.stderr), ['exiting with 3', 'wess: the program exited with code 3']);
    const zero = await cli(['run', ids.exit as string, '0']);
    assert.equal(zero.code, 0);
    const json = await cli(['--json', 'run', ids.exit as string, '2']);
    assert.equal(json.code, 6);
    assert.equal((JSON.parse(json.stdout) as { exit_code: number }).exit_code, 2);

    // --exit-code: the program's code, and wess's own failures out of its way (125, a trap 126).
    assert.equal((await cli(['run', '--exit-code', ids.exit as string, '3'])).code, 3);
    assert.equal((await cli(['run', '--exit-code', ids.exit as string, '300'])).code, 255, 'a code past 255 does not wrap to success');
    const unreachable = await wess(['run', '--exit-code', ids.exit as string, '3', '--url', `http://127.0.0.1:${await closedPort()}`], { env: { WESS_KEY: TEST_ADMIN_KEY } });
    assert.equal(unreachable.code, 125);
    assert.match(unreachable.stderr, /cannot reach/);
    const usage = await cli(['run', '--exit-code', '--timeout', 'soon', ids.exit as string]);
    assert.equal(usage.code, 125);
    const trap = await cli(['run', '--exit-code', ids.trap as string, 'div', '1', '0']);
    assert.equal(trap.code, 126);
    assert.deepEqual(lines(trap.stderr), ['wess: WASM_TRAP: integer divide by zero (HTTP 422)']);
    // After --, --exit-code is the program's argument, not wess's flag.
    const asArg = await cli(['run', '--timeout', 'soon', ids.exit as string, '--', '--exit-code']);
    assert.equal(asArg.code, 2, asArg.stderr);
  });

  test('regression (issue 15, item 18): run ID sub 1 2 on a module without sub says there is no function sub', async () => {
    const before = runRequests();
    const sub = await cli(['run', ids.add as string, 'sub', '1', '2']);
    assert.equal(sub.code, 2);
    assert.deepEqual(lines(sub.stderr), [`wess: module ${ids.add} exports no function "sub"; it exports add`]);
    assert.equal(runRequests(), before, 'nothing was sent');
    // The only function may still be left out, and a bad first argument is still named as one.
    assert.deepEqual([(await cli(['run', ids.add as string, '2', '3'])).stdout], ['5\n']);
    assert.match((await cli(['run', ids.add as string, '2.5', '3'])).stderr, /args\[0\] \(i32\): "2\.5" is not an integer/);
    // The server says the same to a client that sends it anyway.
    const server = await t.app.inject({ method: 'POST', url: `/modules/${ids.add}/run`, payload: { function: 'sub', args: [1, 2] } });
    assert.equal(server.statusCode, 400);
    assert.equal((server.json() as { error: { code: string } }).error.code, 'UNKNOWN_FUNCTION');
  });

  test('regression (issue 15, item 18): modules get lists several exports one a line, with no stray ":" lines', async () => {
    const got = await cli(['modules', 'get', ids.trap as string]);
    assert.equal(got.code, 0, got.stderr);
    const all = lines(got.stdout);
    const at = all.findIndex((line) => line.startsWith('exports:'));
    const exported = (await t.app.inject({ url: `/modules/${ids.trap}` })).json() as { exports: unknown[] };
    assert.ok(exported.exports.length > 1, 'the fixture exports several functions');
    const block = all.slice(at, at + exported.exports.length);
    const column = (block[0] ?? '').indexOf('exports:') + 'exports:'.length;
    for (const line of all) assert.doesNotMatch(line, /^\s*:/, 'no line is a bare ":"');
    for (const line of block.slice(1)) {
      assert.match(line, /^\s+\S+\(.*\)/, `a continuation line holds one signature: ${JSON.stringify(line)}`);
      assert.ok(line.search(/\S/) > column, 'the signatures line up under the first');
    }
    assert.match(all[at + exported.exports.length] ?? '', /^created:/);
  });

  test('regression (issue 15, item 18): an admin\'s modules ls has a TENANT column', async () => {
    const made = await cli(['--json', 'modules', 'upload', 'test/fixtures/wasm/add.wasm', '--name', 'acme-add', '--tenant', 'acme']);
    assert.equal(made.code, 0, made.stderr);
    const id = (JSON.parse(made.stdout) as { id: string }).id;
    const { stdout } = await cli(['modules', 'ls']);
    const [header, ...rows] = lines(stdout);
    const at = (header ?? '').indexOf('TENANT');
    assert.ok(at > 0, header);
    const row = rows.find((r) => r.startsWith(id));
    assert.match(row?.slice(at) ?? '', /^acme\s/, row);
    for (const other of rows.filter((r) => !r.startsWith(id))) assert.match(other.slice(at), /^default\s/, other);
    assert.equal((await cli(['modules', 'rm', id])).code, 0);
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
