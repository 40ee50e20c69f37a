import type { FastifyInstance } from 'fastify';
import { wessError } from '../errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * True when JSON `text` nests arrays and objects deeper than `max`, found in one pass without
 * parsing: brackets inside strings do not count (a string is skipped to its closing quote, one
 * preceded by an even run of backslashes). Malformed text gives some answer; JSON.parse refuses it after.
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = closingQuote(text, i + 1);
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** Index of the quote that closes a string whose content starts at `from` (text.length when none does). */
function closingQuote(text: string, from: number): number {
  for (let at = from; ; ) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length;
    // Each backslash run is counted once, by the quote right after it: the scan stays linear.
    let backslashes = 0;
    for (let j = quote - 1; j >= at && text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

/**
 * Replaces Fastify's JSON body parser with one that refuses a body nested deeper than `maxDepth`
 * before parsing it: a body of a million `[` is cheap to send, and everything that walks the parsed
 * value (validation, error messages, serializers) would hold the main thread or run out of stack
 * on it. Parsing itself stays Fastify's (secure-json-parse, refusing __proto__ and constructor keys).
 */
export function registerJsonBody(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (nestedDeeperThan(text, maxDepth)) {
      done(wessError('VALIDATION', `body: JSON nested deeper than ${maxDepth} levels of arrays and objects (limits.max_json_depth)`, { limit: maxDepth }), undefined);
      return;
    }
    parse(request, text, done);
  });
}
