import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { PAGE_BYTES } from '../wasm/types.js';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();

/** The whole configuration; every key has a default so an empty file is a valid config. */
export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(8080),
        /** Runner pool size; 0 or absent means one per CPU core. */
        workers: z.number().int().min(0).max(256).default(0),
        /** Bytes of JSON body accepted; a base64 module of max_module_size must fit. */
        body_limit: positiveInt.default(3 * 1024 * 1024),
        /** Milliseconds in-flight requests get to finish after SIGTERM. */
        shutdown_grace: positiveInt.default(10_000),
        trust_proxy: z.boolean().default(false),
        /** Server-Sent Events clients on /events at once; more get 503. */
        max_event_clients: positiveInt.default(1000),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        path: z.string().min(1).default('./data'),
        max_open_files: positiveInt.default(1000),
        /** Writes waiting for the writer before it answers 503. */
        queue_limit: positiveInt.default(1000),
      })
      .strict()
      .prefault({}),
    reader: z
      .object({
        cache_size: positiveInt.default(100),
        /** Seconds a cached entry stays valid. */
        ttl: positiveInt.default(3600),
      })
      .strict()
      .prefault({}),
    runner: z
      .object({
        /** Milliseconds for instantiate + call. */
        timeout: positiveInt.default(5000),
        /** Bytes of linear memory one instance may reach (a multiple of 64 KiB is advised). */
        max_memory: positiveInt.max(4 * 1024 * 1024 * 1024).default(268435456),
        /** Calls waiting for a worker before /run answers 503. */
        queue_limit: positiveInt.default(10_000),
        /** Compiled modules kept per process. */
        compiled_cache_size: positiveInt.default(256),
        /** Bytes of stdout and of stderr kept from one WASI run. */
        max_output: positiveInt.default(1024 * 1024),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        max_module_size: positiveInt.default(2 * 1024 * 1024),
        max_args: z.number().int().min(0).max(1000).default(10),
        /** Argument tuples in one batch run. */
        max_batch: positiveInt.max(10_000).default(100),
      })
      .strict()
      .prefault({}),
    rate_limit: z
      .object({
        enabled: z.boolean().default(true),
        max: positiveInt.default(1000),
        /** Milliseconds. */
        window: positiveInt.default(60_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Whole 64 KiB pages that runner.max_memory allows one instance. */
export function maxMemoryPages(config: Config): number {
  return Math.floor(config.runner.max_memory / PAGE_BYTES);
}

/** The pool size a config asks for, resolving 0 to the number of cores. */
export function poolSize(config: Config): number {
  return config.server.workers > 0 ? config.server.workers : availableParallelism();
}
