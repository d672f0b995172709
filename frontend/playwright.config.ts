import { randomBytes } from 'node:crypto';
import { defineConfig } from '@playwright/test';

// Debian's chromium (apt-get install chromium), driven by playwright-core: no browser download.
// The server is a real `labelbay serve` on a temp data folder (e2e/serve.sh).
const port = Number((process.env.LABELBAY_E2E_PORT ??= String(20000 + Math.floor(Math.random() * 20000))));
export const baseURL = `http://127.0.0.1:${port}`;
// The ML analyses HMAC secret: e2e/serve.sh gives it to the server, the tests sign pipeline calls with it.
process.env.LABELBAY_E2E_HMAC_SECRET ??= `e2e-hmac-${randomBytes(16).toString('hex')}`;
process.env.LABELBAY_E2E_ML_MODEL ??= 'e2e_heatmapper';

export default defineConfig({
  testDir: './e2e',
  outputDir: '../test-artifacts/playwright',
  globalSetup: './e2e/global-setup.ts',
  timeout: 120_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    acceptDownloads: true,
    viewport: { width: 1440, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
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
    },
  },
  webServer: {
    command: 'bash e2e/serve.sh',
    url: `${baseURL}/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
