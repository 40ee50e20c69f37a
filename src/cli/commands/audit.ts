import type { Command } from 'commander';
import type { AuditEntry } from '../../auth/types.js';
import type { CliDeps } from '../context.js';
import { show, type Column } from '../output.js';
import { listPages, pageOptions, printPage, type PageOptions } from '../pages.js';

const AUDIT_COLUMNS: Column<AuditEntry>[] = [
  { header: 'AT', value: (e) => e.at },
  { header: 'ACTION', value: (e) => e.action },
  { header: 'STATUS', value: (e) => String(e.status), right: true },
  { header: 'OUTCOME', value: (e) => e.outcome },
  { header: 'ACTOR', value: (e) => show(e.actor) },
  { header: 'TENANT', value: (e) => show(e.tenant) },
  { header: 'TARGET', value: (e) => show(e.target) },
  { header: 'IP', value: (e) => e.ip },
];

/** Registers `wess audit`: GET /audit with its filters. */
export function registerAuditCommand(program: Command, deps: CliDeps): void {
  pageOptions(program.command('audit').description('read the audit log, newest first (admin keys)'), 'entries')
    .option('--tenant <tenant>', "only this tenant's entries")
    .action(
      deps.action(async (ctx, command) => {
        const opts = command.opts<PageOptions & { tenant?: string }>();
        const page = await listPages<AuditEntry>(ctx, '/audit', { limit: opts.limit, cursor: opts.cursor, tenant: opts.tenant }, opts.all === true);
        printPage(ctx, page, AUDIT_COLUMNS, 'audit entries');
      }),
    );
}
