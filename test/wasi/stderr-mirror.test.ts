/** The stderr mirror: what a process wrote on stderr, readable from another thread while (or after) it runs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputSink, StderrMirror } from '../../src/wasi/output.js';

const text = (s: string) => Buffer.from(s, 'utf8');

test('a sink with a mirror copies every write into it; the mirror keeps its first bytes and says when it dropped some', () => {
  const mirror = StderrMirror.create(8);
  const sink = new OutputSink(1024, mirror);
  assert.deepEqual(StderrMirror.read(mirror), { bytes: new Uint8Array(0), truncated: false });
  sink.write(text('abc'), 0, 3);
  assert.equal(Buffer.from(StderrMirror.read(mirror).bytes).toString(), 'abc');
  sink.write(text('xxdefghij'), 2, 7);
  const read = StderrMirror.read(mirror);
  assert.equal(Buffer.from(read.bytes).toString(), 'abcdefgh');
  assert.equal(read.truncated, true);
  // The sink itself keeps all of it, under its own cap.
  assert.equal(Buffer.from(sink.bytes()).toString(), 'abcdefghij');
});

test('a new sink on a used mirror starts it empty (a re-run call writes it again)', () => {
  const mirror = StderrMirror.create(8);
  new OutputSink(1024, mirror).write(text('first run'), 0, 9);
  const again = new OutputSink(1024, mirror);
  assert.deepEqual(StderrMirror.read(mirror), { bytes: new Uint8Array(0), truncated: false });
  again.write(text('2nd'), 0, 3);
  assert.equal(Buffer.from(StderrMirror.read(mirror).bytes).toString(), '2nd');
});
