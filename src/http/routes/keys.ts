import { poolSize } from '../../config/schema.js';
import type { FastifyInstance } from 'fastify';
import { toView } from '../../auth/keyring.js';
import { authorize, checkUsageAccess, limitsFor, principalOf, tenantGuard, tenantScope } from '../../auth/policy.js';
import { generateKey, hashSecret } from '../../auth/secrets.js';
import type { KeyRecord, Principal } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import { PAGE_BYTES } from '../../wasm/types.js';
import { audited } from '../plugins/audit.js';
import { describeRoute, ref } from '../openapi.js';
import { createKeyBody, keyIdParams, parseWith, tenantListQuery } from '../schemas.js';
import type { Services } from '../../services.js';

const TAGS = ['keys'];

/**
 * Registers the key routes: create (admin), list and revoke (admin; a developer its tenant's), usage.
 * A key limited to named modules manages none of them and reads only its own usage.
 */
export function keyRoutes(app: FastifyInstance, services: Services): void {
  const { keyring, usage } = services;
  const { reader, writer } = services.store;

  /** A key the principal may see: admins see all; others their tenant's; a runner only itself. */
  function visibleKey(principal: Principal, id: string): KeyRecord {
    const key = keyring.get(id);
    const visible =
      key !== undefined &&
      (principal.role === 'admin' || (key.tenant === principal.tenant && (principal.role === 'developer' || key.id === principal.keyId)));
    if (!key || !visible) throw wessError('KEY_NOT_FOUND', `no key with id ${id}`);
    return key;
  }

  function tierFor(role: KeyRecord['role'], requested: string | null | undefined): string | null {
    const { config } = services; // the live config: tiers and default_tier change on reload
    if (requested === undefined) return role === 'admin' ? null : (config.auth.default_tier ?? null);
    if (requested !== null && !Object.hasOwn(config.tiers, requested)) {
      const known = Object.keys(config.tiers);
      throw wessError('VALIDATION', `body.tier: no tier ${JSON.stringify(requested)}; configured tiers: ${known.length ? known.join(', ') : 'none'}`);
    }
    return requested;
  }

  /** Scoped keys may only name existing modules of their own tenant. */
  async function checkScope(modules: string[] | undefined, tenant: string): Promise<void> {
    for (const id of modules ?? []) {
      const record = await reader.getModule(id);
      if (!record || record.tenant !== tenant) throw wessError('VALIDATION', `body.modules: ${id} is not a module of tenant ${tenant}`);
    }
  }

  app.post('/keys', describeRoute({
    summary: 'Create an API key (admin)',
    description: 'The answer holds the whole key, secret included, once: only its HMAC is stored.',
    tags: TAGS,
    body: createKeyBody,
    responses: { 201: { description: 'Created', body: ref('CreatedKey'), headers: { location: 'The key URL' } } },
    errors: ['VALIDATION', 'FORBIDDEN', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'key.create');
    const body = parseWith(createKeyBody, request.body, 'body');
    const tenant = body.tenant ?? principal.tenant;
    const tier = tierFor(body.role, body.tier);
    await checkScope(body.modules, tenant);
    const made = generateKey();
    const key: KeyRecord = {
      id: made.id,
      name: body.name,
      role: body.role,
      tenant,
      tier,
      modules: body.modules ? [...new Set(body.modules)] : null,
      hash: hashSecret(keyring.secret, made),
      created_at: new Date().toISOString(),
      created_by: principal.keyId,
      revoked_at: null,
    };
    await audited(request, { action: 'key.create', target: key.id, tenant, details: { role: key.role, tier, scoped: key.modules !== null } }, 201, (audit) =>
      writer.submit({ kind: 'put-key', key, audit }),
    );
    // The secret exists only in this response: never cached by anything on the way.
    return reply.code(201).header('cache-control', 'no-store').header('location', `/keys/${key.id}`).send({ key: made.key, ...toView(key) });
  });

  app.get('/keys', describeRoute({
    summary: 'List API keys (never their secrets)',
    description: "An admin's: every tenant's, or ?tenant='s; a developer's: its tenant's.",
    tags: TAGS,
    query: tenantListQuery,
    fields: { limit: 'Page size', cursor: 'next_cursor of the previous page', tenant: 'Admin keys only: one tenant' },
    responses: { 200: { description: 'A page of keys, by id', body: ref('KeyList') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    const principal = authorize(request.principal, 'key.list');
    const query = parseWith(tenantListQuery, request.query, 'query');
    const all = keyring.list(tenantScope(principal, query.tenant));
    const start = query.cursor === undefined ? 0 : all.findIndex((key) => key.id > (query.cursor as string));
    const items = start === -1 ? [] : all.slice(start, start + query.limit);
    const last = items[items.length - 1];
    const more = start !== -1 && start + query.limit < all.length;
    return { items, next_cursor: more && last ? last.id : null };
  });

  app.delete('/keys/:id', describeRoute({
    summary: 'Revoke an API key',
    description: 'Durable before the answer; the key is refused from the next request and loses its open event streams.',
    tags: TAGS,
    params: keyIdParams,
    responses: { 204: { description: 'Revoked' } },
    errors: ['VALIDATION', 'FORBIDDEN', 'KEY_NOT_FOUND', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'key.revoke');
    const { id } = parseWith(keyIdParams, request.params, 'path');
    const key = visibleKey(principal, id);
    if (principal.role !== 'admin' && key.role === 'admin') throw wessError('FORBIDDEN', 'only admin keys may revoke an admin key');
    await audited(request, { action: 'key.revoke', target: id, tenant: key.tenant }, 204, (audit) =>
      writer.submit({ kind: 'revoke-key', id, tenant: tenantGuard(principal), audit }),
    );
    return reply.code(204).send();
  });

  app.get('/keys/:id/usage', describeRoute({
    summary: "A key's usage and limits",
    description: 'A runner key sees only its own; a key limited to named modules too (403 for any other).',
    tags: TAGS,
    params: keyIdParams,
    responses: { 200: { description: 'Usage counters and the limits that apply', body: ref('KeyUsage') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'KEY_NOT_FOUND'],
  }), async (request) => {
    const principal = authorize(request.principal, 'key.usage');
    const { id } = parseWith(keyIdParams, request.params, 'path');
    checkUsageAccess(principal, id);
    const key = visibleKey(principal, id);
    const limits = limitsFor(services.config, principalOf(key));
    const suspected = services.runner.suspectUntil(key.tenant);
    return {
      key_id: key.id,
      tier: limits.tier,
      suspected_until: suspected === undefined ? null : new Date(suspected).toISOString(),
      usage: await usage.get(key.id),
      storage: { tenant: key.tenant, stored_bytes: await services.store.reader.tenantBytes(key.tenant), max_storage: limits.maxStorage ?? null },
      limits: {
        runs_per_day: limits.runsPerDay ?? null,
        requests_per_minute: limits.requestsPerMinute ?? null,
        max_modules: limits.maxModules ?? null,
        max_storage: limits.maxStorage ?? null,
        max_versions: services.config.limits.max_versions,
        max_module_size: limits.maxModuleSize,
        max_timeout_ms: limits.timeoutMs,
        max_memory_bytes: limits.maxMemoryPages * PAGE_BYTES,
        max_concurrency: limits.maxConcurrency ?? poolSize(services.config),
        cpu_ms_per_minute: limits.cpuMsPerMinute ?? null,
        max_fuel: limits.maxFuel,
        default_fuel: limits.defaultFuel ?? null,
        max_table_elements: limits.maxTableElements,
        max_event_streams: limits.maxEventStreams ?? null,
      },
    };
  });
}
