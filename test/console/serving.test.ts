// How Wess serves the console, over plain HTTP: the page to browsers and JSON to others on GET /,
// the assets under /console/, each under the console's CSP, while API answers keep the API's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listen, startApp, type TestApp } from '../helper.js';

describe('GET / and the console assets over HTTP', () => {
  let t: TestApp;
  let base: string;
  before(async () => {
    t = await startApp();
    base = await listen(t.app);
  });
  after(() => t.close());

  it('gives a browser the console under its own CSP, others JSON, and API answers keep theirs', async () => {
    const page = await fetch(base, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /^default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i, 'nothing inline');

    const json = await fetch(base, { headers: { accept: 'application/json' } });
    assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await json.json()) as { docs: string }).docs, '/docs');

    const script = await fetch(`${base}/console/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    assert.equal(script.headers.get('content-security-policy'), csp);
    await script.arrayBuffer();

    const missing = await fetch(`${base}/console/nope.js`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    const api = await fetch(`${base}/health/live`);
    await api.arrayBuffer();
    assert.equal(api.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'");
  });
});
