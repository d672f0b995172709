// The acceptance path of issue 6, in a real Chromium against a real `labelbay serve`:
// sign in → create a project → upload 5 files (one refused, its reason shown) → run `circles` on the
// coins image → see its boxes → accept one and move/resize it → comment → reload: all still there →
// export COCO and read the file.
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const EMAIL = process.env.LABELBAY_E2E_EMAIL ?? 'admin@example.com';
const PASSWORD = process.env.LABELBAY_E2E_PASSWORD ?? 'e2e-password-123';
const SHOTS = resolve(import.meta.dirname, '../../test-artifacts/screenshots');
mkdirSync(SHOTS, { recursive: true });

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

function box(text: string | null): number[] {
  expect(text, 'the box carries its coordinates').toBeTruthy();
  return text!.split(',').map(Number);
}

test('review workflow: upload, run circles, correct a box, comment, persist, export COCO', async ({ page }) => {
  const fixtures = process.env.LABELBAY_E2E_FIXTURES;
  expect(fixtures, 'global setup wrote the fixture images').toBeTruthy();
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${msg.text()} @ ${msg.location().url}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));

  // Sign in.
  await page.goto('/');
  await expect(page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await shot(page, '01-sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('current-user')).toHaveText(EMAIL);

  // Create a project whose label set includes `circle`.
  await expect(page.getByRole('heading', { name: 'Projects' })).toBeVisible();
  const name = `coins ${Date.now()}`;
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Labels (comma separated)').fill('circle, coin, background');
  await shot(page, '02-projects');
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  const projectUrl = page.url();

  // Upload five files through the file picker: four images and one that is not an image.
  const files = ['coins.png', 'camera.jpg', 'astronaut.png', 'noise.webp', 'notes.png'].map((f) => join(fixtures!, f));
  await page.getByLabel('Choose image files to upload').setInputFiles(files);
  await expect(page.getByText('Total: 4 stored, 1 refused of 5')).toBeVisible();
  const refused = page.getByTestId('rejected');
  await expect(refused).toContainText('notes.png');
  const reason = (await refused.locator('li').first().innerText()).replace(/^notes\.png:\s*/, '');
  expect(reason.trim().length, `a reason is shown for the refused file: "${reason}"`).toBeGreaterThan(3);
  await expect(page.getByTestId('tile')).toHaveCount(4);
  await expect(page.locator('[data-testid=tile] img.thumb')).toHaveCount(4); // server thumbnails loaded
  await shot(page, '03-project-uploaded');

  // Run the built-in `circles` model on the coins image only, and watch the job finish.
  await page.getByLabel('Select coins.png').check();
  const modelPicker = page.getByRole('region', { name: 'Run a model' }).getByRole('combobox');
  await expect(modelPicker.locator('option', { hasText: 'circles' }), 'GET /api/v1/models lists the built-in circles model').toHaveCount(1);
  await modelPicker.selectOption('circles');
  await expect(page.getByLabel('Selected (1)')).toBeChecked();
  await page.getByRole('button', { name: 'Run model' }).click();
  const job = page.getByTestId('job');
  await expect(job).toBeVisible();
  await expect(job).toHaveAttribute('data-status', 'completed', { timeout: 90_000 });
  await expect(job).toContainText('1/1 done');
  await shot(page, '04-job-done');

  // The image view draws the model's boxes.
  await page.locator('[data-filename="coins.png"] a').click();
  const predictions = page.locator('svg [data-layer=prediction] [data-testid=prediction-box]');
  await expect(predictions.first()).toBeVisible();
  const predicted = await predictions.count();
  expect(predicted, 'circles finds coins in the coins picture').toBeGreaterThanOrEqual(5);
  await shot(page, '05-image-predictions');

  // Accept detection 1: a circle model's detection becomes a circle annotation (same kind).
  await page.getByRole('button', { name: 'Accept detection 1', exact: true }).click();
  await expect(page.locator('svg [data-testid=annotation-circle]')).toHaveCount(1);

  // Draw a box (b, drag) with a class, leave draw mode, then correct it: move it and resize it.
  await page.getByLabel('Class to draw').selectOption('circle');
  const stage = (await page.getByTestId('stage').boundingBox())!;
  const drawn = page.waitForResponse((r) => r.url().endsWith('/annotations') && r.request().method() === 'POST' && r.ok());
  await page.keyboard.press('b');
  await page.mouse.move(stage.x + stage.width * 0.3, stage.y + stage.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(stage.x + stage.width * 0.45, stage.y + stage.height * 0.45, { steps: 5 });
  await page.mouse.up();
  await drawn;
  await page.keyboard.press('b');
  await expect(page.getByRole('button', { name: 'Draw box (b)' })).toHaveAttribute('aria-pressed', 'false');
  const annotation = page.locator('svg [data-testid=annotation-box]');
  await expect(annotation).toHaveCount(1);
  const accepted = box(await annotation.getAttribute('data-box'));

  const rect = (await annotation.boundingBox())!;
  const saved = () =>
    page.waitForResponse((r) => r.url().includes('/api/v1/annotations/') && r.request().method() === 'PATCH' && r.ok());
  let patch = saved();
  await page.mouse.move(rect.x + rect.width / 2, rect.y + rect.height / 2);
  await page.mouse.down();
  await page.mouse.move(rect.x + rect.width / 2 + 15, rect.y + rect.height / 2 + 10, { steps: 5 });
  await page.mouse.up();
  await patch;
  await expect(annotation).not.toHaveAttribute('data-box', accepted.join(','));
  const moved = box(await annotation.getAttribute('data-box'));
  expect(moved[0]).toBeGreaterThan(accepted[0]);
  expect(moved[2] - moved[0]).toBeCloseTo(accepted[2] - accepted[0], 0);

  const handle = (await page.getByTestId('handle-se').boundingBox())!;
  patch = saved();
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
  await page.mouse.down();
  await page.mouse.move(handle.x + handle.width / 2 + 12, handle.y + handle.height / 2 + 12, { steps: 5 });
  await page.mouse.up();
  await patch;
  await expect(annotation).not.toHaveAttribute('data-box', moved.join(','));
  const corrected = box(await annotation.getAttribute('data-box'));
  expect(corrected[2] - corrected[0]).toBeGreaterThan(moved[2] - moved[0]);
  expect(corrected[3] - corrected[1]).toBeGreaterThan(moved[3] - moved[1]);

  // Set the box's class from the label set, reject detection 2, comment, mark reviewed.
  await page.getByTestId('selected-annotation').getByLabel('Class').selectOption('coin');
  await expect(annotation).toHaveAttribute('data-label', 'coin');
  await page.getByRole('button', { name: 'Reject detection 2', exact: true }).click();
  await expect(predictions.nth(1)).toHaveAttribute('data-verdict', 'rejected');
  const comment = `box 1 moved to cover the whole coin (${Date.now()})`;
  await page.getByLabel('New comment').fill(comment);
  await page.getByRole('button', { name: 'Add comment' }).click();
  await expect(page.getByTestId('comments')).toContainText(comment);
  await page.getByTestId('review-toggle').click();
  await expect(page.getByTestId('review-status')).toHaveText('reviewed');
  await shot(page, '06-image-corrected');

  // Reload: everything came from the server, not from the page's memory.
  await page.reload();
  await expect(predictions).toHaveCount(predicted);
  await expect(annotation).toHaveCount(1);
  await expect(page.locator('svg [data-testid=annotation-circle]')).toHaveCount(1);
  expect(box(await annotation.getAttribute('data-box'))).toEqual(corrected);
  await expect(annotation).toHaveAttribute('data-label', 'coin');
  await expect(predictions.first()).toHaveAttribute('data-verdict', 'accepted');
  await expect(predictions.nth(1)).toHaveAttribute('data-verdict', 'rejected');
  await expect(page.getByTestId('comments')).toContainText(comment);
  await expect(page.getByTestId('review-status')).toHaveText('reviewed');

  // Keyboard: `b` enters draw mode, Escape leaves it.
  await page.keyboard.press('b');
  await expect(page.getByRole('button', { name: 'Draw box (b)' })).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('button', { name: 'Draw box (b)' })).toHaveAttribute('aria-pressed', 'false');
  await shot(page, '07-image-after-reload');

  // Export COCO from the project page and read the file.
  await page.goto(projectUrl);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.getByLabel('Labels to export')).toHaveValue('annotations');
  const downloading = page.waitForEvent('download', { timeout: 20_000 });
  await page.getByRole('button', { name: 'Export COCO' }).click();
  const file = await downloading;
  const path = join(SHOTS, '..', 'export-coco.json');
  await file.saveAs(path);
  const coco = JSON.parse(readFileSync(path, 'utf-8')) as {
    images: { id: number; file_name: string }[];
    annotations: { image_id: number; bbox: number[]; category_id: number }[];
    categories: { id: number; name: string }[];
  };
  expect(Array.isArray(coco.images) && Array.isArray(coco.annotations) && Array.isArray(coco.categories)).toBe(true);
  expect(coco.images.map((i) => i.file_name)).toEqual(expect.arrayContaining([expect.stringContaining('coins')]));
  expect(coco.annotations.length).toBeGreaterThanOrEqual(1);
  expect(coco.categories.map((c) => c.name)).toContain('coin');
  const corrected_bbox = coco.annotations.find((a) => Math.abs(a.bbox[0] - corrected[0]) < 1 && Math.abs(a.bbox[1] - corrected[1]) < 1);
  expect(corrected_bbox, 'the corrected box is in the export').toBeTruthy();
  await shot(page, '08-project-export');

  expect(consoleErrors, 'no console errors').toEqual([]);
});
