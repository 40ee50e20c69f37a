import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uploadWasm } from '../lib/client.js';
import { alternate, drive, type Comparison } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { ROOT, startWess, withKey, type Server } from '../lib/servers.js';
import type { LoadSettings } from './warm.js';

const ADD_BODY = JSON.stringify({ function: 'add', args: [1, 2] });

/**
 * What observability costs the hot path, each against the same Wess without it, in alternated rounds
 * of warm /run add: the invocation log (on by default; every call recorded, written a second at a
 * time) against invocations_kept = 0, and tracing on (every request sampled, exported as OTLP to a
 * collector in this process that accepts and drops it) against tracing off (the default, which every
 * other row runs with).
 */
export async function observability(s: LoadSettings): Promise<Row[]> {
  const collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const port = (collector.address() as { port: number }).port;
  const servers: Server[] = [];
  try {
    const without = await start(servers, { WESS_OBSERVABILITY_INVOCATIONS_KEPT: '0' });
    const logged = await start(servers, {});
    const traced = await start(servers, { WESS_TRACING_ENDPOINT: `http://127.0.0.1:${port}` });
    const log = await alternate('invocation log', s.rounds, load(without, s), load(logged, s));
    const tracing = await alternate('tracing', s.rounds, load(logged, s), load(traced, s));
    return [
      row('warm /run add with the invocation log (1000 kept per module, the default) against invocations_kept = 0', log),
      row('warm /run add with tracing on (sample_ratio 1, OTLP to a local collector) against tracing off (the default)', tracing),
    ];
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    collector.close();
  }
}

interface Ready { server: Server; moduleId: string }

async function start(servers: Server[], env: Record<string, string>): Promise<Ready> {
  const server = await startWess(env);
  servers.push(server);
  const add = await uploadWasm(server.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
  return { server, moduleId: add.id };
}

function load(ready: Ready, s: LoadSettings) {
  const headers = withKey({ 'content-type': 'application/json' });
  return () => drive({ url: `${ready.server.url}/modules/${ready.moduleId}/run`, method: 'POST', body: ADD_BODY, headers, connections: s.connections, seconds: s.seconds });
}

function row(scenario: string, c: Comparison): Row {
  const list = (side: Comparison['base']) => side.rounds.map((r) => `${r.rps} (p99 ${r.p99} ms)`).join(' / ');
  return {
    scenario: `observability: ${scenario}`,
    metric: 'req/s',
    wess: c.wess.rps,
    baseline: c.base.rps,
    ratio: c.ratio,
    target: '-',
    pass: null,
    detail: `rounds without ${list(c.base)}; with ${list(c.wess)}`,
  };
}
