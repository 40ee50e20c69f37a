import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import { wholeNumber } from '../args.js';
import type { CliContext, CliDeps } from '../context.js';
import { EXIT, cliError } from '../errors.js';

/** One Server-Sent Event as the stream framed it. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Server-Sent Events from a byte stream, by the WHATWG rules a Wess stream needs: `id`, `event` and
 * `data` fields, a blank line ends an event, comments (`: heartbeat`) and `retry` are skipped.
 */
export async function* sseEvents(stream: AsyncIterable<Buffer | string>): AsyncGenerator<SseEvent> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  for await (const chunk of stream) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let end: number;
    while ((end = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, end).replace(/\r$/, '');
      pending = pending.slice(end + 1);
      if (line === '') {
        if (data.length > 0) yield { id, event: event || 'message', data: data.join('\n') };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
  }
}

/** The event's JSON data, or the text itself when it is not JSON. */
function parsed(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

/**
 * `7  2026-…  module.updated  6f1c…  version 2`, or `8  2026-…  job.succeeded  6f1c…  job 0193…  attempts 1`:
 * one line per event, for people.
 */
function eventLine(event: SseEvent): string {
  const data = parsed(event.data);
  if (typeof data !== 'object' || data === null) return [event.id ?? '-', event.event, String(data)].join('  ');
  const { at, module_id: moduleId, module, id, version, attempts } = data as Record<string, unknown>;
  const parts = [event.id ?? '-', String(at ?? '-'), event.event, String(moduleId ?? module ?? '-')];
  if (version !== undefined) parts.push(`version ${String(version)}`);
  if (event.event.startsWith('job.')) parts.push(`job ${String(id)}`, `attempts ${String(attempts)}`);
  return parts.join('  ');
}

async function follow(ctx: CliContext, query: { module?: string }, since: number | undefined): Promise<never> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (since !== undefined) headers['last-event-id'] = String(since);
  const res = await ctx.client.stream('/events', { query, headers });
  try {
    for await (const event of sseEvents(res)) {
      if (ctx.json) ctx.out.document({ id: event.id ?? null, event: event.event, data: parsed(event.data) });
      else ctx.out.line(eventLine(event));
    }
  } catch {
    // The connection broke: reported below like an ended stream.
  }
  throw cliError('UNREACHABLE', `the event stream from ${ctx.url} ended (the server is shutting down, or the key was revoked)`, EXIT.UNREACHABLE);
}

/** Registers `wess events`: follows GET /events until Ctrl-C. */
export function registerEventsCommand(program: Command, deps: CliDeps): void {
  program
    .command('events')
    .description(
      'follow module changes (GET /events) and print one line per event until Ctrl-C; with --json one JSON ' +
        'document per line, {"id", "event", "data"}. Exits 3 if the server ends the stream.',
    )
    .option('--module <id>', "only this module's events")
    .option('--since <id>', 'first replay the events after this event id (as Last-Event-ID; 0: every event the server still keeps)', wholeNumber('--since'))
    .action(
      deps.action(async (ctx, command) => {
        const opts = command.opts<{ module?: string; since?: number }>();
        return follow(ctx, { module: opts.module }, opts.since);
      }),
    );
}
