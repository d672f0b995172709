// Headless Chromium (Debian's, driven by playwright-core from frontend/node_modules via NODE_PATH)
// opens the web app, finds its sign-in form, signs in and waits for the projects page.
// Usage: node sign_in.cjs BASE_URL EMAIL PASSWORD; prints one JSON line of what it saw.
const { chromium } = require('playwright-core');

async function main() {
  const [baseURL, email, password] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const seen = { form: false, signed_in: false, page_errors: [] };
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => seen.page_errors.push(String(error)));
    await page.goto(baseURL + '/');
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.waitFor({ timeout: 30_000 });
    seen.form = true;
    await form.getByLabel('Email').fill(email);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor({ timeout: 30_000 });
    seen.signed_in = true;
  } finally {
    await browser.close();
    console.log(JSON.stringify(seen));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
