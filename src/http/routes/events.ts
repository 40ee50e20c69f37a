import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { validate as isUuid } from 'uuid';
import { z } from 'zod';
import { authorize, limitsFor, tierSuffix } from '../../auth/policy.js';
import { wessError } from '../../errors.js';
import type { BusEvent } from '../../events.js';
import { EventFeed, type FeedEvent, type FeedScope } from '../event-feed.js';
import { describeRoute } from '../openapi.js';
import { parseWith } from '../schemas.js';
import type { Services } from '../../services.js';
import { visibleModule } from './modules.js';

/** Events kept for clients that reconnect with Last-Event-ID: per tenant, and for admin streams across tenants. */
const REPLAY_LIMIT = 1000;
const HEARTBEAT_MS = 15_000;
/** A client that lets this much pile up unread is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const eventsQuery = z
  .object({ module: z.string().refine((id) => isUuid(id), 'must be a module id (UUID)').optional() })
  .strict();

function frame(scope: FeedScope, item: FeedEvent): string {
  return `id: ${EventFeed.idFor(scope, item)}\n${item.body}`;
}

/**
 * GET /events: module changes and job state changes as Server-Sent Events, optionally for one module (`?module=<id>`).
 * A key's stream carries its tenant's events numbered within the tenant; an admin key's carries
 * every tenant's, numbered across them. A client that reconnects with Last-Event-ID gets what it
 * missed from a bounded replay buffer of the same numbering. A tenant holds at most its tier's
 * max_event_streams at once, so it cannot take the server's whole pool (server.max_event_clients).
 */
export function eventRoutes(app: FastifyInstance, services: Services): void {
  const { bus, config, lifecycle, metrics } = services;
  const clients = new Set<ServerResponse>();
  /** Streams open per tenant; admin streams, which follow every tenant, count in none. */
  const perTenant = new Map<string, number>();
  const feed = new EventFeed(bus, REPLAY_LIMIT);
  // With a shared store, the window starts with what every node announced before this one started,
  // so a stream that moves to this node (a balancer, a restart) resumes from its Last-Event-ID.
  const seeded = services.store.recentEvents?.(REPLAY_LIMIT).then(
    (events) => feed.seed(events),
    (err: unknown) => services.logger.warn({ err }, 'the shared event log could not be read; replay starts with this node\'s own events'),
  );

  app.get('/events', describeRoute({
    summary: 'Stream module changes (Server-Sent Events)',
    description:
      'Events module.created, module.updated and module.deleted, once durable, as `id: <seq>`, `event: <type>`, `data: {"type", "module_id", "at", ...}`; ' +
      'job state changes (job.queued, job.running, job.succeeded, job.failed, job.dead, job.cancelled) as `data: {"type", "id", "at", "module", "status", "attempts", ...}`. ' +
      "Ids count the key's tenant's events (an admin key's stream: every tenant's). " +
      `A client that reconnects with Last-Event-ID gets what it missed (the last ${REPLAY_LIMIT} events of the tenant are kept). ` +
      "A tenant may hold its tier's max_event_streams open at once (403 TIER_LIMIT past it).",
    tags: ['events'],
    query: eventsQuery,
    headers: { type: 'object', properties: { 'last-event-id': { type: 'integer', description: 'The id of the last event received' } } },
    fields: { module: 'Only this module\'s events' },
    responses: { 200: { description: 'An event stream that stays open', contentType: 'text/event-stream', body: { type: 'string' } } },
    errors: ['VALIDATION', 'MODULE_NOT_FOUND', 'FORBIDDEN', 'TIER_LIMIT', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'module.read');
    const query = parseWith(eventsQuery, request.query, 'query');
    // The same answer as every other route for a module that is missing or another tenant's.
    if (query.module !== undefined) await visibleModule(services, principal, query.module);
    const scope: FeedScope = principal.role === 'admin' ? { all: true } : { all: false, tenant: principal.tenant };
    const tenantStreams = scope.all ? 0 : (perTenant.get(scope.tenant) ?? 0);
    const { maxEventStreams, tier } = limitsFor(services.config, principal);
    if (!scope.all && maxEventStreams !== undefined && tenantStreams >= maxEventStreams) {
      throw wessError(
        'TIER_LIMIT',
        `tenant ${principal.tenant} has ${tenantStreams} event streams open, the most max_event_streams allows${tierSuffix(tier)}; close one first`,
        { limit: maxEventStreams, open: tenantStreams, tier },
      );
    }
    if (clients.size >= config.server.max_event_clients) {
      throw wessError('UNAVAILABLE', `too many event streams open (${clients.size}); retry later`);
    }
    const lastId = Number(request.headers['last-event-id']);
    if (Number.isInteger(lastId)) await seeded;
    // Another tenant's changes are never sent, so a stream cannot reveal that their modules exist.
    const visible = (event: BusEvent) =>
      'tenant' in event &&
      (principal.role === 'admin' || event.tenant === principal.tenant) &&
      (principal.modules === null || principal.modules.has(moduleOf(event)));
    const wanted = (event: BusEvent) => visible(event) && (query.module === undefined || moduleOf(event) === query.module);
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // The stream is the connection's whole life: once it ends (shutdown), the socket goes too,
      // instead of idling as keep-alive and holding server.close() open.
      connection: 'close',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    raw.write(`retry: 2000\n: connected\n\n`);
    if (Number.isInteger(lastId)) {
      for (const item of feed.since(scope, lastId)) if (wanted(item.event)) raw.write(frame(scope, item));
    }
    clients.add(raw);
    if (!scope.all) perTenant.set(scope.tenant, tenantStreams + 1);
    metrics.eventClients.set(clients.size);
    const send = (item: FeedEvent) => {
      if (!wanted(item.event)) return;
      if (raw.writableLength > MAX_BUFFERED_BYTES) {
        request.log.warn({ buffered: raw.writableLength }, 'event stream client too slow; closing it');
        raw.destroy();
        return;
      }
      raw.write(frame(scope, item));
    };
    const deliver = (event: BusEvent) => {
      const item = feed.numbered(event);
      if (item !== undefined) send(item);
    };
    const unsubscribe = bus.subscribe('module.*', deliver);
    const unsubscribeJobs = bus.subscribe('job.*', deliver);
    // A revoked key loses its open stream too, not only its next request.
    const offRevoked = bus.on('key.revoked', ({ id }) => {
      if (id === principal.keyId) raw.end();
    });
    const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS).unref();
    raw.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      unsubscribeJobs();
      offRevoked();
      clients.delete(raw);
      if (!scope.all) {
        const left = (perTenant.get(scope.tenant) ?? 1) - 1;
        if (left > 0) perTenant.set(scope.tenant, left);
        else perTenant.delete(scope.tenant);
      }
      metrics.eventClients.set(clients.size);
    });
    request.log.info({ module_id: query.module, clients: clients.size }, 'event stream opened');
    if (lifecycle.closing) raw.end();
  });

  // Streams never end by themselves: close them when shutdown starts, or server.close() would wait forever.
  app.addHook('preClose', async () => {
    for (const client of clients) client.end();
  });
}

/** The module an event is about: a module event's id, a job event's module. */
function moduleOf(event: BusEvent): string {
  return event.topic.startsWith('job.') && 'module' in event ? event.module : event.id;
}
