// The project grid is virtualised: with hundreds of images loaded by infinite scroll, only the rows
// near the viewport are in the DOM, and scrolling back brings the first tiles (and thumbnails) back.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const EMAIL = process.env.LABELBAY_E2E_EMAIL ?? 'admin@example.com';
const PASSWORD = process.env.LABELBAY_E2E_PASSWORD ?? 'e2e-password-123';
const TOTAL = 350; // 4 pages of 100

test('the image grid renders only the rows near the viewport while infinite-scrolling', async ({ page, request }) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${msg.text()} @ ${msg.location().url}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));

  const signIn = await request.post('/api/v1/auth/token', { form: { username: EMAIL, password: PASSWORD, grant_type: 'password' } });
  expect(signIn.ok()).toBe(true);
  const { access_token: token } = (await signIn.json()) as { access_token: string };
  const headers = { Authorization: `Bearer ${token}` };
  const made = await request.post('/api/v1/projects', { headers, data: { name: `grid ${Date.now()}`, description: '', labels: [] } });
  expect(made.ok()).toBe(true);
  const project = (await made.json()) as { id: number };
  const bytes = readFileSync(join(process.env.LABELBAY_E2E_FIXTURES!, 'noise.webp'));
  const form = new FormData();
  for (let i = 0; i < TOTAL; i += 1) form.append('files', new Blob([bytes], { type: 'image/webp' }), `img-${String(i).padStart(4, '0')}.webp`);
  const upload = await request.post(`/api/v1/projects/${project.id}/images`, { headers, multipart: form, timeout: 60_000 });
  expect(upload.ok(), `upload: ${upload.status()}`).toBe(true);
  expect(((await upload.json()) as { images: unknown[] }).images).toHaveLength(TOTAL);

  await page.addInitScript((t) => localStorage.setItem('labelbay.token', t), token);
  await page.goto(`/projects/${project.id}`);
  const tiles = page.getByTestId('tile');
  const count = page.getByTestId('image-count');
  await expect(count).toHaveText('100+ images');
  await expect(page.locator('[data-testid=tile] img.thumb').first()).toBeVisible(); // thumbnails still load
  const firstScreen = await tiles.count();
  expect(firstScreen, 'only the first rows of the first page are rendered').toBeLessThan(100);
  expect(firstScreen).toBeGreaterThan(0);

  // Scroll to the end until every page is loaded: the DOM keeps about a screenful of tiles. Each
  // scroll must load a page (the count changes); there are at most TOTAL / 100 pages to load.
  const counts: number[] = [];
  for (let pages = 1; pages < Math.ceil(TOTAL / 100) && (await count.innerText()) !== `${TOTAL} images`; pages += 1) {
    const before = await count.innerText();
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await expect(count, `a page loads after scrolling past ${before}`).not.toHaveText(before);
    counts.push(await tiles.count());
  }
  await expect(count).toHaveText(`${TOTAL} images`);
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await expect(page.locator(`[data-testid=tile][data-index="${TOTAL - 1}"]`)).toBeVisible();
  await expect(page.locator('[data-testid=tile][data-index="0"]'), 'the first tile left the DOM').toHaveCount(0);
  // A screenful plus a few rows above and below: fewer than one page, with all pages loaded.
  const most = Math.max(...counts, await tiles.count());
  expect(most, `tiles in the DOM while scrolling: ${counts.join(', ')}`).toBeLessThan(100);
  expect(most, 'bounded by the viewport, not by the images loaded').toBeLessThanOrEqual(2 * firstScreen);
  await expect(page.locator('[data-testid=tile][data-index="0"]')).toHaveCount(0);
  await page.screenshot({ path: join(import.meta.dirname, '../../test-artifacts/screenshots/10-grid-scrolled.png') });

  // Back to the top: the first tiles come back with their thumbnails, and they still open.
  await page.evaluate(() => window.scrollTo(0, 0));
  const first = page.locator('[data-testid=tile][data-index="0"]');
  await expect(first).toBeVisible();
  await expect(first.locator('img.thumb')).toBeVisible();
  await expect(first).toHaveAttribute('data-filename', 'img-0000.webp');
  expect(await tiles.count()).toBeLessThan(100);
  await first.locator('a').click();
  await expect(page.getByTestId('stage')).toBeVisible();
  expect(consoleErrors, 'no console errors').toEqual([]);
});
