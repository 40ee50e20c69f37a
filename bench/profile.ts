import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uploadWasm } from './lib/client.js';
import { drive } from './lib/load.js';
import { withKey, ROOT, startWess } from './lib/servers.js';
import { round, say } from './lib/stats.js';
import { paddedAddModule } from './lib/wasm.js';
import { bindHello } from './scenarios/handlers.js';

/*
 * `node dist/bench/profile.js run|get|upload|batch|handler|wasi [seconds]`: starts Wess with --cpu-prof, drives
 * warm `add` runs or GETs of its metadata (100 connections), 100 KiB uploads (32 connections), batch runs of
 * 100 `add` tuples (40 connections, the noisy neighbour's flood), GETs of the hello HTTP handler
 * (bench/scenarios/handlers.ts) or WASI runs of test/fixtures/wasi/hello.wasm (100 connections each), stops it
 * and prints each thread's top functions by self time (the main thread's file has `0` as its 5th dot-separated
 * part; the others are the workers'). The .cpuprofile files stay in the printed directory (open them in DevTools).
 */

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: Node[]; startTime: number; endTime: number }

function top(profile: Profile, count: number): string[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, hits]) => `${String(round((100 * hits) / total, 1)).padStart(5)}%  ${key}`);
}

async function main(): Promise<void> {
  const what = ['upload', 'get', 'batch', 'handler', 'wasi'].includes(process.argv[2] ?? '') ? process.argv[2] : 'run';
  const seconds = Number(process.argv[3] ?? 10);
  const dir = mkdtempSync(join(tmpdir(), 'wess-prof-'));
  const wess = await startWess({}, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  try {
    if (what === 'get') {
      const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
      const r = await drive({ url: `${wess.url}/modules/${add.id}`, headers: withKey({}), connections: 100, seconds });
      say(`get: ${r.rps} req/s, p99 ${r.p99} ms`);
    } else if (what === 'batch') {
      const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
      const body = JSON.stringify({ function: 'add', batch: Array.from({ length: 100 }, (_, i) => [i, 1]) });
      const r = await drive({ url: `${wess.url}/modules/${add.id}/run`, method: 'POST', body, headers: withKey({ 'content-type': 'application/json' }), connections: 40, seconds });
      say(`batch: ${r.rps} req/s (${r.rps * 100} calls/s), p99 ${r.p99} ms`);
    } else if (what === 'handler') {
      const hello = await bindHello(wess);
      const r = await drive({ url: `${wess.url}${hello.path}`, connections: 100, seconds });
      say(`handler: ${r.rps} req/s, p99 ${r.p99} ms`);
    } else if (what === 'wasi') {
      const hello = await uploadWasm(wess.url, 'hello', readFileSync(join(ROOT, 'test/fixtures/wasi/hello.wasm')));
      const body = JSON.stringify({});
      const r = await drive({ url: `${wess.url}/modules/${hello.id}/run`, method: 'POST', body, headers: withKey({ 'content-type': 'application/json' }), connections: 100, seconds });
      say(`wasi: ${r.rps} req/s, p99 ${r.p99} ms`);
    } else if (what === 'run') {
      const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
      const body = JSON.stringify({ function: 'add', args: [1, 2] });
      const r = await drive({ url: `${wess.url}/modules/${add.id}/run`, method: 'POST', body, headers: withKey({ 'content-type': 'application/json' }), connections: 100, seconds });
      say(`run: ${r.rps} req/s, p99 ${r.p99} ms`);
    } else {
      const mod = paddedAddModule();
      let n = 0;
      const r = await drive({
        url: `${wess.url}/modules?name=p`,
        method: 'POST',
        headers: withKey({ 'content-type': 'application/wasm' }),
        body: mod.bytes,
        setupRequest: (req) => ({ ...req, body: mod.stamp(n++) }),
        connections: 32,
        seconds,
      });
      say(`upload: ${r.rps} uploads/s, p99 ${r.p99} ms`);
    }
  } finally {
    await wess.stop();
  }
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    process.stdout.write(`\n${join(dir, file)}\n${top(profile, 25).join('\n')}\n`);
  }
}

void main();
