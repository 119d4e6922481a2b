// Render beads-ui's page in a real headless chromium and report what a person sees.
// usage: node render_page.mjs NODE_MODULES_DIR CHROMIUM URL EXPECTED_TEXT SCREENSHOT_PNG PROFILE_DIR
// Prints one JSON line: {"ok", "text" (the page's visible text), "error"?}.
import { createRequire } from 'node:module';
import path from 'node:path';

const [nodeModules, chromium, url, expected, shot, profile] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'playwright-core', 'package.json'));
const { chromium: pw } = require('playwright-core');

const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // containers often have a small /dev/shm, where chromium can stall at start
  '--disable-dev-shm-usage'];
let context;
try {
  context = await pw.launchPersistentContext(profile, {
    executablePath: chromium, headless: true, args, timeout: 90000,  // a loaded 2-core machine starts it slowly
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 20000 });
  await page.getByText(expected, { exact: false }).first().waitFor({ timeout: 20000 });
  await page.screenshot({ path: shot, fullPage: true });
  const text = await page.evaluate(() => document.body.innerText);
  process.stdout.write(JSON.stringify({ ok: true, text }) + '\n');
} catch (err) {
  let text = '';
  try { text = await context.pages()[0].evaluate(() => document.body.innerText); } catch { /* none */ }
  process.stdout.write(JSON.stringify({ ok: false, error: String(err), text }) + '\n');
} finally {
  if (context) await context.close();
}
