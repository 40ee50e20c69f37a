/**
 * The WebAssembly spec test suite's calls through the HTTP API (conformance.test.ts, and through two
 * nodes of one store in test/cluster/): every module uploaded over a real socket, every call answered
 * with the spec's result in the JSON the README promises (traps as 422 with the spec's trap text).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { conformanceCorpus } from './conformance-corpus.js';
import { authHeaders } from './helper.js';

interface Value { type: string; value: number | string }
interface Case { line: number; fn: string; args: Value[]; results?: Value[]; trap?: string }
interface CorpusFile { source: string; modules: { file: string; cases: Case[] }[] }
interface Answer { results?: unknown[]; stats?: { fuel_used?: unknown }; error?: { code: string; message: string } }

/**
 * The only trap texts Wess knowingly answers differently from the spec. V8 throws one message for a
 * call_indirect through a null table entry and through an entry of the wrong type, and the index is
 * gone by then; Wess answers the commoner of the two (src/runner/traps.ts). Three calls in the corpus.
 */
const TRAP_TEXT_EXCEPTIONS: readonly { spec: RegExp; wess: string }[] = [
  { spec: /^uninitialized element( \d+)?$/, wess: 'indirect call type mismatch' },
];

/** The trap text Wess promises where the spec expects `spec`. */
function wessTrapText(spec: string): string {
  return TRAP_TEXT_EXCEPTIONS.find((e) => e.spec.test(spec))?.wess ?? spec;
}

const corpus = conformanceCorpus();
export const CONCURRENCY = 16;

/**
 * Uploads every corpus module over a real socket to `upload` and makes every call on `call` (the same
 * server, or another node of the same store), with `fuel` when given; asserts every answer.
 */
export async function everyCall(upload: string, call: string, fuel: number | undefined, label = ''): Promise<void> {
  const dir = corpus.dir();
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, unknown>;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json').sort();
  const jobs: (() => Promise<void>)[] = [];
  const failures: string[] = [];
  let calls = 0, passed = 0, traps = 0, excepted = 0, modules = 0;
  for (const file of files) {
    const data = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CorpusFile;
    for (const mod of data.modules) {
      jobs.push(async () => {
        const bytes = readFileSync(join(dir, 'modules', mod.file));
        const created = await fetch(`${upload}/modules?name=${encodeURIComponent(mod.file)}`, {
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
          const res = await fetch(`${call}/modules/${body.id}/run`, {
            method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }),
            body: JSON.stringify({ function: c.fn, args: c.args.map((a) => a.value), fuel }),
          });
          const answer = (await res.json()) as Answer;
          let problem = c.trap === undefined ? checkResults(c, res.status, answer) : checkTrap(c.trap, res.status, answer);
          if (!problem && fuel !== undefined && c.trap === undefined) problem = checkFuel(answer);
          if (problem) failures.push(`${where}: ${problem}`);
          else passed++;
          if (c.trap !== undefined) {
            traps++;
            if (wessTrapText(c.trap) !== c.trap) excepted++;
          }
        }
      });
    }
  }
  await runAll(jobs, CONCURRENCY);
  const metered = fuel === undefined ? '' : ' metered';
  console.log(`conformance${metered}${label}: ${passed}/${calls} calls passed over ${modules} modules (${traps} traps: ${traps - excepted} must give the spec's exact text, ${excepted} the text of TRAP_TEXT_EXCEPTIONS); corpus index: ${Object.keys(index).length} entries`);
  assert.deepEqual(failures.slice(0, 25), [], `${failures.length} conformance failures`);
  assert.equal(calls, 19_470);
  assert.equal(excepted, 3, 'calls whose trap text is an exception');
  const live = await fetch(`${call}/health/live`);
  assert.equal(live.status, 200);
}

export async function runAll(jobs: (() => Promise<void>)[], concurrency: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) await (jobs[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** A metered call's stats carry the fuel it used: a positive integer. */
function checkFuel(answer: Answer): string | undefined {
  const used = answer.stats?.fuel_used;
  return typeof used === 'number' && Number.isInteger(used) && used > 0 ? undefined : `stats.fuel_used is ${JSON.stringify(used)}`;
}

function checkTrap(trap: string, status: number, answer: Answer): string | undefined {
  const text = wessTrapText(trap);
  if (status === 422 && answer.error?.code === 'WASM_TRAP' && answer.error.message === text) return undefined;
  return `expected trap "${text}", got ${status} ${JSON.stringify(answer)}`;
}

function checkResults(c: Case, status: number, answer: Answer): string | undefined {
  const expected = c.results ?? [];
  if (status !== 200 || !Array.isArray(answer.results)) return `expected ${JSON.stringify(expected)}, got ${status} ${JSON.stringify(answer)}`;
  if (answer.results.length !== expected.length) return `expected ${expected.length} results, got ${JSON.stringify(answer.results)}`;
  for (const [i, want] of expected.entries()) {
    if (!Object.is(answer.results[i], promised(want))) return `result ${i}: expected ${want.type} ${JSON.stringify(promised(want))}, got ${JSON.stringify(answer.results[i])}`;
  }
  return undefined;
}

/**
 * The JSON value the API promises for a corpus result, compared with Object.is, so the type counts
 * as much as the value: i32 a signed integer number, i64 a signed decimal string, f32/f64 a number
 * except "Infinity", "-Infinity", "-0" and "NaN" (any NaN result: payloads are not compared).
 */
function promised(want: Value): number | string {
  const { type, value } = want;
  if (type === 'i32') {
    assert.ok(typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31, `corpus i32 ${value}`);
    return value;
  }
  if (type === 'i64') {
    assert.ok(typeof value === 'string' && BigInt.asIntN(64, BigInt(value)).toString() === value, `corpus i64 ${value}`);
    return value;
  }
  assert.ok(type === 'f32' || type === 'f64', `corpus result type ${type}`);
  if (typeof value === 'string') {
    if (/^-?NaN/.test(value)) return 'NaN';
    assert.ok(value === 'Infinity' || value === '-Infinity' || value === '-0', `corpus ${type} ${value}`);
    return value;
  }
  // The corpus writes an f32 as the double it converts to exactly, and so must the answer.
  assert.ok(type === 'f64' || Math.fround(value) === value, `corpus f32 ${value} is not an f32`);
  return value;
}
