import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, hasErrorCode } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { admitModule } from '../../src/modules/admission.js';
import type { Runner } from '../../src/runner/pool.js';
import { CompileCache } from '../../src/runner/compile-cache.js';
import { inspect } from '../../src/wasm/binary.js';
import { argsForBridge, bridgeModuleBytes, needsBridge } from '../../src/wasm/nan-bridge.js';
import type { FunctionExport } from '../../src/wasm/types.js';
import { encodeResults, parseArgs } from '../../src/wasm/values.js';
import { conformanceCorpus } from '../conformance-corpus.js';

// The spec-derived corpus lives outside the repo (DESIGN.md, "Spec conformance"); see its README.
const corpus = conformanceCorpus();
const MAX_ARGS = 10;
/** The config defaults (limits.max_module_size, runner.max_memory): what an upload is admitted under. */
const LIMITS = { maxModuleSize: 2 * 1024 * 1024, maxMemoryPages: 4096, maxTableElements: 1_000_000 };
/**
 * Bad modules our own section reader refuses before V8 sees them (measured: 541 of 1,389; V8 refuses
 * the rest at admission). Fewer would mean inspect has started accepting what it used to catch.
 */
const INSPECT_REFUSES_AT_LEAST = 541;

function wasmFiles(dir: string): string[] {
  const names = readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort();
  assert.ok(names.length > 0, `no .wasm files in ${dir}`);
  return names;
}

/** A runner for admitModule that compiles the way the real one does (capMemory, exposeMemory, V8), without workers. */
function compilingRunner(): Runner {
  const cache = new CompileCache(1, LIMITS.maxTableElements, createMetrics());
  return {
    compile: async (sha256: string, bytes: Uint8Array, maxPages = LIMITS.maxMemoryPages) => ({ module: (await cache.compile(sha256, bytes, { maxPages, metered: false })).compiled.module, cached: false }),
  } as unknown as Runner;
}

interface Case {
  line: number;
  fn: string;
  args: { type: string; value: unknown }[];
  results?: { type: string; value: unknown }[];
  trap?: string;
}
interface Script {
  source: string;
  modules: { file: string; cases: Case[] }[];
}

type Fn = (...args: unknown[]) => unknown;

/** One call the way the runner makes it: JSON args → parseArgs → (bridge if NaN bits) → encodeResults. */
function call(module: WebAssembly.Module, sig: FunctionExport, json: unknown[]): (number | string)[] {
  const exports = new WebAssembly.Instance(module).exports;
  const target = exports[sig.name] as Fn;
  const args = parseArgs(sig.params, json, { maxArgs: MAX_ARGS });
  let raw: unknown;
  if (needsBridge(args)) {
    const bridge = new WebAssembly.Module(bridgeModuleBytes(sig.params, sig.results));
    const f = new WebAssembly.Instance(bridge, { m: { f: target } }).exports.f as Fn;
    raw = f(...argsForBridge(sig.params, args));
  } else {
    raw = target(...args);
  }
  const list = sig.results.length === 1 ? [raw] : sig.results.length === 0 ? [] : (raw as unknown[]);
  return encodeResults(sig.results, list as (number | bigint)[]);
}

describe('conformance corpus', () => {
  it('inspect lists the same function exports, in the same order, as the engine', corpus.options, () => {
    const modules = join(corpus.dir(), 'modules');
    const names = wasmFiles(modules);
    for (const name of names) {
      const bytes = new Uint8Array(readFileSync(join(modules, name)));
      const engine = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).filter((e) => e.kind === 'function');
      assert.deepEqual(inspect(bytes).exports.map((e) => e.name), engine.map((e) => e.name), name);
    }
    assert.equal(names.length, 540);
  });

  it('admission refuses every bad module with a coded 400; inspect refuses its share and throws nothing but INVALID_WASM', corpus.options, async () => {
    const bad = join(corpus.dir(), 'bad');
    const names = wasmFiles(bad);
    const runner = compilingRunner();
    const codes = new Map<string, number>();
    let inspectRefused = 0;
    for (const name of names) {
      const bytes = new Uint8Array(readFileSync(join(bad, name)));
      try {
        inspect(bytes);
      } catch (err) {
        assert.equal((err as { code?: unknown }).code, 'INVALID_WASM', `${name}: inspect threw ${String(err)}`);
        inspectRefused++;
      }
      const refusal = await admitModule(bytes, runner, LIMITS).then(
        () => assert.fail(`${name}: admitted a module the spec calls malformed or invalid`),
        (err: unknown) => err,
      );
      assert.ok(hasErrorCode(refusal) && ERROR_CODES[refusal.code].status === 400 && refusal.message !== '', `${name}: refused with ${String(refusal)}`);
      codes.set(refusal.code, (codes.get(refusal.code) ?? 0) + 1);
    }
    console.log(`bad modules: ${names.length} refused at admission (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}), ${inspectRefused} already by inspect`);
    assert.equal(names.length, 1_389);
    assert.ok(inspectRefused >= INSPECT_REFUSES_AT_LEAST, `inspect refused ${inspectRefused} bad modules, fewer than ${INSPECT_REFUSES_AT_LEAST}`);
  });

  it('every spec call gives the spec answer through parseArgs, the NaN bridge and encodeResults', corpus.options, () => {
    const dir = corpus.dir();
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json');
    let calls = 0;
    const overLimit: string[] = [];
    for (const script of scripts) {
      const { modules } = JSON.parse(readFileSync(join(dir, script), 'utf8')) as Script;
      for (const { file, cases } of modules) {
        const bytes = new Uint8Array(readFileSync(join(dir, 'modules', file)));
        const compiled = new WebAssembly.Module(bytes);
        const sigs = new Map(inspect(bytes).exports.map((e) => [e.name, e]));
        for (const c of cases) {
          const sig = sigs.get(c.fn);
          assert.ok(sig !== undefined, `${file}: no export ${c.fn}`);
          assert.deepEqual(sig.params, c.args.map((a) => a.type), `${file} line ${c.line}: params`);
          const json = c.args.map((a) => a.value);
          const where = `${script} line ${c.line}: ${c.fn}(${JSON.stringify(json)})`;
          if (json.length > MAX_ARGS) {
            // DESIGN.md caps calls at 10 args; the corpus has one that takes 17 (func.wast "large-sig").
            assert.throws(() => call(compiled, sig, json), (e: unknown) => (e as { code?: unknown }).code === 'INVALID_ARGUMENT', where);
            overLimit.push(where);
          } else if (c.trap !== undefined) {
            assert.throws(() => call(compiled, sig, json), (e: unknown) => (e as { code?: unknown }).code === undefined, where);
          } else {
            assert.deepEqual(call(compiled, sig, json), (c.results ?? []).map((r) => r.value), where);
          }
          calls++;
        }
      }
    }
    assert.ok(calls > 19_000, `only ${calls} calls ran`);
    if (overLimit.length > 0) console.warn(`refused ${overLimit.length} spec call(s) over max_args=${MAX_ARGS}: ${overLimit.join('; ')}`);
  });
});
