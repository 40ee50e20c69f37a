import assert from 'node:assert/strict';
import { authHeaders, fixture } from '../helper.js';

/** A copy of a module with a custom section of its own: the same code under another sha256. */
export function copyOf(bytes: Uint8Array, tag: string): Buffer {
  const name = Buffer.from(tag);
  return Buffer.concat([bytes, Buffer.from([0x00, name.length + 1, name.length]), name]);
}

/** A run answer's body, loosely: what the tests of tenants read of it. */
export type RunBody = {
  results?: unknown[];
  stats?: Record<string, number | null>;
  batch?: Record<string, unknown>[];
  error?: { code: string; message: string; details?: Record<string, unknown> };
} & Record<string, unknown>;

export interface RunAnswer { status: number; headers: Headers; body: RunBody; bytes: number }

/** Real HTTP against a listening app as one key: uploads (raw wasm) and runs. */
export class KeyClient {
  constructor(
    private readonly base: string,
    private readonly key: string | undefined,
  ) {}

  /** Uploads a fixture (or bytes) as `application/wasm`; the status and the answer. */
  async upload(name: string, bytes: Uint8Array = fixture(name)): Promise<{ status: number; id: string; body: RunBody }> {
    const res = await fetch(`${this.base}/modules?name=${name}`, {
      method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }, this.key), body: bytes,
    });
    const body = (await res.json()) as RunBody & { id: string };
    return { status: res.status, id: body.id, body };
  }

  /** Uploads and returns the module id; fails the test unless the answer is 201. */
  async uploaded(name: string, bytes?: Uint8Array): Promise<string> {
    const res = await this.upload(name, bytes);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.id;
  }

  /** POST /modules/{id}/run with a JSON body. */
  async run(id: string, payload: Record<string, unknown>): Promise<RunAnswer> {
    const res = await fetch(`${this.base}/modules/${id}/run`, {
      method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }, this.key), body: JSON.stringify(payload),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: JSON.parse(text) as RunBody, bytes: Buffer.byteLength(text) };
  }
}
