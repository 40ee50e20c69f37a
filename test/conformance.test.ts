/**
 * The WebAssembly spec test suite, through the HTTP API: every module uploaded over a real
 * socket, every call answered with the spec's result in the JSON the README promises (traps as 422
 * with the spec's trap text), every bad module refused with a 400. conformance-corpus.ts finds the
 * corpus and says what happens without one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { conformanceCorpus } from './conformance-corpus.js';
import { everyCall, runAll, CONCURRENCY } from './conformance-calls.js';
import { authHeaders, listen, startApp, type TestApp } from './helper.js';

const corpus = conformanceCorpus();

describe('spec conformance through HTTP', () => {
  let t: TestApp | undefined;
  let base: string;
  before(async () => {
    if (corpus.options.skip) return; // every test below is skipped
    t = await startApp({ limits: { max_args: 32 }, log: { level: 'warn' } });
    base = await listen(t.app);
  });
  after(async () => t?.close());

  test('every call gives the spec answer', corpus.options, async () => {
    await everyCall(base, base, undefined);
  });

  // Metering rewrites every function body (src/wasm/metering.ts): the same answers, traps and texts.
  test('every call gives the spec answer metered, with the fuel it used in stats', corpus.options, async () => {
    await everyCall(base, base, 1e12);
  });

  test('every bad module is refused with a 400', corpus.options, async () => {
    const dir = corpus.dir();
    const bad = JSON.parse(readFileSync(join(dir, 'bad', 'index.json'), 'utf8')) as { file: string; kind: string; text: string }[];
    const failures: string[] = [];
    const codes = new Map<string, number>();
    await runAll(bad.map((entry) => async () => {
      const res = await fetch(`${base}/modules?name=bad`, {
        method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: readFileSync(join(dir, 'bad', entry.file)),
      });
      const body = (await res.json()) as { error?: { code: string; message: string } };
      const code = body.error?.code ?? 'none';
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (res.status !== 400 || !body.error?.message) failures.push(`${entry.file} (${entry.kind}: ${entry.text}): ${res.status} ${JSON.stringify(body)}`);
    }), CONCURRENCY);
    console.log(`conformance: ${bad.length - failures.length}/${bad.length} bad modules refused with 400 (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')})`);
    assert.deepEqual(failures.slice(0, 25), [], `${failures.length} bad modules not refused`);
    assert.equal(bad.length, 1_389);
    const list = await fetch(`${base}/health/live`);
    assert.equal(list.status, 200);
  });
});
