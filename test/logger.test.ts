import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { LazyRequestLogger, LineWriter, PIPE_BUF, loggerOptions, writeAccessLine } from '../src/logger.js';

function tempFd(): { fd: number; path: string } {
  const path = join(mkdtempSync(join(tmpdir(), 'wess-log-')), 'out.log');
  return { fd: openSync(path, 'w'), path };
}

const flushed = (writer: LineWriter) => new Promise<void>((resolve) => writer.flush(() => resolve()));

test('LineWriter writes every line, in order, once flushed', async () => {
  const { fd, path } = tempFd();
  const writer = new LineWriter(fd);
  const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i}}\n`);
  for (const line of lines) writer.write(line);
  await flushed(writer);
  writer.write('{"n":"last"}\n');
  await flushed(writer);
  closeSync(fd);
  assert.equal(readFileSync(path, 'utf8'), `${lines.join('')}{"n":"last"}\n`);
});

test('LineWriter drops (and then reports) lines past its bound instead of growing without limit', async () => {
  const { fd, path } = tempFd();
  const writer = new LineWriter(fd);
  const line = `${'x'.repeat(1024 * 1024 - 1)}\n`;
  // 20 MiB queued within one turn (no write can have started): past the 16 MiB bound.
  for (let i = 0; i < 20; i++) writer.write(line);
  await flushed(writer);
  closeSync(fd);
  const out = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  assert.equal(out.filter((l) => l.startsWith('x')).length, 16);
  const note = JSON.parse(out.at(-1) as string) as { dropped: number; msg: string };
  assert.equal(note.dropped, 4);
  assert.match(note.msg, /dropped/);
});

test('LineWriter with atomicBytes writes every line in order, a line longer than the bound included', async () => {
  const { fd, path } = tempFd();
  const writer = new LineWriter(fd, 64);
  const lines = Array.from({ length: 200 }, (_, i) => (i === 7 ? `{"long":"${'é'.repeat(100)}"}\n` : `{"n":${i}}\n`));
  for (const line of lines) writer.write(line);
  await flushed(writer);
  closeSync(fd);
  assert.equal(readFileSync(path, 'utf8'), lines.join(''));
});

/** Runs `count` processes that each write `lines` JSON lines through a LineWriter(1, atomicBytes) to one stdout pipe. */
function sharedPipe(count: number, lines: number, atomicBytes: number): Promise<string> {
  const logger = new URL('../src/logger.js', import.meta.url).href;
  const script = `const { LineWriter } = await import(${JSON.stringify(logger)});
    const w = new LineWriter(1, ${atomicBytes === Infinity ? 'Infinity' : atomicBytes});
    const pad = 'x'.repeat(300);
    for (let i = 0; i < ${lines}; i++) w.write(JSON.stringify({ pid: process.pid, i, pad }) + '\\n');
    await new Promise((resolve) => w.flush(resolve));`;
  // One pipe for all of them, as the workers of a cluster share the primary's stdout.
  const run = `"$NODE" --input-type=module -e "$SCRIPT" &`;
  const child = spawn('sh', ['-c', `${Array(count).fill(run).join(' ')} wait`], { env: { ...process.env, NODE: process.execPath, SCRIPT: script }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return new Promise((resolve) => child.on('close', () => resolve(out)));
}

test('processes sharing one stdout pipe (the workers of server.processes) never split each other\'s lines', async () => {
  const out = await sharedPipe(4, 20_000, PIPE_BUF);
  const lines = out.split('\n').filter(Boolean);
  assert.equal(lines.length, 4 * 20_000);
  const perProcess = new Map<number, number>();
  for (const line of lines) {
    const { pid, i } = JSON.parse(line) as { pid: number; i: number };
    assert.equal(i, perProcess.get(pid) ?? 0, 'each process\'s lines in order');
    perProcess.set(pid, i + 1);
  }
  assert.equal(perProcess.size, 4);
});

test('writeAccessLine writes the same document pino writes for the access line, field for field', () => {
  const lines: string[] = [];
  const sink = { write: (line: string) => (lines.push(line), true) };
  const logger = pino(loggerOptions('info'), sink);
  const cases = [
    { requestId: 'f3a1c2d4-0000-4000-8000-000000000001', method: 'POST', url: '/modules/x/run?version=2&q="\\é\n', status: 200, ms: 0.37, moduleId: 'm-1', keyId: 'k1' },
    { requestId: 'req:1', method: 'GET', url: '/health', status: 503, ms: 12, moduleId: undefined, keyId: undefined },
    // A key in the URL is redacted on both paths alike.
    { requestId: 'req:2', method: 'GET', url: '/modules?api_key=wess_abcd_0123456789abcdefghijKLMN', status: 401, ms: 1, moduleId: undefined, keyId: undefined },
  ];
  for (const f of cases) {
    writeAccessLine(logger, f);
    logger.child({ request_id: f.requestId }).info({ method: f.method, url: f.url, status: f.status, ms: f.ms, module_id: f.moduleId, key_id: f.keyId }, 'request');
    const [ours, theirs] = lines.splice(0).map((line) => {
      assert.ok(line.endsWith('\n'), 'one line each');
      const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
      assert.match(String(time), /^\d{4}-\d\d-\d\dT/);
      return rest;
    });
    assert.deepEqual(Object.entries(ours ?? {}), Object.entries(theirs ?? {}), 'same fields, same order, same values');
  }
  logger.level = 'warn';
  writeAccessLine(logger, cases[1] as (typeof cases)[number]);
  assert.deepEqual(lines, [], 'nothing below the level');
});

test('LazyRequestLogger: a request logger becomes a pino child only when a line is written through it', () => {
  const lines: string[] = [];
  const parent = pino(loggerOptions('info'), { write: (line: string) => (lines.push(line), true) });
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((...args: Parameters<typeof child>) => (children++, child(...args))) as typeof parent.child;
  const log = LazyRequestLogger.factory(parent, { request_id: 'r-1' }, {});
  log.debug({ a: 1 }, 'below the level');
  log.trace('below the level');
  assert.equal(log.isLevelEnabled('debug'), false);
  assert.equal(log.level, 'info');
  assert.equal(children, 0, 'nothing written, no child built');
  log.warn({ b: 2 }, 'written');
  log.info('again');
  assert.equal(children, 1, 'built once, on the first line');
  const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(first?.request_id, 'r-1');
  assert.equal(first?.b, 2);
  assert.equal(first?.msg, 'written');
  assert.equal(second?.request_id, 'r-1');
  assert.equal(lines.length, 2);
  // A level set on the request logger applies to it alone.
  log.level = 'debug';
  log.debug('now written');
  assert.equal(lines.length, 3);
  assert.equal(parent.level, 'info');
});
