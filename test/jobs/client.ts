import { TEST_ADMIN_KEY } from '../helper.js';

/** A JSON answer as tests read it: any shape, checked by the assertions (hence `any`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** JSON over real HTTP to a listening Wess, as a client would send it. */
export function client(base: string, key = TEST_ADMIN_KEY) {
  return async function call(method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: Json }> {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}

export type Call = ReturnType<typeof client>;

const ENDED = new Set(['succeeded', 'failed', 'dead', 'cancelled']);

/** Polls GET /jobs/{id} until `done` holds (by default: the job ended); fails after `ms`. */
export async function waitForJob(call: Call, id: string, done: (job: Json) => boolean = (job) => ENDED.has(job.status), ms = 30_000): Promise<Json> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await call('GET', `/jobs/${id}`);
    if (res.status !== 200) throw new Error(`GET /jobs/${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (done(res.body)) return res.body;
    if (Date.now() > deadline) throw new Error(`job ${id} is still ${res.body.status} after ${ms} ms: ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
