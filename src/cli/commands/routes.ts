import type { Command } from 'commander';
import type { CliDeps } from '../context.js';
import { show, type Column } from '../output.js';
import { addListCommand } from '../pages.js';

/** An HTTP handler route as the server shows it. */
interface RouteView {
  id: string;
  tenant: string;
  path: string;
  url: string;
  module: string;
  version: number | null;
  methods: string[] | null;
  public: boolean;
  pass_authorization: boolean;
  created_at: string;
}

const ROUTE_COLUMNS: Column<RouteView>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'TENANT', value: (r) => r.tenant },
  { header: 'PATH', value: (r) => r.path },
  { header: 'MODULE', value: (r) => r.module },
  { header: 'VERSION', value: (r) => (r.version === null ? 'current' : String(r.version)) },
  { header: 'METHODS', value: (r) => (r.methods ? r.methods.join(',') : 'any') },
  { header: 'ACCESS', value: (r) => (r.public ? 'public' : 'private') },
  { header: 'URL', value: (r) => r.url },
];

/** Registers `wess routes add|ls|rm`: bindings of paths to WASI programs that answer HTTP requests. */
export function registerRouteCommands(program: Command, deps: CliDeps): void {
  const routes = program.command('routes').description('bind paths to WASI programs that answer HTTP requests (/h/TENANT/PATH)');

  routes
    .command('add <path> <module>')
    .description('bind PATH (e.g. /hello) to a WASI program; requests to /h/TENANT/PATH… run it')
    .option('--version <n>', 'pin this version (default: follow the current one)', (v) => Number(v))
    .option('--method <method...>', 'methods the route takes (default: any)')
    .option('--public', 'serve without a key (default: any key of the tenant)')
    .option('--pass-authorization', 'give the program the Authorization header')
    .option('--tenant <tenant>', 'the tenant to bind in (admin keys only)')
    .action(
      deps.action(async (ctx, command) => {
        const [path, module] = command.processedArgs as [string, string];
        const opts = command.opts<{ version?: number; method?: string[]; public?: boolean; passAuthorization?: boolean; tenant?: string }>();
        const json = {
          path,
          module,
          version: opts.version,
          methods: opts.method?.map((m) => m.toUpperCase()),
          public: opts.public === true,
          pass_authorization: opts.passAuthorization === true,
          tenant: opts.tenant,
        };
        const route = (await ctx.client.request<RouteView>('POST', '/routes', { json })).body;
        ctx.out.emit(route, () =>
          ctx.out.fields([
            ['id', route.id],
            ['url', route.url],
            ['module', route.module],
            ['version', route.version === null ? 'current' : String(route.version)],
            ['methods', route.methods ? route.methods.join(', ') : 'any'],
            ['access', route.public ? 'public' : 'private'],
            ['authorization', show(route.pass_authorization ? 'passed to the program' : null)],
          ]),
        );
      }),
    );

  addListCommand(routes, deps, { noun: 'routes', path: '/routes', columns: ROUTE_COLUMNS, description: 'list routes (admin: all, or --tenant)' });

  routes
    .command('rm <id>')
    .description('delete a route: its path answers 404 from the next request (prints nothing with --json)')
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        await ctx.client.delete(`/routes/${encodeURIComponent(id)}`);
        if (!ctx.json) ctx.out.line(`deleted route ${id}`);
      }),
    );
}
