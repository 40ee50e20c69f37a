import { After, Before, setDefaultTimeout, setWorldConstructor, World } from '@cucumber/cucumber';
import { listen, startApp, TEST_ADMIN_KEY, type TestApp } from '../../test/helper.js';

export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
  bytes: Buffer;
}

/** One Wess per scenario, on a temp data dir and a real port; steps talk to it over HTTP. */
export class WessWorld extends World {
  service?: TestApp;
  base = '';
  answer?: Answer;
  /** Modules uploaded in this scenario, by the name given in the step. */
  modules = new Map<string, { id: string } & Record<string, unknown>>();
  current?: string;
  /** The API key requests are sent with: the test admin's unless a step switched to another. */
  key: string | undefined = TEST_ADMIN_KEY;
  /** Keys created in this scenario, by the name given in the step. */
  keys = new Map<string, { id: string; key: string; tenant: string }>();

  async start(overrides: Parameters<typeof startApp>[0] = {}): Promise<void> {
    await this.service?.close();
    this.service = await startApp(overrides);
    this.base = await listen(this.service.app);
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const auth: Record<string, string> = this.key ? { authorization: `Bearer ${this.key}` } : {};
    const init: RequestInit = { method, headers: { ...auth, ...headers } };
    if (body instanceof Uint8Array) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.base}${path}`, init);
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    this.answer = { status: res.status, headers: res.headers, body: parsed, text, bytes };
    return this.answer;
  }

  moduleId(name?: string): string {
    const key = name ?? this.current;
    const mod = key ? this.modules.get(key) : undefined;
    if (!mod) throw new Error(`no module "${key}" uploaded in this scenario`);
    return mod.id;
  }
}

setWorldConstructor(WessWorld);

// Cucumber fails a step or hook after 5 s by default: starting an app can take that long on a busy
// machine. A step that must be cut short races its own bound (test/within.ts).
setDefaultTimeout(30_000);

Before(async function (this: WessWorld) {
  await this.start();
});

After(async function (this: WessWorld) {
  await this.service?.close();
});
