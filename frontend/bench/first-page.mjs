// Time from navigation to a project's page until its first grid page is on screen with
// thumbnails decoded. Used by `make bench` (bench/bench_scale.py) on a 100,000-image project.
// Usage: node bench/first-page.mjs BASE_URL TOKEN PROJECT_ID RUNS
import { chromium } from 'playwright-core';

const [base, token, projectId, runs = '5'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(`${base}/`);
  await page.evaluate((t) => localStorage.setItem('labelbay.token', t), token);
  const times = [];
  for (let i = 0; i < Number(runs); i += 1) {
    const started = Date.now();
    await page.goto(`${base}/projects/${projectId}`);
    await page.waitForFunction(() => {
      const thumbs = [...document.querySelectorAll('[data-testid=tile] img.thumb')];
      return thumbs.length >= 20 && thumbs.slice(0, 20).every((img) => img.complete && img.naturalWidth > 0);
    }, null, { timeout: 30_000 });
    times.push(Date.now() - started);
  }
  console.log(JSON.stringify(times));
} finally {
  await browser.close();
}
