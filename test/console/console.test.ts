// The web console end to end: a real Wess on 127.0.0.1 and Debian's Chromium driven by
// playwright-core. The steps run in order in one browser, like a person would use it; every page
// gets axe-core's check and screenshots at 1280 px and phone width (test/.artifacts/).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { authHeaders, fixture, listen, ROOT, startApp, TEST_ADMIN_KEY, wasiFixture, type TestApp } from '../helper.js';
import { checkPage, launch, needsChromium, screenshots, type Browser } from './browser.js';

const ADD = fileURLToPath(new URL('test/fixtures/wasm/add.wasm', ROOT));
const SINGLE = fileURLToPath(new URL('test/fixtures/wasm/single-export.wasm', ROOT));
const XSS_NAME = '<img src=x onerror=alert(1)>';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('web console in Chromium', needsChromium, () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let moduleId: string;

  before(async () => {
    t = await startApp();
    base = await listen(t.app);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('loads the console at / with nothing but its own assets before sign-in', async () => {
    const { page, requests } = browser;
    await page.goto(base);
    await page.getByLabel('API key').waitFor();
    const paths = requests.map((r) => new URL(r.url).pathname);
    assert.deepEqual(paths.filter((p) => p !== '/' && !p.startsWith('/console/')), [], 'no API request before sign-in');
    assert.equal(await page.getByLabel('API key').getAttribute('type'), 'password');
    await checkPage(page, 'sign-in');
  });

  it('shows a wrong key as a clear message', async () => {
    const { page } = browser;
    await page.getByLabel('API key').fill('not a key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'That is not an API key' }).waitFor();
    await page.getByLabel('API key').fill('wess_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Wess did not accept this key' });
    await alert.waitFor();
    assert.match(await alert.innerText(), /UNAUTHORIZED: Wess did not accept this key: the API key is not valid/);
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('wess.key')"), null, 'a refused key is not kept');
    await screenshots(page, 'wrong-key');
  });

  it('signs in with an admin key, kept in sessionStorage and never in a URL', async () => {
    const { page, requests } = browser;
    // By keyboard: the field has focus, Enter submits.
    await page.getByLabel('API key').fill('');
    await page.keyboard.type(TEST_ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Modules' }).waitFor();
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('wess.key')"), TEST_ADMIN_KEY);
    await page.getByText('testadmin · admin · tenant default').waitFor();
    assert.ok(requests.every((r) => !r.url.includes(TEST_ADMIN_KEY) && !r.url.includes('TESTONLY')), 'the key is in no URL');
    assert.ok(requests.some((r) => r.authorization === `Bearer ${TEST_ADMIN_KEY}`), 'the key goes in the Authorization header');
    // A reload in the same tab keeps the session.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Modules' }).waitFor();
    await page.getByText('testadmin · admin · tenant default').waitFor();
  });

  it('uploads add.wasm with the file picker and shows its inspection report', async () => {
    const { page } = browser;
    await page.getByLabel('Choose a file…').setInputFiles(ADD);
    await page.getByLabel('Module name').fill('calc');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const report = page.getByRole('region', { name: 'Inspection report' });
    await report.waitFor();
    await report.getByText('add(i32, i32) -> i32').waitFor();
    await report.getByText(sha256(fixture('add'))).waitFor();
    const link = page.getByRole('link', { name: 'Open calc' });
    moduleId = ((await link.getAttribute('href')) ?? '').split('/').pop() ?? '';
    await page.getByRole('table').getByRole('link', { name: 'calc' }).waitFor();
    await checkPage(page, 'modules');
  });

  it('shows an upload the server refuses as a clear message', async () => {
    const { page } = browser;
    await page.getByLabel('Choose a file…').setInputFiles({ name: 'junk.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not wasm at all') });
    await page.getByLabel('Module name').fill('junk');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'INVALID_WASM' }).waitFor();
  });

  it('uploads WebAssembly text by drag and drop; the server compiles it', async () => {
    const { page } = browser;
    const text = readFileSync(new URL('test/fixtures/wasm/add.wat', ROOT), 'utf8');
    const files = await page.evaluateHandle(`(() => {
      const data = new DataTransfer();
      data.items.add(new File([${JSON.stringify(text)}], 'adder.wat', { type: 'text/plain' }));
      return data;
    })()`);
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: files });
    await page.getByText('Chosen: adder.wat').waitFor();
    await page.getByLabel('Module name').fill('adder');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByText('Uploaded adder, version 1.').waitFor();
    await page.getByRole('region', { name: 'Inspection report' }).getByText('add(i32, i32) -> i32').waitFor();
  });

  it('runs add(2, 3) from a form generated from its signature and sees 5, with stats', async () => {
    const { page } = browser;
    await page.getByRole('table').getByRole('link', { name: 'calc', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'calc' }).waitFor();
    assert.equal(await page.getByLabel('Argument 1 (i32)').getAttribute('type'), 'number');
    await page.getByLabel('Argument 1 (i32)').fill('2');
    await page.getByLabel('Argument 2 (i32)').fill('3');
    await page.getByRole('button', { name: 'Run' }).click();
    const result = page.locator('.result-value');
    await result.waitFor();
    assert.equal(await result.innerText(), '5');
    await page.getByRole('table', { name: 'Stats' }).getByText('duration_ms').waitFor();
    // Metered: the stats say how much fuel the call used.
    await page.getByLabel('Fuel').fill('1000');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByRole('table', { name: 'Stats' }).getByText('fuel_used').waitFor();
    assert.equal(await result.innerText(), '5');
    await checkPage(page, 'module-run');
  });

  it('runs a batch, each line a call', async () => {
    const { page } = browser;
    await page.getByLabel('Batch', { exact: true }).check();
    await page.getByLabel(/^Batch: one call per line/).fill('1, 2\n3, 4\n5, x');
    await page.getByRole('button', { name: 'Run' }).click();
    const items = page.locator('ol.batch > li');
    await items.nth(2).waitFor();
    const [three, seven, bad] = await items.allInnerTexts();
    assert.deepEqual([three, seven], ['3', '7']);
    assert.match(bad ?? '', /^INVALID_ARGUMENT: /);
  });

  it('uploads a second version, shows the exports\' differences, runs the old one pinned and rolls back', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: /^Versions/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Versions of calc' }).waitFor();
    await page.getByLabel('Choose a file…').setInputFiles(SINGLE);
    await page.getByRole('button', { name: 'Upload new version' }).click();
    await page.getByText('Uploaded version 2.').waitFor();
    await page.getByRole('cell', { name: '2 (current)' }).or(page.getByRole('rowheader', { name: '2 (current)' })).waitFor();
    await page.getByLabel('From', { exact: true }).selectOption('1');
    await page.getByLabel('To', { exact: true }).selectOption('2');
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.locator('.diff-removed').filter({ hasText: 'add(i32, i32) -> i32' }).waitFor();
    await checkPage(page, 'versions');

    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back calc?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page.getByText("Rolled back: version 3 is version 1's content.").waitFor();
    const res = await fetch(`${base}/modules/${moduleId}`, { headers: authHeaders() });
    const module = (await res.json()) as { version: number; sha256: string };
    assert.equal(module.version, 3);
    assert.equal(module.sha256, sha256(fixture('add')));

    await page.getByRole('link', { name: 'Run version 2' }).click();
    await page.getByRole('heading', { level: 1, name: 'calc' }).waitFor();
    assert.equal(await page.getByLabel('Version', { exact: true }).inputValue(), '2');
  });

  it('creates a key, shows its secret once with a copy button, and revokes it', async () => {
    const { page } = browser;
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('heading', { level: 1, name: 'Keys and usage' }).waitFor();
    await page.getByLabel('Key name').fill('ci for acme');
    await page.getByLabel('Role').selectOption('developer');
    await page.getByLabel('Tenant', { exact: true }).fill('acme');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = page.getByLabel('New API key');
    await secret.waitFor();
    const key = await secret.inputValue();
    assert.match(key, /^wess_[0-9a-z]+_/);
    await page.getByRole('button', { name: 'Copy key' }).click();
    // Headless Chromium may refuse the clipboard: then the console says how to copy by hand.
    await page.getByText(/^(Copied\.|Select the key and copy it)/).waitFor();
    const id = key.split('_')[1] ?? '';
    assert.equal((await fetch(`${base}/keys/${id}/usage`, { headers: authHeaders({}, key) })).status, 200, 'the new key works');
    await page.getByRole('button', { name: 'Usage of ci for acme' }).click();
    await page.getByRole('table', { name: new RegExp(`Usage of ${id}`) }).waitFor();
    await checkPage(page, 'keys');

    await page.getByRole('button', { name: 'Revoke ci for acme' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke ci for acme?' });
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await page.getByText(`Key ci for acme (${id}) revoked.`).waitFor();
    assert.equal((await fetch(`${base}/keys/${id}/usage`, { headers: authHeaders({}, key) })).status, 401, 'the revoked key is refused');
  });

  it('shows a live event as it happens, and charts from /metrics', async () => {
    const { page } = browser;
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Live' }).click();
    await page.getByText('Connected: module changes appear here as they happen.').waitFor();
    const made = await fetch(`${base}/modules?name=live`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
    const { id } = (await made.json()) as { id: string };
    await page.getByRole('list', { name: 'Events, newest first' }).getByText(id).waitFor();
    // Three scrapes in (one every 2 s): lines, not just dots.
    await page.locator('svg[aria-label="Request rate"][data-points]:not([data-points="1"]):not([data-points="2"])').waitFor({ timeout: 30_000 });
    await page.getByText(/^requests\/s: \d/).waitFor();
    await page.getByText(/^p50 ms: /).waitFor();
    await checkPage(page, 'live');
  });

  it('shows a module named like markup as text, and injects nothing', async () => {
    const { page } = browser;
    const made = await fetch(`${base}/modules?name=${encodeURIComponent(XSS_NAME)}`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
    assert.equal(made.status, 201);
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Modules' }).click();
    const name = page.getByRole('link', { name: XSS_NAME, exact: true });
    await name.waitFor();
    assert.ok(await name.isVisible(), 'the name is shown, as text');
    assert.equal(await page.locator('img').count(), 0, 'no element was made from it');
    await page.getByLabel('Search modules').fill('onerror');
    await page.getByLabel('Search modules').press('Enter');
    await page.getByText('1 module matches “onerror” (searched all 4). Page 1 of 1.').waitFor();
    assert.equal(await page.getByRole('table').getByRole('row').count(), 2, 'the header and the one match');
    await name.click();
    await page.getByRole('heading', { level: 1, name: XSS_NAME }).waitFor();
    assert.equal(await page.locator('img').count(), 0);
    assert.deepEqual(browser.dialogs, [], 'no script ran');
  });

  it('runs a WASI program with args, env and stdin, and shows stdout and stderr', async () => {
    const { page } = browser;
    const made = await fetch(`${base}/modules?name=shout`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: wasiFixture('echo') });
    assert.equal(made.status, 201);
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Modules' }).click();
    await page.getByRole('table').getByRole('link', { name: 'shout', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'shout' }).waitFor();
    await page.getByLabel('Arguments, one per line').fill('--loud');
    await page.getByLabel('Environment, one NAME=value per line').fill('LANG=C');
    await page.getByLabel('Standard input').fill('quiet please');
    await page.getByRole('button', { name: 'Run' }).click();
    const stdout = page.getByRole('region', { name: 'stdout' }).locator('pre');
    await stdout.getByText('QUIET PLEASE').waitFor();
    await page.getByText('Exit code: 0').waitFor();
    await page.getByRole('region', { name: 'stderr' }).waitFor();
    await checkPage(page, 'module-wasi');
  });

  it('calls a WASI reactor like any module, and shows what it printed', async () => {
    const { page } = browser;
    const made = await fetch(`${base}/modules?name=reactor`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: wasiFixture('lib') });
    assert.equal(made.status, 201);
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Modules' }).click();
    await page.getByRole('table').getByRole('link', { name: 'reactor', exact: true }).click();
    await page.getByLabel('Function').selectOption('greet');
    await page.getByLabel('Argument 1 (i32)').fill('2');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByRole('region', { name: 'stdout' }).getByText('hello from a reactor 1').waitFor();
    assert.equal(await page.locator('.result-value').innerText(), '2');
  });

  it('pages through more modules than one page holds', async () => {
    const { page } = browser;
    for (let i = 0; i < 20; i += 1) {
      const made = await fetch(`${base}/modules?name=bulk-${i}&tenant=bulk`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
      assert.equal(made.status, 201);
    }
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Modules' }).click();
    await page.getByText('Page 1: 20 modules.').waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('Page 2: 6 modules.').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Next page' }).isDisabled(), 'the last page');
    await page.getByLabel('Tenant', { exact: true }).fill('bulk');
    await page.getByLabel('Tenant', { exact: true }).press('Enter');
    await page.getByText('Page 1: 20 modules.').waitFor();
    assert.equal(await page.getByRole('table').getByRole('cell', { name: 'bulk', exact: true }).count(), 20, 'the tenant column');
  });

  it('shows a runner what a runner may do, and a developer what a developer may do', async () => {
    const { page } = browser;
    const runner = await makeKey('runner', 'runner key');
    const developer = await makeKey('developer', 'developer key');
    await signInAs(runner);
    await page.getByText(`${runner.split('_')[1]} · runner or module-scoped · tenant acme`).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Upload a module' }).count(), 0, 'a runner uploads nothing');
    assert.equal(await page.getByRole('columnheader', { name: 'Tenant' }).count(), 0, 'one tenant: no tenant column');
    const nav = page.getByRole('navigation', { name: 'Console' });
    assert.equal(await nav.getByRole('link', { name: 'Keys' }).count(), 0);
    await nav.getByRole('link', { name: 'Usage' }).click();
    await page.getByRole('table', { name: /^Usage of / }).getByText('Runs today').waitFor();
    await checkPage(page, 'usage-runner');

    await signInAs(developer);
    await page.getByText(`developer key · ${developer.split('_')[1]} · developer · tenant acme`).waitFor();
    await page.getByRole('heading', { name: 'Upload a module' }).waitFor();
    await nav.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('heading', { name: 'Keys of tenant acme' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Create a key' }).count(), 0, 'only admins create keys');
    await page.getByRole('button', { name: 'Revoke runner key' }).waitFor();
  });

  it('broke no CSP rule and threw no error on any page', async () => {
    assert.deepEqual(await browser.violations(), []);
    assert.deepEqual(browser.pageErrors.map((e) => e.message), []);
  });

  /** Signs out whoever is signed in and signs in with `key`. */
  async function signInAs(key: string): Promise<void> {
    const { page } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Modules' }).waitFor();
  }

  /** A key of tenant acme with `role`, made through the API as the test admin; its secret. */
  async function makeKey(role: string, name: string): Promise<string> {
    const res = await fetch(`${base}/keys`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ name, role, tenant: 'acme' }) });
    assert.equal(res.status, 201);
    return ((await res.json()) as { key: string }).key;
  }

  it('signs out and forgets the key', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('wess.key')"), null);
  });

  it('signs out a key revoked while it is signed in, saying why', async () => {
    const { page } = browser;
    const key = await makeKey('developer', 'soon revoked');
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Modules' }).waitFor();
    const revoked = await fetch(`${base}/keys/${key.split('_')[1]}`, { method: 'DELETE', headers: authHeaders() });
    assert.equal(revoked.status, 204);
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('alert').filter({ hasText: 'Signed out: Wess no longer accepts this key (the API key has been revoked)' }).waitFor();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.getByRole('alert').count(), 1, 'one message, on the sign-in form');
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('wess.key')"), null);
  });
});
