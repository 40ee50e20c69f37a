import assert from 'node:assert/strict';
import { After, Given, Then } from '@cucumber/cucumber';
import type { WessWorld } from '../support/world.js';

interface Watcher {
  events: { type: string; module_id: string }[];
  stop(): void;
}

const watchers = new WeakMap<WessWorld, Watcher>();

async function watch(world: WessWorld, query: string): Promise<void> {
  const controller = new AbortController();
  const res = await fetch(`${world.base}/events${query}`, { headers: world.key ? { authorization: `Bearer ${world.key}` } : {}, signal: controller.signal });
  assert.equal(res.status, 200);
  const watcher: Watcher = { events: [], stop: () => controller.abort() };
  watchers.set(world, watcher);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let cut = buffer.indexOf('\n\n'); cut !== -1; cut = buffer.indexOf('\n\n')) {
          const data = buffer.slice(0, cut).split('\n').find((line) => line.startsWith('data: '));
          buffer = buffer.slice(cut + 2);
          if (data) watcher.events.push(JSON.parse(data.slice(6)) as Watcher['events'][number]);
        }
      }
    } catch {
      // the scenario ended and aborted the stream
    }
  })();
}

Given('I am watching the event stream', async function (this: WessWorld) {
  await watch(this, '');
});

Given('I am watching the event stream of {string}', async function (this: WessWorld, name: string) {
  await watch(this, `?module=${this.moduleId(name)}`);
});

Then('I see the events {string} for {string}', async function (this: WessWorld, list: string, name: string) {
  const expected = list.split(',').map((s) => s.trim());
  const watcher = watchers.get(this);
  assert.ok(watcher, 'not watching');
  for (let i = 0; watcher.events.length < expected.length && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(watcher.events.map((e) => e.type), expected);
  const id = this.moduleId(name);
  assert.ok(watcher.events.every((e) => e.module_id === id));
});

After(function (this: WessWorld) {
  watchers.get(this)?.stop();
});
