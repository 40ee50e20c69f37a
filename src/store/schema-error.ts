/** Why the store's schema could not be read or brought up to date; the message says what to do. */
export class SchemaError extends Error {
  constructor(
    message: string,
    /** The database could not be reached at all (exit 3 rather than 1). */
    readonly unreachable = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SchemaError';
  }
}
