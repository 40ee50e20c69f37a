#!/usr/bin/env node
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp, type WessApp } from './app.js';
import { createFirstAdminKey } from './auth/bootstrap.js';
import { isClusterWorker, joinCluster, runPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config/load.js';
import { processCount, type Config } from './config/schema.js';
import { reloadConfig } from './config/reload.js';
import { createLogger, type Logger } from './logger.js';
import { describeStartFailure } from './start-failure.js';
import { redactUrl } from './store/index.js';
import { pinTickObjectMaps } from './tick-maps.js';

/**
 * Load config → build app → listen, until SIGTERM/SIGINT; `node dist/src/main.js` and `wess serve`.
 * The server's only place that calls process.exit.
 */
export async function serve(argv: readonly string[]): Promise<void> {
  // Node's default for SIGHUP is to exit: take it over before anything else, so no state dies of it.
  const hangup = hangupHandler();
  process.on('SIGHUP', hangup.signal);
  // Before any load: keeps node's nextTick cheap for the life of the process (see tick-maps.ts).
  await pinTickObjectMaps();
  // A worker of server.processes > 1 (src/cluster.ts) hears its primary from the start.
  const cluster = isClusterWorker() ? joinCluster() : undefined;
  // A reload reads the config exactly as the start did: same argv, environment and file lookup.
  const load = () => loadConfig({ argv, env: process.env, defaultPath: existsSync('wess.toml') ? 'wess.toml' : undefined });
  let config: Config;
  try {
    config = load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wess: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.log.level);
  const processes = processCount(config);
  if (processes !== 1 && !cluster) {
    // The primary serves nothing itself: it forks and supervises, with signal handlers of its own.
    process.off('SIGHUP', hangup.signal);
    runPrimary({ config, logger, count: processes, exec: fileURLToPath(import.meta.url), argv, exit: (code) => process.exit(code) });
    return;
  }
  hangup.setLogger(logger);
  const app = await start(config, logger);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  // The pid is the process to send SIGHUP to (not `npm start`'s: npm does not pass SIGHUP on); it is
  // also in <database.path>/wess.pid while the server runs.
  logger.info(
    // (A worker's every line has its pid already.)
    { ...(cluster ? {} : { pid: process.pid }), host: config.server.host, port, db: config.database.url === undefined ? config.database.path : redactUrl(config.database.url), workers: app.services.runner.stats().workers },
    cluster ? 'wess worker is ready' : 'wess is ready',
  );
  hangup.ready(() => reloadConfig(app.services, load));

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping && cluster) {
      // A Ctrl-C reaches the worker and its primary, which passes it on: one stop. The primary
      // keeps the "second signal" rule for the whole node (it kills its workers).
      logger.debug({ signal }, 'already draining');
      return;
    }
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    hangup.stopping();
    logger.info({ signal, grace_ms: config.server.shutdown_grace }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => {
      logger.error({ grace_ms: config.server.shutdown_grace }, 'shutdown grace period passed: exiting');
      process.exit(1);
    }, config.server.shutdown_grace + 2000);
    force.unref();
    app.close().then(
      () => {
        logger.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster?.ready({ registry: app.services.metrics.registry, refresh: () => app.services.runner.stats(), stop });
}

/** How long a failed start waits for the app to close before it exits anyway. */
const CLOSE_AFTER_FAILURE_MS = 5000;

/**
 * Builds the app, listens, then (on a first start) creates the admin key; or, when any of it fails,
 * says why in one sentence on stderr and exits 1.
 */
async function start(config: Config, logger: Logger): Promise<WessApp> {
  let app: WessApp | undefined;
  try {
    app = await buildApp(config, { logger });
    await app.listen({ host: config.server.host, port: config.server.port });
    // Only now: a start that fails before listening must not show (or store) a key nobody will use.
    const { services } = app;
    await createFirstAdminKey(services.config, services.keyring, services.store.writer, logger);
    return app;
  } catch (err) {
    // One sentence for whoever started it; the log line keeps the stack when it helps.
    const { sentence, unexpected } = describeStartFailure(err, config);
    logger.fatal(unexpected ? { err, reason: sentence } : { reason: sentence }, 'wess failed to start');
    process.stderr.write(`wess: ${sentence}\n`);
    // Closing releases the data directory (and its pid file) and the workers before the exit;
    // a close that hangs must not keep a failed start alive.
    setTimeout(() => process.exit(1), CLOSE_AFTER_FAILURE_MS).unref();
    await app?.close().catch(() => undefined);
    process.exit(1);
  }
}

/**
 * What SIGHUP does in each state: before ready it is remembered and the reload runs once the server
 * is ready (the file may have changed after it was read); while serving it reloads; during
 * shutdown it is logged and ignored. It never ends the process.
 */
function hangupHandler() {
  let logger: Logger | undefined;
  let reload: (() => unknown) | undefined;
  let pending = false;
  let stopping = false;
  return {
    signal(): void {
      if (stopping) {
        logger?.warn({ signal: 'SIGHUP' }, 'SIGHUP during shutdown: ignored');
      } else if (reload) {
        reload();
      } else {
        pending = true;
        logger?.info({ signal: 'SIGHUP' }, 'SIGHUP before ready: the config will be reloaded once wess is ready');
      }
    },
    setLogger(value: Logger): void {
      logger = value;
    },
    ready(fn: () => unknown): void {
      reload = fn;
      if (pending) fn();
    },
    stopping(): void {
      stopping = true;
    },
  };
}

/** True when this file is the program node was started with (not imported by the CLI). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) void serve(process.argv.slice(2));
