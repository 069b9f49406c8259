// Opens one page in Debian's Chromium (driven by npm playwright-core, which
// never downloads a browser) and prints what the page saw as one JSON object
// on stdout. Used by test_cors_browser.py; run from the repository so that
// `playwright-core` resolves from its node_modules.
//
//   node cors_page.mjs PAGE_URL [CHROMIUM_PATH]
//
// The page (served by the test) makes its API calls on load and sets
// window.__qcDone = true with window.__qcResults when it has finished.
// Output: {"results": [...the page's own report...], "console_errors": [...],
// "page_errors": [...], "requests": [...every URL the page requested...],
// "off_loopback": [...those not to 127.0.0.1 or localhost...],
// "failed_requests": [{url, failure}], "timed_out": bool}.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const [pageUrl, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!pageUrl) {
  console.error('usage: node cors_page.mjs PAGE_URL [CHROMIUM_PATH]');
  process.exit(2);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
function onLoopback(url) {
  if (url.startsWith('data:') || url.startsWith('about:')) return true;
  try {
    const u = new URL(url);
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK.has(u.hostname);
  } catch {
    return false;
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), 'qc-chromium-'));
const report = {
  results: null,
  console_errors: [],
  page_errors: [],
  requests: [],
  off_loopback: [],
  failed_requests: [],
  timed_out: false,
};
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 60_000,
  });
  context.on('request', (request) => {
    const url = request.url();
    report.requests.push(url);
    if (!onLoopback(url)) report.off_loopback.push(url);
  });
  context.on('requestfailed', (request) => {
    report.failed_requests.push({ url: request.url(), failure: request.failure()?.errorText ?? '' });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') report.console_errors.push(message.text());
  });
  page.on('pageerror', (error) => report.page_errors.push(String(error)));
  await page.goto(pageUrl, { waitUntil: 'load', timeout: 30_000 });
  try {
    await page.waitForFunction(() => window.__qcDone === true, null, { timeout: 30_000 });
  } catch {
    report.timed_out = true;
  }
  report.results = await page.evaluate(() => window.__qcResults ?? null);
  // Console messages of the last failures may arrive just after the page's
  // callbacks: give them a moment.
  await page.waitForTimeout(200);
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + '\n');
