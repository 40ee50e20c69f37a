/**
 * Live targets for fuzzing every route of the OpenAPI document (the hostile-requests suite), and the
 * tally of what each route answered. A fuzzed request only tests a handler if it reaches it: a module
 * route needs a module that exists, /keys/{id} a key, /versions/{version} a version the module has,
 * and a DELETE that succeeds must not take the others' target with it.
 */
import type { WessApp } from '../../src/app.js';
import { makeKey, upload, wasiFixture } from '../helper.js';
import { buildModule, I32 } from './wasm-builder.js';

/** One operation of the document. */
export interface Route {
  method: string;
  /** The path as the document writes it (`/modules/{id}/run`): the route's name in the tally. */
  template: string;
  /** What the fuzzed bodies are sent as: JSON where the route reads it, else its first listed type. */
  contentType: string;
  /** The document lists parameters or a body for it: fuzzed input can change what it does. */
  takesInput: boolean;
}

/** The part of an OpenAPI document routesOf reads. */
export type OpenApi = { paths: Record<string, Record<string, { parameters?: unknown[]; requestBody?: { content: Record<string, unknown> } }>> };

/** Every operation of the document, with the content type its bodies are sent as. */
export function routesOf(doc: OpenApi): Route[] {
  return Object.entries(doc.paths).flatMap(([template, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const types = Object.keys(operation.requestBody?.content ?? {});
      return {
        method: method.toUpperCase(),
        template,
        contentType: types.includes('application/json') ? 'application/json' : (types[0] ?? 'application/json'),
        takesInput: (operation.parameters?.length ?? 0) > 0 || operation.requestBody !== undefined,
      };
    }),
  );
}

export const nameOf = (route: Route): string => `${route.method} ${route.template}`;

const LOCAL_GET = 0x20;
/**
 * The fuzzed module: `add` and `div` over two i32. `div` traps on a zero divisor and on
 * -2147483648 / -1, so well-formed calls answer 200 and some 422: the runner's real work.
 */
export const FUZZ_TARGET = buildModule({
  funcs: [
    { params: [I32, I32], results: [I32], code: [LOCAL_GET, 0, LOCAL_GET, 1, 0x6a], export: 'add' },
    { params: [I32, I32], results: [I32], code: [LOCAL_GET, 0, LOCAL_GET, 1, 0x6d], export: 'div' },
  ],
});

/**
 * Path parameters of the right kind for each route: the live module (two versions, so version 1 is
 * not the current one and a rollback has somewhere to go) and a live key, or for a DELETE a spare
 * module or key of its own, replaced once a DELETE has used it up.
 */
/** What the fuzzed routes act on besides the module and the key: a handler route, a job and a schedule, and the handler's path. */
interface Others {
  route: string;
  /** The WASI module the handler routes run. */
  handler: string;
  job: string;
  schedule: string;
}

/** The path every fuzzed /h/ request goes to: the handler route's (`/fuzz`), of the default tenant. */
const HANDLER_PATH = '/fuzz';

export class Targets {
  #spareModule: string | undefined;
  #spareKey: string | undefined;
  #spareRoute: string | undefined;
  #spareSchedule: string | undefined;
  #spares = 0;

  private constructor(private readonly app: WessApp, readonly module: string, readonly key: string, private readonly others: Others) {}

  static async create(app: WessApp): Promise<Targets> {
    const module = (await upload(app, 'fuzz-target', FUZZ_TARGET)).id;
    const again = await app.inject({ method: 'PUT', url: `/modules/${module}`, headers: { 'content-type': 'application/wasm' }, payload: FUZZ_TARGET });
    if (again.statusCode !== 200) throw new Error(`second version of the fuzz target: ${again.statusCode} ${again.body}`);
    const key = (await makeKey(app, { name: 'fuzz-target', role: 'runner' })).id;
    const handler = (await upload(app, 'fuzz-handler', wasiFixture('http-hello'))).id;
    const route = await made(app, 'POST', '/routes', { path: HANDLER_PATH, module: handler });
    // Queued far ahead of nothing: it runs, ends and stays, so every job route finds it (a cancel or retry then answers 409, not 404).
    const job = await made(app, 'POST', `/modules/${module}/jobs`, { function: 'add', args: [1, 2] });
    const schedule = await made(app, 'POST', `/modules/${module}/schedules`, scheduleBody());
    return new Targets(app, module, key, { route, handler, job, schedule });
  }

  /** Spare modules and keys made for DELETE routes so far. */
  get spares(): number {
    return this.#spares;
  }

