import { InvalidArgumentError } from 'commander';

/** A commander argument parser for a positive whole number; anything else is a usage error (exit 2). */
export function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError(`${what} must be a positive whole number`);
    return Number(value);
  };
}

/** A commander argument parser for a whole number, 0 included. */
export function wholeNumber(what: string) {
  return (value: string): number => {
    if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${what} must be a whole number`);
    return Number(value);
  };
}
