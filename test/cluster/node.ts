import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type Proc } from '../process.js';

/** A node of the cluster on `url`: its own (unused) data directory, one worker, limits the corpus needs. */
export async function startNode(url: string, env: Record<string, string> = {}): Promise<{ proc: Proc; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'wess-node-'));
  const proc = await startProcess(dir, {
    env: {
      WESS_DATABASE_URL: url,
      WESS_SERVER_WORKERS: '1',
      WESS_RATE_LIMIT_MAX: '1000000',
      WESS_RATE_LIMIT_ANONYMOUS_MAX: '1000000',
      WESS_LIMITS_MAX_ARGS: '32',
      ...env,
    },
  });
  return { proc, dir };
}