  /** A path for `route` whose parameters exist right now. */
  async path(route: Route): Promise<string> {
    const { template } = route;
    if (template.startsWith('/h/')) return template.replace('{*}', `default${HANDLER_PATH}`);
    return template.replace('{id}', await this.#id(route)).replace('{version}', '1');
  }

  async #id(route: Route): Promise<string> {
    const family = route.template.split('/')[1];
    const deleting = route.method === 'DELETE';
    switch (family) {
      case 'keys':
        return deleting ? (this.#spareKey ??= await this.#spare(() => makeKey(this.app, { name: 'spare', role: 'runner' }))) : this.key;
      case 'routes':
        return deleting ? (this.#spareRoute ??= await this.#spare(async () => ({ id: await made(this.app, 'POST', '/routes', { path: `/spare-${this.#spares}`, module: this.others.handler }) }))) : this.others.route;
      case 'schedules':
        return deleting ? (this.#spareSchedule ??= await this.#spare(async () => ({ id: await made(this.app, 'POST', `/modules/${this.module}/schedules`, scheduleBody()) }))) : this.others.schedule;
      case 'jobs':
        // A delete of an ended job is refused (409): one job serves every job route.
        return this.others.job;
      default:
        return deleting ? (this.#spareModule ??= await this.#spare(() => upload(this.app, 'spare', FUZZ_TARGET))) : this.module;
    }
  }

  /** Notes an answer: a DELETE that succeeded used up its spare. */
  answered(route: Route, status: number): void {
    if (route.method !== 'DELETE' || status < 200 || status >= 300) return;
    const family = route.template.split('/')[1];
    if (family === 'keys') this.#spareKey = undefined;
    else if (family === 'routes') this.#spareRoute = undefined;
    else if (family === 'schedules') this.#spareSchedule = undefined;
    else if (family === 'modules') this.#spareModule = undefined;
  }

  async #spare(make: () => Promise<{ id: string }>): Promise<string> {
    this.#spares++;
    return (await make()).id;
  }
}

/** A schedule of the fuzz target that fires once a year: it exists, and adds no jobs while the suite runs. */
function scheduleBody(): Record<string, unknown> {
  return { cron: '0 0 1 1 *', function: 'add', args: [1, 2] };
}

/** POSTs `payload` as the test admin and returns the id of what it made; fails unless 201 or 202. */
async function made(app: WessApp, method: 'POST', url: string, payload: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method, url, payload });
  if (res.statusCode !== 201 && res.statusCode !== 202) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

/** An answer's status, or `closed`: the server closed the connection without one. */
export type Outcome = number | 'closed';

/** What the server answered, in all and per fuzzed route; a 5xx is kept with its request. */
export class Tally {
  readonly all = new Map<string, number>();
  readonly byRoute = new Map<string, Map<string, number>>();
  /** Milliseconds spent on each route's requests, answer bodies read. */
  readonly msByRoute = new Map<string, number>();
  readonly failures: string[] = [];
  sent = 0;

  see(outcome: Outcome, what: string, route?: Route, ms = 0): void {
    this.sent++;
    bump(this.all, String(outcome));
    if (route) {
      const name = nameOf(route);
      const counts = this.byRoute.get(name) ?? new Map<string, number>();
      this.byRoute.set(name, counts);
      bump(counts, String(outcome));
      this.msByRoute.set(name, (this.msByRoute.get(name) ?? 0) + ms);
    }
    if (typeof outcome === 'number' && outcome >= 500) this.failures.push(`${outcome} for ${what}`);
  }

  /** Per route: requests, the share that reached the handler (answered, not 404), mean time and the statuses. */
  table(): RouteRow[] {
    return [...this.byRoute].map(([route, counts]) => {
      const sent = [...counts.values()].reduce((a, b) => a + b, 0);
      const missed = (counts.get('404') ?? 0) + (counts.get('closed') ?? 0);
      return { route, sent, reached: round((sent - missed) / sent), ms_mean: round((this.msByRoute.get(route) ?? 0) / sent), statuses: sorted(counts) };
    });
  }
}

// A type, not an interface, so a row is a plain record of figures (results.ts's Figure).
export type RouteRow = {
  route: string;
  sent: number;
  /** Share of answers that were not 404 (nor a closed connection). */
  reached: number;
  /** Mean time of a request to the route, its answer read (the client runs in the same process). */
  ms_mean: number;
  statuses: Record<string, number>;
};

/** Counts in key order, numbers first: `{ "200": 3, "400": 9, "closed": 1 }`. */
export function sorted(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].sort(([a], [b]) => (Number(a) || 1000) - (Number(b) || 1000) || a.localeCompare(b)));
}

const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
const round = (share: number) => Math.round(share * 1000) / 1000;
