import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authorize, type EffectiveLimits } from '../../auth/policy.js';
import { wessError } from '../../errors.js';
import { admitModule } from '../../modules/admission.js';
import { exportLines, importLines } from '../../store/transfer.js';
import { secretCheck } from '../../store/transfer-auth.js';
import { admitImage } from '../../files/archive.js';
import { NDJSON } from '../body-limits.js';
import { describeRoute, ref } from '../openapi.js';
import { flag, forceQuery, parseWith, tenant } from '../schemas.js';
import type { Services } from '../../services.js';
import { limitsInTenant, quotaOf } from '../tenant-limits.js';
import { backupKey } from '../../store/backup-key.js';

/** One module line of an import, all its versions in base64: past this it is refused, not buffered. */
const MAX_IMPORT_LINE = 256 * 1024 * 1024;

const exportQuery = z
  .object({ tenant: tenant.optional(), all: flag.optional() })
  .strict()
  .refine((q) => !(q.all === true && q.tenant !== undefined), { message: "all=true exports the whole deployment; a tenant's export holds its modules only", path: ['all'] });

const importSummary = z.object({
  imported: z.number().int().meta({ description: 'Modules written, each with all its versions, in one durable batch' }),
  skipped: z.number().int().meta({ description: 'Modules whose id already exists here (a re-run imports nothing twice)' }),
  keys: z
    .object({ imported: z.number().int(), skipped: z.number().int() })
    .optional()
    .meta({ description: 'Whole-deployment exports only: keys written, and skipped because their id exists here' }),
  audit: z
    .object({ imported: z.number().int() })
    .optional()
    .meta({ description: 'Whole-deployment exports only: audit entries written (ids kept: one already here is written again unchanged)' }),
  failed: z
    .array(z.object({ line: z.number().int(), id: z.string().optional(), code: z.string(), error: z.string() }))
    .meta({ description: 'Lines that were not imported and why (the first 1,000)' }),
  failed_count: z.number().int(),
});

/** GET /admin/backup, GET /admin/export, POST /admin/import, GET /admin/verify. */
export function adminRoutes(app: FastifyInstance, services: Services): void {
  // Encapsulated, so that only the import route takes NDJSON, as a stream (no body limit: it is never held whole).
  void app.register(async (scope) => {
    scope.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));
    registerBackup(scope, services);
    registerExport(scope, services);
    registerImport(scope, services);
    registerVerify(scope, services);
  });
}

