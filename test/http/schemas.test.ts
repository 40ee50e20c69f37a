import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { idParams, parseWith, runBody, runQuery } from '../../src/http/schemas.js';

/** Route params exactly as Fastify's router builds them (a `NullObject`, not an object literal). */
async function routerParams(path: string): Promise<Record<string, string | undefined>> {
  const app = Fastify();
  let params: unknown;
  app.post('/modules/:id/run', async (request) => {
    params = request.params;
    return {};
  });
  await app.inject({ method: 'POST', url: path });
  await app.close();
  assert.ok(params, path);
  return params as Record<string, string | undefined>;
}

/** Calls `body` while counting calls to `schema.safeParse` (the slow path). */
function countingZod<T>(schema: { safeParse: (value: unknown) => unknown }, body: () => T): { result: T; zodCalls: number } {
  const original = schema.safeParse;
  let zodCalls = 0;
  schema.safeParse = (value: unknown) => {
    zodCalls++;
    return original.call(schema, value);
  };
  try {
    return { result: body(), zodCalls };
  } finally {
    schema.safeParse = original;
  }
}

const ID = '3bc6a596-7069-4185-8f1b-2c22f56c798e';

describe('validation fast paths', () => {
  it("take the router's params object without a zod parse (it is no object literal)", async () => {
    const params = await routerParams(`/modules/${ID}/run`);
    assert.notEqual(Object.getPrototypeOf(params), Object.prototype, 'the shape this test is about');
    const { result, zodCalls } = countingZod(idParams, () => parseWith(idParams, params, 'path'));
    assert.deepEqual(result, { id: ID });
    assert.equal(zodCalls, 0);
  });

  it('give what zod gives, and leave every refusal to zod', async () => {
    const cases: [typeof idParams | typeof runBody | typeof runQuery, unknown][] = [
      [idParams, await routerParams(`/modules/${ID}/run`)],
      [idParams, { id: ID, extra: 'stripped' }],
      [idParams, await routerParams('/modules/not-a-uuid/run')],
      [idParams, { id: ID.replace('-4', '-1') }],
      [runBody, { function: 'add', args: [1, '2', { nan: true }] }],
      [runBody, {}],
      [runBody, { function: '', args: [] }],
      [runBody, { function: 'add', args: 'no' }],
      [runBody, { function: 'add', unknown: 1 }],
      [runBody, Object.assign(Object.create({ inherited: 1 }) as object, { function: 'add' })],
      [runQuery, {}],
      [runQuery, { version: '2' }],
    ];
    for (const [schema, value] of cases) {
      const zod = schema.safeParse(value);
      const ours = (() => {
        try {
          return { success: true, data: parseWith(schema, value, 'x') as unknown };
        } catch {
          return { success: false };
        }
      })();
      assert.equal(ours.success, zod.success, JSON.stringify(value));
      if (zod.success) assert.deepEqual(ours.data, zod.data, JSON.stringify(value));
    }
  });
});
