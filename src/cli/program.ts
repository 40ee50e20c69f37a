import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../version.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDataCommands } from './commands/data.js';
import { registerEventsCommand } from './commands/events.js';
import { registerJobCommands } from './commands/jobs.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerModuleCommands } from './commands/modules.js';
import { registerRouteCommands } from './commands/routes.js';
import { registerInvocationsCommand } from './commands/invocations.js';
import { passesExitCode, registerRunCommand } from './commands/run.js';
import { registerServeCommand } from './commands/serve.js';
import { registerVersionCommands } from './commands/versions.js';
import { DEFAULT_URL, contextOf, type CliDeps, type CliIo } from './context.js';
import { CliError, EXIT, EXIT_CODES_HELP, PASS_THROUGH_EXIT, oneLine } from './errors.js';

const ENV_HELP = `Environment:
  WESS_URL     server URL when --url is not given (default ${DEFAULT_URL})
  WESS_KEY     API key when --key is not given
  WESS_CONFIG  config file for \`serve\` and \`config check\` when --config is not given`;

/** Commands about the server process on this machine, not its API: no --url, --key or --json. */
const PROCESS_COMMANDS = new Set(['serve', 'reload']);

/** What the command that ran leaves behind for runCli. */
interface RunState {
  exit: number;
  /** Whether it ran with --json (its errors then print the server's body on stdout too). */
  json: boolean;
}

/** `--url`, `--key`, `--json` on the program and on every command that does something. */
function addGlobalOptions(command: Command): void {
  const isProgram = command.parent === null;
  // `serve` talks to no server: it is one; `reload` signals the local one's process.
  if (isProgram || (command.commands.length === 0 && !PROCESS_COMMANDS.has(command.name()))) {
    command
      .addOption(new Option('--url <url>', `server URL (env WESS_URL; default ${DEFAULT_URL})`))
      .addOption(new Option('--key <key>', 'API key, wess_<id>_<secret> (env WESS_KEY)'))
      .addOption(new Option('--json', "print the server's JSON instead of tables (one document per command)"));
  }
  for (const sub of command.commands) addGlobalOptions(sub);
}

/** Builds the `wess` program; `state.exit` receives the exit code of the command that ran. */
export function buildProgram(io: CliIo, state: RunState = { exit: EXIT.OK, json: false }): Command {
  const program = new Command('wess')
    .description('Store WebAssembly modules and run their exports on a Wess server.')
    .version(VERSION, '-V, --version', 'print the version of wess')
    .helpOption('-h, --help', 'show help for a command')
    // Options before the command are the program's; after it, the command's own (so `run --version N`
    // is a module version, not wess's). The global options are added to both ends: see addGlobalOptions.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Commander's "error: ..." becomes the same one-line shape as every other error.
      outputError: (text, write) => write(`wess: ${oneLine(text.replace(/^error: /, ''))}\n`),
    })
    .addHelpText('after', `\n${ENV_HELP}\n\n${EXIT_CODES_HELP}\n`);

  const deps: CliDeps = {
    io,
    contextOf: (command) => contextOf(command, io),
    action:
      (handler) =>
      async (...args: unknown[]) => {
        const command = args[args.length - 1] as Command;
        const ctx = contextOf(command, io);
        state.json = ctx.json;
        const code = await handler(ctx, command);
        state.exit = code ?? EXIT.OK;
      },
  };
  registerServeCommand(program, deps);
  registerModuleCommands(program, deps);
  registerRunCommand(program, deps);
  registerVersionCommands(program, deps);
  registerEventsCommand(program, deps);
  registerKeyCommands(program, deps);
  registerRouteCommands(program, deps);
  registerJobCommands(program, deps);
  registerAuditCommand(program, deps);
  registerInvocationsCommand(program, deps);
  registerConfigCommands(program, deps);
  registerDataCommands(program, deps);
  registerMigrateCommand(program, deps);
  addGlobalOptions(program);
  return program;
}

/** Runs `wess` with `argv` (without node and the script); resolves with the exit code, never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const state: RunState = { exit: EXIT.OK, json: false };
  const program = buildProgram(io, state);
  // With `run --exit-code` a program's own code is the exit status: wess's failures move out of its way.
  const failed = passesExitCode(argv)
    ? (code: number) => (code === EXIT.GUEST_FAILED ? PASS_THROUGH_EXIT.GUEST_FAILED : PASS_THROUGH_EXIT.WESS_FAILED)
    : (code: number) => code;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.exit;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : failed(EXIT.USAGE);
    if (err instanceof CliError) {
      // With --json a script still gets one document: the server's error body, when there is one.
      if (err.body !== undefined && state.json) io.stdout.write(`${JSON.stringify(err.body)}\n`);
      io.stderr.write(`wess: ${oneLine(err.message)}\n`);
      return failed(err.exit);
    }
    io.stderr.write(`wess: internal error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    return failed(EXIT.REFUSED);
  }
}