function registerBackup(app: FastifyInstance, services: Services): void {
  app.get(
    '/admin/backup',
    describeRoute({
      summary: 'Stream a consistent backup of the whole database (admin)',
      description:
        'Every key and value, read from one LevelDB snapshot while the server keeps serving, as a gzip archive ending with an entry count, a sha256 and an HMAC-SHA256 under backup.key; `wess restore` verifies all three. Refused (409) while no backup.key is configured, and on a PostgreSQL store (BACKUP_UNSUPPORTED: back it up with pg_dump, or use the export).',
      tags: ['admin'],
      responses: { 200: { description: 'The archive', contentType: 'application/gzip', body: { type: 'string', format: 'binary' } } },
      errors: ['FORBIDDEN', 'BACKUP_KEY_REQUIRED', 'BACKUP_UNSUPPORTED'],
    }),
    async (request, reply) => {
      authorize(request.principal, 'store.backup');
      request.audit = { action: 'store.backup', target: null };
      const secret = services.config.backup.key;
      if (secret === undefined) {
        throw wessError(
          'BACKUP_KEY_REQUIRED',
          'backups are signed so that a restore can tell them from forgeries, and this server has no key to sign with: set backup.key (or WESS_BACKUP_KEY, 32+ characters) and restart; keep the key apart from the backups, a restore needs it',
        );
      }
      // Before any header: a store that cannot make an archive throws here, and the client gets its 409.
      const archive = services.store.modules.backup(backupKey(secret));
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .type('application/gzip')
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="wess-${stamp}.wessbak"`)
        .send(logFailure(archive, request, 'backup'));
    },
  );
}

function registerExport(app: FastifyInstance, services: Services): void {
  app.get(
    '/admin/export',
    describeRoute({
      summary: 'Export modules with their whole history, or the whole deployment, as NDJSON (admin)',
      description:
        'A header line, one line per module (metadata and every version with base64 content and sha256), then an end line. `?tenant=` exports one tenant. ' +
        '`?all=true` exports the whole deployment (format version 2): the module lines are followed by every key record (hashes included) and every audit entry, exactly as stored.',
      tags: ['admin'],
      query: exportQuery,
      fields: { tenant: 'Only this tenant\'s modules', all: 'true: modules, keys and the audit log (not with tenant)' },
      responses: { 200: { description: 'The export', contentType: NDJSON, body: { type: 'string' } } },
      errors: ['VALIDATION', 'FORBIDDEN'],
    }),
    async (request, reply) => {
      authorize(request.principal, 'store.export');
      const query = parseWith(exportQuery, request.query, 'query');
      const all = query.all === true;
      request.audit = { action: 'store.export', target: query.tenant ?? null, details: all ? { tenant: null, all } : { tenant: query.tenant ?? null } };
      const modulesEstimate = query.tenant === undefined ? services.store.writer.moduleCount : await services.store.modules.countTenantModules(query.tenant);
      const whole = all ? { secretCheck: await secretCheck(services.keyring.secret) } : undefined;
      const lines = exportLines(services.store, { tenant: query.tenant, modulesEstimate, whole });
      return reply.type(NDJSON).header('cache-control', 'no-store').send(logFailure(Readable.from(lines), request, 'export'));
    },
  );
}

function registerImport(app: FastifyInstance, services: Services): void {
  app.post(
    '/admin/import',
    describeRoute({
      summary: 'Import an NDJSON export (admin)',
      description:
        "Streams the body line by line. Each version's sha256 is checked and its content admitted as an upload into its tenant would be (this node's limits and the tenant's tier: size, memory, max_modules, max_storage); ids, versions, names, tenants and times are kept, and only the newest limits.max_versions versions. A module whose id exists is skipped; a bad line is reported and costs nothing else.",
      tags: ['admin'],
      query: forceQuery,
      fields: { force: "true skips the tenants' tiers (only this node's global limits apply); audited as forced" },
      body: { [NDJSON]: { type: 'string', description: 'A Wess export' } },
      responses: { 200: { description: 'What was imported, skipped and refused', body: importSummary } },
      errors: ['VALIDATION', 'FORBIDDEN'],
    }),
    async (request) => {
      const principal = authorize(request.principal, 'store.import');
      request.audit = { action: 'store.import', target: null };
      if (!(request.body instanceof Readable)) {
        throw wessError('UNSUPPORTED_MEDIA_TYPE', `send the export as ${NDJSON} (e.g. curl --data-binary @export.ndjson -H 'content-type: ${NDJSON}')`);
      }
      const { force } = parseWith(forceQuery, request.query, 'query');
      // Each module is held to its own tenant's tier, as an admin's upload into that tenant would be.
      const byTenant = new Map<string, EffectiveLimits>();
      const limitsOf = (owner: string): EffectiveLimits => {
        let limits = byTenant.get(owner);
        if (limits === undefined) byTenant.set(owner, (limits = limitsInTenant(services, principal, owner, force === true).limits));
        return limits;
      };
      let pruned = 0;
      const summary = await importLines(request.body, {
        submit: async (msg) => {
          const result = await services.store.writer.submit(msg);
          pruned += result.pruned;
          return result;
        },
        exists: async (id) => (await services.store.reader.getModule(id)) !== undefined,
        admit: (bytes, owner) => admitModule(bytes, services.runner, limitsOf(owner)),
        admitFiles: (image, owner) => {
          const limits = limitsOf(owner);
          return admitImage(image, { maxFilesBytes: limits.maxFilesBytes, maxFiles: limits.maxFiles, tier: limits.tier });
        },
        quota: (owner) => quotaOf(limitsOf(owner)),
        keyExists: (id) => services.keyring.get(id) !== undefined,
        submitKey: (msg) => services.store.writer.submit(msg),
        submitAudit: (msg) => services.store.writer.submit(msg),
        secretCheck: () => secretCheck(services.keyring.secret),
        maxLineBytes: MAX_IMPORT_LINE,
      });
      const details: Record<string, unknown> = { imported: summary.imported, skipped: summary.skipped, failed: summary.failed_count };
      if (summary.keys) details.keys = summary.keys.imported;
      if (summary.audit) details.audit_entries = summary.audit.imported;
      if (pruned > 0) details.pruned_versions = pruned;
      if (force === true) details.forced = true;
      request.audit.details = details;
      return summary;
    },
  );
}

/** A stream that fails half-way can only be cut off (the status is sent); the log says why. */
function logFailure(stream: Readable, request: FastifyRequest, what: string): Readable {
  stream.once('error', (err) => request.log.error({ err }, `${what} stream failed; the client got a cut-off ${what}`));
  return stream;
}

function registerVerify(app: FastifyInstance, services: Services): void {
  app.get(
    '/admin/verify',
    describeRoute({
      summary: 'Read back and hash every stored version (admin)',
      description:
        'Reads every version\'s content from one snapshot and checks it against its sha256; lists the damaged ones (missing, other bytes, or unreadable). ' +
        '/health reports the result until the next verification. `wess doctor` calls this.',
      tags: ['admin'],
      responses: { 200: { description: 'What was checked and what is damaged', body: ref('VerifyReport') } },
      errors: ['FORBIDDEN'],
    }),
    async (request) => {
      authorize(request.principal, 'store.verify');
      request.audit = { action: 'store.verify', target: null };
      const report = await services.store.modules.verify();
      services.storeHealth.verified(report);
      request.audit.details = { versions: report.versions, damaged: report.damaged.length };
      if (report.damaged.length > 0) request.log.error({ damaged: report.damaged.length, modules: [...new Set(report.damaged.map((d) => d.module_id))].slice(0, 20) }, 'verification found damaged content');
      return report;
    },
  );
}
