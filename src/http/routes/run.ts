import type { FastifyInstance } from 'fastify';
import { wessError } from '../../errors.js';
import type { ModuleRecord } from '../../store/types.js';
import type { FunctionExport } from '../../wasm/types.js';
import { encodeResults, parseArgs } from '../../wasm/values.js';
import { parseWith, runBody } from '../schemas.js';
import type { Services } from '../services.js';
import { findModule } from './modules.js';

const JSON_TYPES = new Set(['i32', 'i64', 'f32', 'f64']);
const LISTED_NAMES = 20;

function exportList(record: ModuleRecord): string {
  const names = record.exports.slice(0, LISTED_NAMES).map((e) => JSON.stringify(e.name));
  const more = record.exports.length > LISTED_NAMES ? ` and ${record.exports.length - LISTED_NAMES} more` : '';
  return names.length ? `${names.join(', ')}${more}` : 'none';
}

/** The export a call names, or the only one when the call names none. */
export function pickFunction(record: ModuleRecord, name: string | undefined): FunctionExport {
  if (name === undefined) {
    const [only, ...rest] = record.exports;
    if (only && rest.length === 0) return only;
    throw wessError(
      'VALIDATION',
      `body.function is required: module ${record.id} exports ${record.exports.length} functions (${exportList(record)})`,
    );
  }
  const found = record.exports.find((e) => e.name === name);
  if (!found) {
    throw wessError('UNKNOWN_FUNCTION', `module ${record.id} exports no function ${JSON.stringify(name)}; it exports ${exportList(record)}`);
  }
  const unsupported = found.results.find((t) => !JSON_TYPES.has(t));
  if (unsupported) {
    throw wessError('INVALID_ARGUMENT', `function ${JSON.stringify(name)} returns ${unsupported}, which cannot be sent as JSON`);
  }
  return found;
}

/** Registers POST /modules/:id/run. */
export function runRoutes(app: FastifyInstance, services: Services): void {
  const { config, runner } = services;
  app.post('/modules/:id/run', async (request) => {
    const body = parseWith(runBody, request.body ?? {}, 'body');
    const record = await findModule(services, request);
    const fn = pickFunction(record, body.function);
    const args = parseArgs(fn.params, body.args, { maxArgs: config.limits.max_args });
    request.log.debug({ function: fn.name, args: args.length, sha256: record.sha256 }, 'run');
    const outcome = await runner.run({ sha256: record.sha256, fn: fn.name, params: fn.params, results: fn.results, args });
    request.log.debug({ compile_cached: outcome.compileCached, duration_ms: outcome.durationMs }, 'run done');
    return {
      results: encodeResults(fn.results, outcome.results),
      stats: {
        duration_ms: Math.round(outcome.durationMs * 1000) / 1000,
        compile_cached: outcome.compileCached,
        version: record.version,
      },
    };
  });
}
