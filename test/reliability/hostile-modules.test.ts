/**
 * Reliability suite 3 (issue 7), hostile modules: generated modules (fast-check: random bytes, truncated
 * valid modules, valid modules with mutated bytes) and the classic bombs (endless loops in a function
 * and in the start section, a memory-growth loop, huge memory, deep recursion, a 2 MiB function body,
 * deep nesting, tables and globals at the limits, thousands of exports), uploaded and run over HTTP.
 * Zero 5xx, zero crashes, every refusal a 4xx with its code. The memory page cap holds: an initial
 * memory above it is refused at upload, a declared maximum above it is lowered to it, and memory.grow
 * past it fails. The 2 MiB modules are within max_module_size, so they must be accepted and run. The
 * 1,389 bad modules of the conformance corpus are run by test/conformance.test.ts (each must answer 400).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { authHeaders, listen, ROOT, startApp, type TestApp } from '../helper.js';
import { record } from './results.js';
import { buildModule, CALL_SELF, I32, LOOP_FOREVER, repeat } from './wasm-builder.js';

const RUNS = Number(process.env.WESS_FUZZ_RUNS ?? 300);
/** Each call's deadline (timeout_ms): short, as the loop bombs and looping mutants all run into it. */
const TIMEOUT_MS = 1000;
/**
 * The runner's limit, and the deadline of the 2 MiB modules' first runs: those compile 2 MiB of code
 * in the worker first (~0.4 s for the nested one on an idle machine), which must not fail on a busy one.
 */
const LONG_TIMEOUT_MS = 10_000;
/** runner.max_memory in 64 KiB pages: small, so growing to it page by page takes milliseconds. */
const CAP_PAGES = 512;
const PAGE_BYTES = 65536;
const REFUSALS = new Set(['INVALID_WASM', 'VALIDATION', 'FORBIDDEN_IMPORT', 'MEMORY_LIMIT', 'PAYLOAD_TOO_LARGE']);

const FIXTURES = fileURLToPath(new URL('test/fixtures/wasm/', ROOT));
const VALID = readdirSync(FIXTURES).filter((f) => f.endsWith('.wasm')).map((f) => readFileSync(`${FIXTURES}${f}`));

interface Export {
  name: string;
  params: string[];
}

/** The memory as the upload answer states Wess enforces it. */
type Memory = { min_pages: number; max_pages: number } | null;

const LOCAL_GET = 0x20;
const MEMORY_GROW = [0x40, 0x00];
/** `grow(n)`: memory.grow's answer, the old size in pages or -1 when refused. */
const GROW = { params: [I32], results: [I32], code: [LOCAL_GET, 0, ...MEMORY_GROW], export: 'grow' };
const GROW_EXPORT: Export = { name: 'grow', params: ['i32'] };

