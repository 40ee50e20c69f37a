/**
 * The WebAssembly spec test suite, through the HTTP API: every module uploaded over a real
 * socket, every call answered with the spec's result (traps as 422), every bad module refused with
 * a 400. conformance-corpus.ts finds the corpus and says what happens without one.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { conformanceCorpus } from './conformance-corpus.js';
import { authHeaders, listen, startApp, type TestApp } from './helper.js';

interface Value { type: string; value: number | string }
interface Case { line: number; fn: string; args: Value[]; results?: Value[]; trap?: string }
interface CorpusFile { source: string; modules: { file: string; cases: Case[] }[] }

const corpus = conformanceCorpus();
const CONCURRENCY = 16;

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
    const dir = corpus.dir();
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, unknown>;
    const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json').sort();
    const jobs: (() => Promise<void>)[] = [];
    const failures: string[] = [];
    let calls = 0, passed = 0, traps = 0, trapTextMatches = 0, modules = 0;
    for (const file of files) {
      const data = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CorpusFile;
      for (const mod of data.modules) {
        jobs.push(async () => {
          const bytes = readFileSync(join(dir, 'modules', mod.file));
          const created = await fetch(`${base}/modules?name=${encodeURIComponent(mod.file)}`, {
            method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: bytes,
          });
          const body = (await created.json()) as { id: string };
          if (created.status !== 201) {
            failures.push(`${mod.file}: upload answered ${created.status} ${JSON.stringify(body)}`);
            calls += mod.cases.length;
            return;
          }
          modules++;
          for (const c of mod.cases) {
            calls++;
            const where = `${data.source}:${c.line} ${mod.file} ${c.fn}`;
            const res = await fetch(`${base}/modules/${body.id}/run`, {
              method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }),
              body: JSON.stringify({ function: c.fn, args: c.args.map((a) => a.value) }),
            });
            const answer = (await res.json()) as { results?: unknown[]; error?: { code: string; message: string } };
            const problem = c.trap === undefined ? checkResults(c, res.status, answer) : checkTrap(c, res.status, answer);
            if (problem) failures.push(`${where}: ${problem}`);
            else passed++;
            if (c.trap !== undefined && res.status === 422) {
              traps++;
              if (answer.error?.message === c.trap) trapTextMatches++;
            }
          }
        });
      }
    }
    await runAll(jobs, CONCURRENCY);
    console.log(`conformance: ${passed}/${calls} calls passed over ${modules} modules (${traps} traps, ${trapTextMatches} with the spec's exact trap text); corpus index: ${Object.keys(index).length} entries`);
    assert.deepEqual(failures.slice(0, 25), [], `${failures.length} conformance failures`);
    assert.equal(calls, 19_470);
    const live = await fetch(`${base}/health/live`);
    assert.equal(live.status, 200);
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

async function runAll(jobs: (() => Promise<void>)[], concurrency: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) await (jobs[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

function checkTrap(c: Case, status: number, answer: { error?: { code: string } }): string | undefined {
  if (status === 422 && answer.error?.code === 'WASM_TRAP') return undefined;
  return `expected trap "${c.trap}", got ${status} ${JSON.stringify(answer)}`;
}

function checkResults(c: Case, status: number, answer: { results?: unknown[] }): string | undefined {
  const expected = c.results ?? [];
  if (status !== 200 || !Array.isArray(answer.results)) return `expected ${JSON.stringify(expected)}, got ${status} ${JSON.stringify(answer)}`;
  if (answer.results.length !== expected.length) return `expected ${expected.length} results, got ${JSON.stringify(answer.results)}`;
  for (const [i, want] of expected.entries()) {
    if (!sameValue(want, answer.results[i])) return `result ${i}: expected ${want.type} ${JSON.stringify(want.value)}, got ${JSON.stringify(answer.results[i])}`;
  }
  return undefined;
}

function toFloat(value: unknown): number {
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  if (value === '-0') return -0;
  if (typeof value === 'string' && /^-?NaN/.test(value)) return NaN;
  return typeof value === 'number' ? value : Number.NaN - 1;
}

function sameValue(want: Value, got: unknown): boolean {
  switch (want.type) {
    case 'i32':
      return typeof got === 'number' && (Number(want.value) | 0) === (got | 0);
    case 'i64':
      return typeof got === 'string' && BigInt.asUintN(64, BigInt(want.value)) === BigInt.asUintN(64, BigInt(got));
    case 'f32':
    case 'f64': {
      const expected = toFloat(want.value);
      if (Number.isNaN(expected)) return got === 'NaN';
      const wanted = want.type === 'f32' ? Math.fround(expected) : expected;
      // The contract: finite values other than -0 are JSON numbers; -0 and the infinities are strings.
      const mustBeString = !Number.isFinite(wanted) || Object.is(wanted, -0);
      return Object.is(wanted, toFloat(got)) && (typeof got === 'string') === mustBeString;
    }
    default:
      return false;
  }
}
