import { performance } from 'node:perf_hooks';
import { runCall, uploadWasm } from '../lib/client.js';
import type { Row } from '../lib/result.js';
import { requestLogs, type Server } from '../lib/servers.js';
import { median, round, say, sleep } from '../lib/stats.js';
import { bigCodeModule } from '../lib/wasm.js';

/**
 * Cold path: upload a fresh ~1 MiB-code module, then its first run, `count` times in sequence.
 * Server time = the access log's `ms` of the upload + that of the first run (matched by x-request-id);
 * client time (fetch, round trips included) is reported beside it.
 */
export async function coldPath(wess: Server, count: number): Promise<Row[]> {
  if (!wess.logFile) throw new Error('cold path needs Wess with a log file');
  const tag = `cold-${process.pid}-${Date.now()}`;
  const client: number[] = [];
  const modules = Array.from({ length: count }, (_, i) => bigCodeModule(1000 + i));
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const info = await uploadWasm(wess.url, `cold-${i}`, modules[i]!, `${tag}-up-${i}`);
    const res = await runCall(wess.url, info.id, { function: 'add', args: [1, 2] }, `${tag}-run-${i}`);
    if (res.status !== 200) throw new Error(`first run answered ${res.status}: ${JSON.stringify(res.body)}`);
    client.push(performance.now() - t0);
  }
  await sleep(500); // the logger's buffer reaches the file
  const ms = new Map<string, number>();
  for (const entry of requestLogs(wess.logFile)) {
    if (typeof entry.request_id === 'string' && entry.request_id.startsWith(tag)) ms.set(entry.request_id, entry.ms as number);
  }
  const upload: number[] = [];
  const run: number[] = [];
  const server: number[] = [];
  for (let i = 0; i < count; i++) {
    const u = ms.get(`${tag}-up-${i}`);
    const r = ms.get(`${tag}-run-${i}`);
    if (u === undefined || r === undefined) continue;
    upload.push(u);
    run.push(r);
    server.push(u + r);
  }
  if (server.length === 0) throw new Error('no access-log lines matched the cold-path request ids');
  const total = round(median(server));
  say(`cold path: server ms ${server.map((v) => round(v, 1)).join(' ')}`);
  return [
    {
      scenario: `cold: upload + first run, ${Math.round(modules[0]!.length / 1024)} KiB code (n=${server.length})`,
      metric: 'server ms (median)',
      wess: total,
      baseline: null,
      ratio: null,
      target: '≤ 30 ms',
      pass: total <= 30,
      detail: `upload ${round(median(upload))} ms + first run ${round(median(run))} ms (medians); max ${round(Math.max(...server))} ms; client round trip median ${round(median(client))} ms`,
    },
  ];
}
