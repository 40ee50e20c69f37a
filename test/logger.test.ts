import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LineWriter } from '../src/logger.js';

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
