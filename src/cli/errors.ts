/**
 * The exit codes `wess` promises to scripts, and the one error type its commands throw.
 * Server error codes (src/errors.ts) pass through as `code`; the CLI adds its own few below.
 */
export const EXIT = {
  /** The command did what it was asked. */
  OK: 0,
  /** The server answered with an error (4xx/5xx other than a guest failure). */
  REFUSED: 1,
  /** Bad usage, a bad argument caught before sending, or an invalid config file. */
  USAGE: 2,
  /** No answer: connection refused, DNS failure, TLS failure, not a Wess server. */
  UNREACHABLE: 3,
  /** The guest trapped or ran past its deadline (WASM_TRAP, EXECUTION_TIMEOUT). */
  GUEST_FAILED: 4,
  /** `wess doctor` found damaged stored content. */
  DAMAGED: 5,
  /** A WASI program run by `wess run` exited with a code other than 0 (the line on stderr names it). */
  PROGRAM_FAILED: 6,
} as const;

/**
 * `wess run --exit-code` exits with the WASI program's own code, so its own failures need codes a
 * program rarely uses: the convention of `docker run`, `env` and `timeout`.
 */
export const PASS_THROUGH_EXIT = {
  /** wess or the server failed: usage, unreachable, refused. */
  WESS_FAILED: 125,
  /** The program did not run to an exit: it trapped or ran past its deadline. */
  GUEST_FAILED: 126,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Codes the CLI raises itself, beside the server's (which arrive as strings in `code`). */
export type CliErrorCode = 'USAGE' | 'INVALID_ARGUMENT' | 'CONFIG_INVALID' | 'UNREACHABLE' | 'BAD_RESPONSE' | 'IO' | 'STORE';

/** A failure that ends the command: printed as one line on stderr, then `exit` is the process's code. */
export class CliError extends Error {
  constructor(
    readonly code: CliErrorCode | string,
    message: string,
    readonly exit: number,
    /** The server's JSON error body, printed on stdout with --json. */
    readonly body?: unknown,
    /** The HTTP status the server answered with, when there was an answer. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Builds a CliError; the one way CLI code reports a failure. */
export function cliError(code: CliErrorCode | string, message: string, exit: number, extra: { body?: unknown; status?: number } = {}): CliError {
  return new CliError(code, message, exit, extra.body, extra.status);
}

/** Server codes that mean "the guest failed", not "the request was refused". */
const GUEST_CODES = new Set(['WASM_TRAP', 'EXECUTION_TIMEOUT']);

/** The exit code for a server error code. */
export function exitForServerCode(code: string): number {
  return GUEST_CODES.has(code) ? EXIT.GUEST_FAILED : EXIT.REFUSED;
}

/** One line, whatever the message held: newlines would break "one error, one line" for scripts. */
export function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, '; ');
}

/** The text `wess --help` ends with; the README's table says the same. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  the server refused or failed the request (an HTTP error; the line names its code)
  2  usage error, an argument refused before sending, or an invalid config
  3  the server could not be reached
  4  the guest trapped or timed out (WASM_TRAP, EXECUTION_TIMEOUT)
  5  wess doctor found damaged stored content
  6  a WASI program run with \`wess run\` exited with a non-zero code (the last line on stderr says which)
  With \`wess run --exit-code\`, wess exits with the WASI program's own code instead, and its own
  failures exit 125 (usage, unreachable, refused) or 126 (the program trapped or timed out).`;
