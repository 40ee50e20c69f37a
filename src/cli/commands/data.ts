import type { Command } from 'commander';
import type { CliDeps } from '../context.js';

/**
 * Registers `wess backup`, `restore`, `export` and `import`.
 * TODO(issue 5, backups): a stub until the backup/export helper replaces this file.
 */
export function registerDataCommands(_program: Command, _deps: CliDeps): void {}
