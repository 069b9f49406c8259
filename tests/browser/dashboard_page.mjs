// Drives one page in Debian's Chromium (npm playwright-core, which never
// downloads a browser) through a plan of steps and prints what it saw as one
// JSON object on the last line of stdout. Used by test_dashboard_browser.py;
// run from the repository so that `playwright-core` resolves.
//
//   node dashboard_page.mjs PLAN.json [CHROMIUM_PATH]
//
// PLAN.json: {"steps": [step, ...]}, each step one of
//   {"viewport": [w, h]}
//   {"goto": URL}                       load a page (waits for "load")
//   {"wait": JS, "name": N, "timeout": ms}   until the expression is truthy
//   {"eval": JS, "name": N}             store the expression's value under N
//   {"press": KEY, "times": n}          keyboard
//   {"screenshot": PATH, "fullPage": b}
//   {"mark": N}                         remember how many console errors so far
//   {"signal": N}                       print {"signal": N} and wait for a line on stdin
// A failed wait ends the plan (the report says which). JS is an expression
// evaluated in the page.
// Output: {"values": {...}, "failed_step": null | {...}, "marks": {...},
// "console_errors": [...], "page_errors": [...], "requests": [...],
// "off_loopback": [...], "failed_requests": [{url, failure}]}.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { chromium } from 'playwright-core';

const [planPath, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!planPath) {
  console.error('usage: node dashboard_page.mjs PLAN.json [CHROMIUM_PATH]');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planPath, 'utf8'));

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
function onLoopback(url) {
  if (url.startsWith('data:') || url.startsWith('about:') || url.startsWith('blob:')) return true;
  try {
    const u = new URL(url);
    if (u.protocol === 'file:') return true;
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK.has(u.hostname);
  } catch {
    return false;
  }
}

const lines = createInterface({ input: process.stdin });
const pending = [];
const waiting = [];
lines.on('line', (l) => (waiting.length ? waiting.shift()(l) : pending.push(l)));
const nextLine = () => (pending.length ? Promise.resolve(pending.shift()) : new Promise((r) => waiting.push(r)));

const report = {
  values: {},
  failed_step: null,
  marks: {},
  console_errors: [],
  page_errors: [],
  requests: [],
  off_loopback: [],
  failed_requests: [],
};
const userDataDir = mkdtempSync(join(tmpdir(), 'qc-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--allow-file-access-from-files'],
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
  for (const [index, step] of plan.steps.entries()) {
    try {
      if (step.viewport) {
        await page.setViewportSize({ width: step.viewport[0], height: step.viewport[1] });
      } else if (step.goto) {
        await page.goto(step.goto, { waitUntil: 'load', timeout: 30_000 });
      } else if (step.wait) {
        await page.waitForFunction(step.wait, null, { timeout: step.timeout ?? 20_000, polling: 50 });
      } else if (step.eval) {
        report.values[step.name] = await page.evaluate(step.eval);
      } else if (step.press) {
        for (let i = 0; i < (step.times ?? 1); ++i) await page.keyboard.press(step.press);
      } else if (step.screenshot) {
        await page.waitForTimeout(300);  // charts draw on the next frames
        await page.screenshot({ path: step.screenshot, fullPage: !!step.fullPage });
      } else if (step.mark) {
        report.marks[step.mark] = report.console_errors.length;
      } else if (step.signal) {
        process.stdout.write(JSON.stringify({ signal: step.signal }) + '\n');
        await nextLine();
      }
    } catch (e) {
      let diagnosis = null;
      try {
        diagnosis = await page.evaluate(() => ({ url: location.href, text: document.body.innerText.slice(0, 2000) }));
      } catch {
        // the page is gone
      }
      report.failed_step = { index, step, error: String(e).split('\n')[0], page: diagnosis };
      break;
    }
  }
  await page.waitForTimeout(200);
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
  lines.close();
}
process.stdout.write(JSON.stringify(report) + '\n');
