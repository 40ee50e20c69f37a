#!/usr/bin/env node
import { runCli } from './program.js';

// A reader that went away (`wess events | head -3`) is the end of the output, not a crash with a stack.
// Exiting here is the one way out: a followed stream would otherwise keep the process alive.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

// Only the exit code is set, never process.exit() otherwise: `wess serve` keeps running after runCli
// returns, and piped stdout must drain before the process ends.
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
