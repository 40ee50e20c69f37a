/* Small HTTP helpers over fetch for the setup steps of each scenario (not the measured load). */

import { withKey } from './servers.js';
export interface ModuleInfo { id: string; sha256: string; size: number }

/** Uploads raw wasm bytes (application/wasm, ?name=); throws unless 201. */
export async function uploadWasm(base: string, name: string, bytes: Uint8Array, requestId?: string): Promise<ModuleInfo> {
  const headers: Record<string, string> = withKey({ 'content-type': 'application/wasm' });
  if (requestId) headers['x-request-id'] = requestId;
  const res = await fetch(`${base}/modules?name=${encodeURIComponent(name)}`, { method: 'POST', headers, body: bytes });
  if (res.status !== 201) throw new Error(`upload of ${name} failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as ModuleInfo;
}

/** POSTs a run; returns status and parsed body. */
export async function runCall(base: string, id: string, body: unknown, requestId?: string): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = withKey({ 'content-type': 'application/json' });
  if (requestId) headers['x-request-id'] = requestId;
  const res = await fetch(`${base}/modules/${id}/run`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** The writer's counters from GET /health (its admin detail): durable batches and modules stored. */
export async function writerStats(base: string): Promise<{ batches: number; modules: number }> {
  const res = await fetch(`${base}/health`, { headers: withKey({}) });
  return ((await res.json()) as { writer: { batches: number; modules: number } }).writer;
}

/** The server's resident set size from GET /health (its admin detail). */
export async function rss(base: string): Promise<number> {
  const res = await fetch(`${base}/health`, { headers: withKey({}) });
  const body = (await res.json()) as { memory: { rss: number } };
  return body.memory.rss;
}
