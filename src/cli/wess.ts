#!/usr/bin/env node
import { runCli } from './program.js';

// Only the exit code is set, never process.exit(): `wess serve` keeps running after runCli returns,
// and piped stdout must drain before the process ends.
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
