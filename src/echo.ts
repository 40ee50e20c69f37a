/*
 * How error messages and their details quote what a client sent. A client chooses the size of what
 * it sends (a 2,000,000-digit argument, a megabyte-long field name, an export name as long as its
 * module) and an error that echoed it whole would be as large, and cost the server as much to build.
 * Everything here is bounded by ECHO_CHARS, whatever the input, and never recurses deeper than that.
 */

import type { z } from 'zod';

/** Characters of a client's value that an error quotes before cutting it short. */
export const ECHO_CHARS = 64;

/** `text` when it is short; else its first `max` characters, "…" and its length. */
export function clip(text: string, max = ECHO_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/**
 * A client's value for an error message: JSON-like (strings quoted, `-0` kept), at most ECHO_CHARS
 * characters of it, then "…" and how long the whole was: `"1234…" (2000000 characters)`, or the
 * items of an array.
 */
export function echo(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= ECHO_CHARS) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, ECHO_CHARS)).slice(0, -1)}…" (${value.length} characters)`;
  }
  const text = sketch(value, ECHO_CHARS);
  if (text.length <= ECHO_CHARS) return text;
  return `${text.slice(0, ECHO_CHARS)}…${Array.isArray(value) ? ` (${value.length} items)` : ''}`;
}

/** A client's value for an error's `details`: as it is when it is short, else echo's text of it. */
export function echoValue(value: unknown): unknown {
  if (typeof value === 'string') return value.length <= ECHO_CHARS ? value : echo(value);
  if (value === undefined || typeof value === 'bigint') return echo(value);
  return sketch(value, ECHO_CHARS).length <= ECHO_CHARS ? value : echo(value);
}

/**
 * Names a client chose (fields, keys, export names), each clipped, at most `max` of them, then how
 * many more there were.
 */
export function listNames(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).map(echo);
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

/** Problems a validation error lists; more are counted. */
const LISTED_PROBLEMS = 10;

/**
 * zod's issues as `where.path: message` lines (`whole: message` for the value itself): at most
 * LISTED_PROBLEMS of them (a body can hold a million bad items), path parts and unknown field names
 * clipped (a field name can be a megabyte).
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], where: string, whole = where): string[] {
  const problems = issues.slice(0, LISTED_PROBLEMS).map((issue) => {
    const parts = issue.path.map((part) => clip(String(part)));
    const path = parts.length === 0 ? whole : [...(where ? [where] : []), ...parts].join('.');
    return issue.code === 'unrecognized_keys' ? `${path}: unknown field(s) ${listNames(issue.keys)}` : `${path}: ${issue.message}`;
  });
  if (issues.length > LISTED_PROBLEMS) problems.push(`and ${issues.length - LISTED_PROBLEMS} more problems`);
  return problems;
}

/**
 * JSON-like text of `value`, stopping once it is longer than `room`: each level of nesting writes
 * a character before it goes deeper and gets less room, so depth is bounded by `room` too.
 */
function sketch(value: unknown, room: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > room ? value.slice(0, room) : value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? sketchArray(value, room) : sketchObject(value as Record<string, unknown>, room);
    default:
      return typeof value;
  }
}

function sketchArray(items: readonly unknown[], room: number): string {
  let text = '[';
  for (let i = 0; i < items.length && text.length <= room; i++) text += (i > 0 ? ',' : '') + sketch(items[i], room - text.length);
  return `${text}]`;
}

function sketchObject(object: Record<string, unknown>, room: number): string {
  let text = '{';
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    if (text.length > room) break;
    text += `${text.length > 1 ? ',' : ''}${sketch(key, room - text.length)}:`;
    text += sketch(object[key], room - text.length);
  }
  return `${text}}`;
}