describe('reliability: hostile modules', { timeout: 600_000 }, () => {
  let t: TestApp;
  let base: string;
  const tally = { uploads: 0, accepted: 0, refused: 0, runs: 0, status5xx: [] as string[] };
  const figures: Record<string, number> = {};

  before(async () => {
    t = await startApp({ server: { workers: 2 }, runner: { timeout: LONG_TIMEOUT_MS, max_memory: CAP_PAGES * PAGE_BYTES } });
    base = await listen(t.app);
  });
  after(async () => {
    await t.close();
    record('hostile-modules', { uploads: tally.uploads, accepted: tally.accepted, refused_4xx: tally.refused, runs: tally.runs, status_5xx: tally.status5xx.length, fuzz_runs_per_generator: RUNS, ...figures });
  });

  /** The last refusal's error, for tests that check what a refusal says. */
  let refusal: { code: string; message: string; details?: Record<string, unknown> } | undefined;

  /** Uploads `bytes`; a refusal must be a 4xx with an admission code. Returns the module, if accepted. */
  async function uploadHostile(bytes: Uint8Array, what: string): Promise<{ id: string; exports: Export[]; memory: Memory; ms: number } | undefined> {
    tally.uploads++;
    const started = performance.now();
    const res = await fetch(`${base}/modules?name=hostile`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: bytes });
    const ms = performance.now() - started;
    const body = (await res.json()) as { id: string; exports: Export[]; memory: Memory; error?: NonNullable<typeof refusal> };
    if (res.status >= 500) tally.status5xx.push(`${res.status} uploading ${what}: ${JSON.stringify(body)}`);
    assert.ok(res.status < 500, `${what}: upload answered ${res.status} ${JSON.stringify(body)}`);
    if (res.status === 201) {
      tally.accepted++;
      return { id: body.id, exports: body.exports, memory: body.memory, ms };
    }
    tally.refused++;
    refusal = body.error;
    assert.ok(REFUSALS.has(body.error?.code ?? ''), `${what}: refused with ${res.status} ${body.error?.code}`);
    return undefined;
  }

  /** Runs an export (with zeros, or `args`); never a 5xx. Returns the status, error code, results and memory at the end. */
  async function runHostile(id: string, fn: Export, what: string, args: number[] = fn.params.map(() => 0), timeoutMs = TIMEOUT_MS): Promise<{ status: number; code?: string; results?: number[]; pages?: number | null }> {
    tally.runs++;
    const res = await fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: fn.name, args, timeout_ms: timeoutMs }) });
    const body = (await res.json()) as { results?: number[]; stats?: { memory_pages: number | null }; error?: { code: string } };
    if (res.status >= 500 && res.status !== 503) tally.status5xx.push(`${res.status} running ${what}.${fn.name}: ${JSON.stringify(body)}`);
    assert.ok(res.status < 500, `${what}.${fn.name}: run answered ${res.status} ${JSON.stringify(body)}`);
    if (res.status !== 200) return { status: res.status, code: body.error?.code };
    return { status: res.status, results: body.results, pages: body.stats?.memory_pages };
  }

  async function uploadAndRun(bytes: Uint8Array, what: string): Promise<void> {
    const accepted = await uploadHostile(bytes, what);
    for (const fn of accepted?.exports.slice(0, 3) ?? []) await runHostile(accepted?.id ?? '', fn, what);
  }

  test(`random bytes, truncated and mutated valid modules (${RUNS} each)`, async () => {
    const magic = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, withHeader) => {
      await uploadAndRun(withHeader ? Buffer.concat([magic, bytes]) : bytes, 'random bytes');
    }), { numRuns: RUNS });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...VALID), fc.double({ min: 0, max: 1, noNaN: true }), async (module, at) => {
      await uploadAndRun(module.subarray(0, Math.floor(module.length * at)), 'truncated module');
    }), { numRuns: RUNS });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (module, flips) => {
      const mutated = Buffer.from(module);
      // Past the 8-byte header: a mutated preamble only tests the magic check again.
      for (const [at, value] of flips) mutated[8 + (at % Math.max(1, mutated.length - 8))] = value;
      await uploadAndRun(mutated, 'mutated module');
    }), { numRuns: RUNS });
    assert.deepEqual(tally.status5xx, []);
  });

  test('endless loops, in a function and in the start section, end at the deadline as 408', async () => {
    const loop = await uploadHostile(buildModule({ funcs: [{ params: [], results: [], code: LOOP_FOREVER, export: 'spin' }] }), 'loop');
    assert.ok(loop);
    const ran = await runHostile(loop.id, { name: 'spin', params: [] }, 'loop');
    assert.deepEqual(ran, { status: 408, code: 'EXECUTION_TIMEOUT' });
    const start = buildModule({ funcs: [{ params: [], results: [], code: LOOP_FOREVER }, { params: [], results: [I32], code: [0x41, 0x07], export: 'f' }], start: 0 });
    const starting = await uploadHostile(start, 'start loop');
    assert.ok(starting, 'a start function that loops is only found out by running it');
    assert.deepEqual(await runHostile(starting.id, { name: 'f', params: [] }, 'start loop'), { status: 408, code: 'EXECUTION_TIMEOUT' });
  });

  test(`the page cap (${CAP_PAGES} pages): a growth loop stops at it, memory.grow past it fails, an initial memory past it is refused`, async () => {
    const grow = await uploadHostile(readFileSync(`${FIXTURES}grow-loop.wasm`), 'grow loop');
    assert.ok(grow);
    assert.deepEqual(grow.memory, { min_pages: 1, max_pages: CAP_PAGES }, 'no declared maximum: the cap is its maximum');
    // It grows a page at a time until memory.grow fails, then answers memory.size: exactly the cap.
    const grown = await runHostile(grow.id, { name: 'grow_all', params: [] }, 'grow loop');
    assert.deepEqual(grown, { status: 200, results: [CAP_PAGES], pages: CAP_PAGES }, 'the growth loop ends at the cap');

    // A declared maximum above the cap is lowered to it; growing to the cap works, one page past fails.
    const declared = await uploadHostile(buildModule({ funcs: [GROW], memory: { min: 1, max: 65536 } }), 'maximum past the cap');
    assert.ok(declared);
    assert.deepEqual(declared.memory, { min_pages: 1, max_pages: CAP_PAGES }, 'a maximum of 65,536 pages is capped');
    assert.deepEqual(await runHostile(declared.id, GROW_EXPORT, 'maximum past the cap', [CAP_PAGES - 1]), { status: 200, results: [1], pages: CAP_PAGES });
    assert.deepEqual(await runHostile(declared.id, GROW_EXPORT, 'maximum past the cap', [CAP_PAGES]), { status: 200, results: [-1], pages: 1 }, 'memory.grow past the cap fails');

    // Initial memory: the cap itself is allowed, one page more is refused before compiling, saying both.
    assert.ok(await uploadHostile(buildModule({ funcs: [GROW], memory: { min: CAP_PAGES } }), 'initial memory at the cap'));
    assert.equal(await uploadHostile(buildModule({ funcs: [GROW], memory: { min: CAP_PAGES + 1 } }), 'initial memory past the cap'), undefined);
    assert.equal(refusal?.code, 'MEMORY_LIMIT');
    assert.equal(refusal?.details?.requested_pages, CAP_PAGES + 1);
    assert.equal(refusal?.details?.allowed_pages, CAP_PAGES);
    const huge = await uploadHostile(buildModule({ funcs: [{ params: [], results: [], code: [], export: 'f' }], memory: { min: 65536 } }), 'huge memory');
    assert.equal(huge, undefined, '4 GiB of initial memory is refused at upload');
    assert.equal(refusal?.code, 'MEMORY_LIMIT');
    figures.cap_pages = CAP_PAGES;
    figures.grow_loop_stopped_at_pages = grown.results?.[0] ?? 0;
  });

  test('deep recursion traps as a 4xx', async () => {
    const recurse = await uploadHostile(buildModule({ funcs: [{ params: [], results: [], code: CALL_SELF(0), export: 'down' }] }), 'recursion');
    assert.ok(recurse);
    const ran = await runHostile(recurse.id, { name: 'down', params: [] }, 'recursion');
    assert.equal(ran.code, 'WASM_TRAP');
  });

  test('a 2 MiB function body and 2 MiB of nesting: compile bounded, runs end', async () => {
    const drops = Math.floor((2 * 1024 * 1024 - 200) / 3);
    const flat = buildModule({ funcs: [{ params: [], results: [], code: repeat([0x41, 0x00, 0x1a], drops), export: 'flat' }] });
    const depth = Math.floor((2 * 1024 * 1024 - 200) / 3);
    const nested = buildModule({ funcs: [{ params: [], results: [], code: Buffer.concat([repeat([0x02, 0x40], depth), repeat([0x0b], depth)]), export: 'nested' }] });
    const timings: Record<string, number> = {};
    for (const [what, bytes] of [['flat', flat], ['nested', nested]] as const) {
      // Both are under max_module_size (2 MiB): refusing them would be refusing valid modules.
      const accepted = await uploadHostile(bytes, `2 MiB ${what}`);
      assert.ok(accepted, `the 2 MiB ${what} module (${bytes.length} bytes) is valid and within max_module_size: ${JSON.stringify(refusal)}`);
      timings[`${what}_upload_ms`] = Math.round(accepted.ms);
      // Bounded: the upload (validation and compile) of the largest accepted module takes seconds at most.
      assert.ok(accepted.ms < 5000, `uploading the 2 MiB ${what} module took ${Math.round(accepted.ms)} ms`);
      const started = performance.now();
      const ran = await runHostile(accepted.id, { name: what, params: [] }, `2 MiB ${what}`, [], LONG_TIMEOUT_MS);
      timings[`${what}_first_run_ms`] = Math.round(performance.now() - started);
      assert.equal(ran.status, 200, `2 MiB ${what} runs to its end: ${JSON.stringify(ran)}`);
    }
    record('hostile-modules-2mib', { flat_bytes: flat.length, nested_bytes: nested.length, ...timings });
  });

  test('tables, globals and exports at the limits', async () => {
    const bigTable = await uploadHostile(buildModule({ funcs: [{ params: [], results: [], code: [], export: 'f' }], table: { min: 10_000_000 } }), 'big table');
    if (bigTable) {
      // Each instance allocates the whole table (80 MB). As many at once as the pool has workers (2):
      // more would queue behind them and, on a loaded machine, pass the wait limit (2 × timeout) and
      // answer 503, which is the overload suite's subject, not this one's.
      const calls = await Promise.all(Array.from({ length: 2 }, () => runHostile(bigTable.id, { name: 'f', params: [] }, 'big table')));
      for (const call of calls) assert.ok(call.status < 500);
    }
    const globals = await uploadHostile(buildModule({ funcs: [{ params: [], results: [], code: [], export: 'f' }], globals: 100_000 }), 'many globals');
    if (globals) await runHostile(globals.id, { name: 'f', params: [] }, 'many globals');
    const funcs = Array.from({ length: 10_000 }, (_, i) => ({ params: [], results: [I32], code: [0x41, ...[i & 0x3f]], export: `f${i}` }));
    const exportsMany = await uploadHostile(buildModule({ funcs }), 'many exports');
    assert.ok(exportsMany, '10,000 exports are a valid module');
    assert.equal(exportsMany.exports.length, 10_000);
    assert.equal((await runHostile(exportsMany.id, { name: 'f9999', params: [] }, 'many exports')).status, 200);
    const health = await fetch(`${base}/health/ready`);
    assert.equal(health.status, 200, 'still serving');
    assert.deepEqual(tally.status5xx, []);
  });
});
