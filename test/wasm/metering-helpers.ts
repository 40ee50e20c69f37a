import { Worker } from 'node:worker_threads';
import { fuelLeft, fuelUsed, setFuel, type Metered } from '../../src/wasm/metering.js';

export type Fn = (...args: unknown[]) => unknown;

/** A generous budget: no conformance call comes near it. */
export const LARGE_FUEL = 10n ** 15n;

/** What a run did: its value or its error, and the fuel it left and used. */
export interface Outcome {
  value?: unknown;
  error?: { name: string; message: string };
  left: bigint;
  used: bigint;
}

/** Instantiates a metered module the way the worker will: set the fuel, then run the start export. */
export function instantiateMetered(metered: Metered, fuel: bigint, module = new WebAssembly.Module(metered.bytes)): WebAssembly.Instance {
  const instance = new WebAssembly.Instance(module);
  setFuel(instance, fuel, metered.fuelExport);
  return instance;
}

/** Runs `fn` on a fresh metered instance (start export first) with `fuel`; never throws. */
export function runMetered(metered: Metered, fn: string, args: unknown[], fuel = LARGE_FUEL, module?: WebAssembly.Module): Outcome {
  const instance = instantiateMetered(metered, fuel, module);
  return outcome(() => {
    if (metered.startExport !== null) (instance.exports[metered.startExport] as Fn)();
    return (instance.exports[fn] as Fn)(...args);
  }, instance, metered, fuel);
}

export function outcome(body: () => unknown, instance: WebAssembly.Instance, metered: Metered, fuel: bigint): Outcome {
  const read = (): { left: bigint; used: bigint } => {
    const left = fuelLeft(instance, metered.fuelExport);
    return { left, used: fuelUsed(fuel, left) };
  };
  try {
    const value = body();
    return { value, ...read() };
  } catch (err) {
    return { error: errorOf(err), ...read() };
  }
}

/** Runs `fn` on a fresh instance of the original module; the value or the error. */
export function runPlain(bytes: Uint8Array, fn: string, args: unknown[]): { value?: unknown; error?: { name: string; message: string } } {
  try {
    return { value: (new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports[fn] as Fn)(...args) };
  } catch (err) {
    return { error: errorOf(err) };
  }
}

export function errorOf(err: unknown): { name: string; message: string } {
  const e = err as { name?: unknown; message?: unknown };
  return { name: String(e.name), message: String(e.message) };
}

// The worker side of runGuarded: the runtime protocol, without imports from the project.
const GUARDED = `
const { parentPort, workerData: d } = require('node:worker_threads');
const instance = new WebAssembly.Instance(new WebAssembly.Module(d.bytes));
const fuel = instance.exports[d.fuelExport];
fuel.value = d.fuel;
let error;
try {
  if (d.startExport !== null) instance.exports[d.startExport]();
  instance.exports[d.fn]();
} catch (e) {
  error = { name: e.name, message: e.message };
}
parentPort.postMessage({ error, left: fuel.value });
`;

/**
 * Runs `fn` of a metered module (no arguments) in a worker that is ended after `ms`: a metering
 * bug that lets a loop run on fails the test ('timeout') instead of hanging the whole run.
 */
export function runGuarded(metered: Metered, fn: string, fuel: bigint, ms = 10_000): Promise<Outcome | 'timeout'> {
  const { bytes, fuelExport, startExport } = metered;
  const worker = new Worker(GUARDED, { eval: true, workerData: { bytes, fuelExport, startExport, fn, fuel } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void worker.terminate().then(() => resolve('timeout')), ms);
    worker.once('message', (m: { error?: Outcome['error']; left: bigint }) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve({ ...m, used: fuelUsed(fuel, m.left) });
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
