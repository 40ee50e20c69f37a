/**
 * The spec conformance corpus with metering on: every module metered, every call made on a fresh
 * metered instance with a large fuel budget, every answer and trap the same as without metering;
 * and no bad module turned into one the engine accepts. Finds the corpus at WESS_CONFORMANCE_DIR
 * or ../shared/conformance; without it, skips loudly, or fails under CI.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from '../../src/wasm/binary.js';
import { meter, type Metered } from '../../src/wasm/metering.js';
import { argsForBridge, bridgeModuleBytes, needsBridge } from '../../src/wasm/nan-bridge.js';
import type { FunctionExport } from '../../src/wasm/types.js';
import { encodeResults, parseArgs } from '../../src/wasm/values.js';
import { conformanceCorpus } from '../conformance-corpus.js';
import { ROOT } from '../helper.js';
import { errorOf, instantiateMetered, LARGE_FUEL, outcome, type Fn, type Outcome } from './metering-helpers.js';

interface Case { line: number; fn: string; args: { type: string; value: unknown }[]; results?: { type: string; value: unknown }[]; trap?: string }
interface Script { source: string; modules: { file: string; cases: Case[] }[] }

const corpus = conformanceCorpus();

/** One call the way the runner makes it (parseArgs, NaN bridge, encodeResults), on `instance`. */
function call(instance: WebAssembly.Instance, sig: FunctionExport, json: unknown[]): (number | string)[] {
  const target = instance.exports[sig.name] as Fn;
  const args = parseArgs(sig.params, json, { maxArgs: 32 }); // the corpus has one 17-argument call
  let raw: unknown;
  if (needsBridge(args)) {
    const bridge = new WebAssembly.Module(bridgeModuleBytes(sig.params, sig.results));
    raw = (new WebAssembly.Instance(bridge, { m: { f: target } }).exports.f as Fn)(...argsForBridge(sig.params, args));
  } else {
    raw = target(...args);
  }
  const list = sig.results.length === 1 ? [raw] : sig.results.length === 0 ? [] : (raw as unknown[]);
  return encodeResults(sig.results, list as (number | bigint)[]);
}

/** The call on a fresh metered instance: start export, then the export. */
function meteredCall(metered: Metered, module: WebAssembly.Module, sig: FunctionExport, json: unknown[]): Outcome {
  const instance = instantiateMetered(metered, LARGE_FUEL, module);
  return outcome(() => {
    if (metered.startExport !== null) (instance.exports[metered.startExport] as Fn)();
    return call(instance, sig, json);
  }, instance, metered, LARGE_FUEL);
}

function plainError(module: WebAssembly.Module, sig: FunctionExport, json: unknown[]): { name: string; message: string } | undefined {
  try {
    call(new WebAssembly.Instance(module), sig, json);
    return undefined;
  } catch (err) {
    return errorOf(err);
  }
}

describe('metering: spec conformance corpus', () => {
  it('every spec call gives the same answer metered, with the same fuel twice, and every trap stays a trap with fuel left', corpus.options, () => {
    const dir = corpus.dir();
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json').sort();
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { cases: number }[];
    const expected = index.reduce((sum, entry) => sum + entry.cases, 0);
    let calls = 0, traps = 0, totalFuel = 0n;
    for (const script of scripts) {
      const { modules } = JSON.parse(readFileSync(join(dir, script), 'utf8')) as Script;
      for (const { file, cases } of modules) {
        const bytes = new Uint8Array(readFileSync(join(dir, 'modules', file)));
        const plain = new WebAssembly.Module(bytes);
        const metered = meter(bytes);
        const compiled = new WebAssembly.Module(metered.bytes);
        const sigs = new Map(inspect(bytes).exports.map((e) => [e.name, e]));
        for (const c of cases) {
          const sig = sigs.get(c.fn);
          assert.ok(sig !== undefined, `${file}: no export ${c.fn}`);
          const json = c.args.map((a) => a.value);
          const where = `${script} line ${c.line}: ${c.fn}(${JSON.stringify(json)})`;
          const ran = meteredCall(metered, compiled, sig, json);
          if (c.trap !== undefined) {
            assert.ok(ran.error !== undefined, `${where}: expected a trap (${c.trap}), got ${JSON.stringify(ran.value)}`);
            assert.deepEqual(ran.error, plainError(plain, sig, json), `${where}: not the unmetered trap`);
            assert.ok(ran.left >= 0n, `${where}: a spec trap reported as running out of fuel`);
            traps++;
          } else {
            assert.equal(ran.error, undefined, `${where}: ${ran.error?.message}`);
            assert.deepEqual(ran.value, (c.results ?? []).map((r) => r.value), where);
          }
          assert.ok(ran.used > 0n, `${where}: used no fuel`);
          assert.equal(meteredCall(metered, compiled, sig, json).used, ran.used, `${where}: fuel differs between two runs`);
          totalFuel += ran.used;
          calls++;
        }
      }
    }
    assert.equal(calls, expected, `index.json lists ${expected} calls, ${calls} ran`);
    console.log(`metering conformance: ${calls} calls (${traps} traps) gave the unmetered answers; ${totalFuel} fuel in all`);
  });

  it('meter() never turns a bad module into one the engine accepts', corpus.options, () => {
    const bad = join(corpus.dir(), 'bad');
    let threw = 0, refused = 0;
    for (const file of readdirSync(bad).filter((f) => f.endsWith('.wasm')).sort()) {
      const bytes = new Uint8Array(readFileSync(join(bad, file)));
      let out: Uint8Array;
      try {
        out = meter(bytes).bytes;
      } catch (err) {
        assert.equal((err as { code?: unknown }).code, 'INVALID_WASM', `${file}: ${String(err)}`);
        threw++;
        continue;
      }
      if (!WebAssembly.validate(out)) refused++;
      else assert.ok(WebAssembly.validate(bytes), `${file}: the engine refuses it, but accepts it metered`);
    }
    assert.ok(threw + refused > 1300, `only ${threw + refused} bad modules checked`);
    console.log(`metering bad modules: ${threw} refused by meter() with INVALID_WASM, ${refused} metered and still refused by the engine`);
  });
});

// Toolchain output (C, Rust, AssemblyScript through WASI) beside the corpus, when this clone has it.
const WASI_SUITE = [process.env.WESS_WASI_TESTSUITE_DIR, new URL('../shared/wasi-testsuite/tests', ROOT).pathname]
  .filter((d): d is string => d !== undefined && existsSync(d))[0];

function* wasmFiles(root: string): Generator<string> {
  for (const entry of readdirSync(root)) {
    const path = join(root, entry);
    if (statSync(path).isDirectory()) yield* wasmFiles(path);
    else if (entry.endsWith('.wasm')) yield path;
  }
}

describe('metering: toolchain output', () => {
  it('every WASI test-suite program meters into a module the engine accepts', { skip: WASI_SUITE === undefined ? 'no wasi-testsuite beside the repo' : false }, () => {
    let programs = 0;
    for (const path of wasmFiles(WASI_SUITE ?? '')) {
      const bytes = new Uint8Array(readFileSync(path));
      if (!WebAssembly.validate(bytes)) continue;
      assert.ok(WebAssembly.validate(meter(bytes).bytes), path);
      programs++;
    }
    assert.ok(programs > 0, 'no program found');
  });
});
