/*
 * The host's side of a metered module (metering.ts makes one): give an instance its fuel, read what is
 * left. Kept apart from the rewrite so that worker threads, which run metered modules but never meter
 * one, do not load the instruction decoder at every start (about 10% of a worker's start-up).
 */

/** The export name of the fuel counter (a suffix is added when a module already uses it). */
export const FUEL_EXPORT = '__wess_fuel';
/** The most fuel a run can be given: the counter is a signed 64-bit integer. */
export const MAX_FUEL = 2n ** 63n - 1n;

/** Sets the fuel of a metered instance (before its start export and its call). */
export function setFuel(instance: WebAssembly.Instance, fuel: bigint, fuelExport = FUEL_EXPORT): void {
  if (fuel < 0n || fuel > MAX_FUEL) throw new RangeError(`fuel must be in 0..${MAX_FUEL}, got ${fuel}`);
  fuelGlobal(instance, fuelExport).value = fuel;
}

/** The fuel a metered instance has left: negative once it ran out (then it trapped). */
export function fuelLeft(instance: WebAssembly.Instance, fuelExport = FUEL_EXPORT): bigint {
  const value = fuelGlobal(instance, fuelExport).value;
  if (typeof value !== 'bigint') throw new TypeError(`export ${fuelExport} is not an i64 global`);
  return value;
}

/** Fuel a run used, given what it was given and what was left (all of it when it ran out). */
export function fuelUsed(given: bigint, left: bigint): bigint {
  return given - (left > 0n ? left : 0n);
}

function fuelGlobal(instance: WebAssembly.Instance, fuelExport: string): WebAssembly.Global {
  const global = instance.exports[fuelExport];
  if (!(global instanceof WebAssembly.Global)) throw new TypeError(`the instance exports no fuel global ${fuelExport}`);
  return global;
}
