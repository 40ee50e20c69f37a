import type { Command } from 'commander';
import { positiveInt } from '../args.js';
import type { CliDeps } from '../context.js';
import { bytes, type Column } from '../output.js';
import { listPages, pageOptions, printPage, type PageOptions } from '../pages.js';
import { printModule, type ModuleView } from './modules.js';

/** A line of GET /modules/{id}/versions. */
interface VersionView {
  version: number;
  name: string;
  sha256: string;
  size: number;
  created_at: string;
}

/** A sha256 prefix long enough to tell versions apart by eye; --json has the whole hash. */
const SHORT_HASH = 12;

const VERSION_COLUMNS: Column<VersionView>[] = [
  { header: 'VERSION', value: (v) => String(v.version), right: true },
  { header: 'NAME', value: (v) => v.name },
  { header: 'SIZE', value: (v) => bytes(v.size), right: true },
  { header: 'SHA256', value: (v) => v.sha256.slice(0, SHORT_HASH) },
  { header: 'CREATED', value: (v) => v.created_at },
];

/** Registers `wess versions ID` and `wess rollback ID VERSION`. */
export function registerVersionCommands(program: Command, deps: CliDeps): void {
  const path = (id: string) => `/modules/${encodeURIComponent(id)}`;

  pageOptions(program.command('versions <id>').description("list a module's versions, newest first"), 'versions').action(
    deps.action(async (ctx, command) => {
      const [id] = command.processedArgs as [string];
      const opts = command.opts<PageOptions>();
      const page = await listPages<VersionView>(ctx, `${path(id)}/versions`, { limit: opts.limit, cursor: opts.cursor }, opts.all === true);
      printPage(ctx, page, VERSION_COLUMNS, 'versions');
    }),
  );

  program
    .command('rollback')
    .description("make an old version current again; it becomes a new version (history only grows)")
    .argument('<id>', 'the module')
    .argument('<version>', 'the version whose content and name come back', positiveInt('VERSION'))
    .option('--if-version <n>', 'only if the current version is still N (else 409 VERSION_CONFLICT)', positiveInt('--if-version'))
    .action(
      deps.action(async (ctx, command) => {
        const [id, version] = command.processedArgs as [string, number];
        const { ifVersion } = command.opts<{ ifVersion?: number }>();
        const headers: Record<string, string> = ifVersion === undefined ? {} : { 'if-match': `"${ifVersion}"` };
        const answer = await ctx.client.request<ModuleView>('POST', `${path(id)}/rollback`, { json: { version }, headers });
        ctx.out.emit(answer.body, () => printModule(ctx, answer.body));
      }),
    );
}
