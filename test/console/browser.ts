import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from '../helper.js';

/** The browser: Debian's chromium package (.ci/run installs it), or WESS_CHROMIUM (e.g. a CI image's Chrome). */
export const CHROMIUM = process.env.WESS_CHROMIUM || '/usr/bin/chromium';

/**
 * node:test options for the browser tests: on a clone without Chromium they skip, loudly; under
 * CI they run and fail (.ci/run installs it), as the conformance suite does without its corpus.
 */
export const needsChromium: { skip: string | false } = {
  skip: !existsSync(CHROMIUM) && !process.env.CI ? `${CHROMIUM} MISSING: the console's browser tests are SKIPPED (apt-get install chromium)` : false,
};
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Where screenshots go (ignored by git). */
export const ARTIFACTS = fileURLToPath(new URL('test/.artifacts/', ROOT));
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** CSP violations the page reported, as "directive blocked-uri". */
  violations(): Promise<string[]>;
  /** Errors thrown in the page. */
  pageErrors: Error[];
  /** Every URL the page requested, in order, with its Authorization header when it had one. */
  requests: Array<{ url: string; authorization: string | undefined }>;
  /** Dialogs opened by the page (alert(), confirm()): the console opens none. */
  dialogs: string[];
  close(): Promise<void>;
}

/** Real headless Chromium on a fresh profile (a temp user-data-dir, removed on close). */
export async function launch(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'wess-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: DESKTOP });
  // Runs before the page's own scripts and is not subject to its CSP (it is the browser's, not the page's).
  // (Strings of page code: the tests compile without the DOM's types.)
  await context.addInitScript({
    content: `window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  // A step that waits this long is broken, not slow.
  page.setDefaultTimeout(15_000);
  const browser: Browser = {
    context,
    page,
    pageErrors: [],
    requests: [],
    dialogs: [],
    violations: () => page.evaluate<string[]>('window.cspViolations ?? []'),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
  page.on('pageerror', (err) => browser.pageErrors.push(err));
  page.on('request', (request) => browser.requests.push({ url: request.url(), authorization: request.headers().authorization }));
  page.on('dialog', (dialog) => {
    browser.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return browser;
}

const AXE = readFileSync(new URL('node_modules/axe-core/axe.min.js', ROOT), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/**
 * axe-core's WCAG 2 A/AA checks of the page as it is now; its serious and critical violations.
 * The script is evaluated through the DevTools protocol, which the page's CSP does not govern
 * (a <script> tag with its source inline would be refused, as it should be).
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const tags = JSON.stringify(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']);
  const violations = await page.evaluate<AxeViolation[]>(`axe.run(document, { runOnly: { type: 'tag', values: ${tags} } }).then((r) => r.violations)`);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`);
}

/**
 * Screenshots of the page at desktop and phone width, as test/.artifacts/console-<name>-<width>.png;
 * with `axe`, the accessibility check at each width too (a table that scrolls sideways on a phone
 * must be reachable by keyboard, which only the narrow layout shows).
 */
export async function screenshots(page: Page, name: string, axe = false): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const size of [DESKTOP, PHONE]) {
    await page.setViewportSize(size);
    if (axe) assert.deepEqual(await axeViolations(page), [], `axe on the ${name} page at ${size.width} px`);
    await page.screenshot({ path: join(ARTIFACTS, `console-${name}-${size.width}.png`), fullPage: true });
    // At phone width nothing may stick out sideways: the page scrolls only down.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    assert.ok(overflow <= 1, `${name} at ${size.width} px is ${overflow} px wider than the screen`);
  }
  await page.setViewportSize(DESKTOP);
}

/** The accessibility check and the screenshots of one page, at both widths. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await screenshots(page, name, true);
}
