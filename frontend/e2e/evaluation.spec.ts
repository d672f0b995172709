// Issue 11's acceptance path in a real Chromium against a real `labelbay serve`: the data is made
// through the API (upload the coins picture, run the built-in `circles` model, draw two ground-truth
// boxes: one a found coin, one where the model found nothing, mark the image reviewed); the browser
// then runs an evaluation from the evaluation page, sees mAP and a PR curve, clicks a confusion cell
// and lands on the grid filtered to its image, whose view draws the missed box; the dashboard
// lists the run.
import { expect, test, type APIRequestContext, type APIResponse, type Page } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const EMAIL = process.env.LABELBAY_E2E_EMAIL ?? 'admin@example.com';
const PASSWORD = process.env.LABELBAY_E2E_PASSWORD ?? 'e2e-password-123';
const SHOTS = resolve(import.meta.dirname, '../../test-artifacts/screenshots');
mkdirSync(SHOTS, { recursive: true });
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

async function ok<T>(answer: Promise<APIResponse>, what: string): Promise<T> {
  const response = await answer;
  expect(response.ok(), `${what}: ${response.status()} ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

interface Setup {
  token: string;
  projectId: number;
  imageId: string;
  predicted: number;
}

async function setup(request: APIRequestContext): Promise<Setup> {
  const fixtures = process.env.LABELBAY_E2E_FIXTURES;
  expect(fixtures, 'global setup wrote the fixture images').toBeTruthy();
  const { access_token: token } = await ok<{ access_token: string }>(
    request.post('/api/v1/auth/token', { form: { username: EMAIL, password: PASSWORD, grant_type: 'password' } }),
    'sign in',
  );
  const headers = { Authorization: `Bearer ${token}` };
  const project = await ok<{ id: number }>(
    request.post('/api/v1/projects', { headers, data: { name: `evaluation ${Date.now()}`, description: '', labels: ['circle'] } }),
    'create project',
  );
  const upload = await ok<{ images: { id: string }[] }>(
    request.post(`/api/v1/projects/${project.id}/images`, {
      headers,
      multipart: { files: { name: 'coins.png', mimeType: 'image/png', buffer: readFileSync(join(fixtures!, 'coins.png')) } },
    }),
    'upload',
  );
  const imageId = upload.images[0].id;
  const job = await ok<{ id: number }>(
    request.post(`/api/v1/projects/${project.id}/jobs`, { headers, data: { model: 'circles', save_outputs: false } }),
    'run circles',
  );
  await expect
    .poll(async () => (await ok<{ status: string }>(request.get(`/api/v1/jobs/${job.id}`, { headers }), 'job')).status, { timeout: 90_000 })
    .toBe('completed');
  const [prediction] = await ok<{ labels: { kind: string; label: string; geometry: Record<string, number> }[] }[]>(
    request.get(`/api/v1/images/${imageId}/predictions`, { headers }),
    'predictions',
  );
  expect(prediction.labels.length, 'circles finds coins').toBeGreaterThanOrEqual(2);
  const found = prediction.labels[0];
  // Ground truth: the first coin exactly as found (a true positive), and a box in the top-left
  // corner where there is no coin (missed: a false negative). The other coins are false positives.
  for (const data of [
    { kind: found.kind, label: 'circle', geometry: found.geometry },
    { kind: 'box', label: 'circle', geometry: { x1: 1, y1: 1, x2: 13, y2: 13 } },
  ]) {
    await ok(request.post(`/api/v1/images/${imageId}/annotations`, { headers, data }), 'annotate');
  }
  await ok(request.post(`/api/v1/images/${imageId}/review`, { headers, data: { status: 'reviewed' } }), 'review');
  return { token, projectId: project.id, imageId, predicted: prediction.labels.length };
}

/** Click the confusion chart's cell (row `gtClass`, column `predClass`) where ECharts draws it. */
async function clickCell(page: Page, gtClass: string, predClass: string): Promise<void> {
  const chart = page.getByTestId('confusion-chart');
  const rows = (await chart.getAttribute('data-rows'))!.split(',');
  const columns = (await chart.getAttribute('data-columns'))!.split(',');
  const [left, top, right, bottom] = (await chart.getAttribute('data-grid'))!.split(',').map(Number);
  const area = (await chart.boundingBox())!;
  const width = (area.width - left - right) / columns.length;
  const height = (area.height - top - bottom) / rows.length;
  await chart.click({
    position: { x: left + (columns.indexOf(predClass) + 0.5) * width, y: top + (rows.indexOf(gtClass) + 0.5) * height },
  });
}

test('evaluation: run from the UI, read mAP and a PR curve, open a confusion cell, see the missed box', async ({ page, request }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  const s = await setup(request);
  await page.addInitScript((token) => localStorage.setItem('labelbay.token', token), s.token);
  await page.goto(`/projects/${s.projectId}/evaluations`);

  // Start: the built-in circles model against the reviewed image's annotations.
  const form = page.getByRole('form', { name: 'Evaluate a model' });
  const model = form.getByRole('combobox', { name: /^Model version/ });
  const option = model.locator('option', { hasText: 'circles' });
  await expect(option).toHaveCount(1);
  await model.selectOption((await option.getAttribute('value'))!);
  await form.getByRole('combobox', { name: /^Ground truth/ }).selectOption('reviewed');
  await form.getByRole('button', { name: 'Run evaluation' }).click();

  // The report: mAP as the API computed it, over all classes and over the classes present.
  const report = page.getByTestId('evaluation-report');
  await expect(report).toBeVisible({ timeout: 60_000 });
  const headers = { Authorization: `Bearer ${s.token}` };
  const [stored] = await ok<{ id: number; status: string; metrics: { map: number; at_threshold: { tp: number; fp: number; fn: number } } }[]>(
    request.get(`/api/v1/projects/${s.projectId}/evaluations`, { headers }),
    'evaluations',
  );
  expect(stored.status).toBe('completed');
  expect(stored.metrics.at_threshold).toEqual({ ...stored.metrics.at_threshold, tp: 1, fn: 1, fp: s.predicted - 1 });
  const mapRow = page.locator('[data-testid=summary-table] tr[data-metric=map] td');
  await expect(mapRow.first()).toHaveText(stored.metrics.map.toFixed(3));
  await expect(mapRow.nth(1)).toHaveText(stored.metrics.map.toFixed(3)); // the one class is present
  expect(stored.metrics.map).toBeGreaterThan(0);

  // A PR curve, drawn by the chart library on its canvas.
  const pr = page.getByTestId('pr-chart');
  await expect(pr).toHaveAttribute('data-classes', 'circle');
  await expect(pr.locator('canvas')).toBeVisible();
  await expect(page.getByTestId('comparison')).toContainText('circles');
  await shot(page, 'eval-01-report');

  // The cell "circle missed" (ground truth circle, predicted background) opens the filtered grid.
  await clickCell(page, 'circle', 'background');
  await expect(page).toHaveURL(/gt_class=circle&pred_class=background/);
  await expect(page.getByTestId('outcome-filter')).toContainText(`evaluation #${stored.id}`);
  await expect(page.getByTestId('tile')).toHaveCount(1);
  await shot(page, 'eval-02-filtered-grid');

  // The image view from there: one prediction green (TP), the rest red (FP), the missed box dashed.
  await page.getByTestId('tile').locator('a').click();
  await expect(page.getByTestId('evaluation-outcome')).toContainText('1 missed');
  const missed = page.getByTestId('missed-box');
  await expect(missed).toHaveCount(1);
  await expect(missed).toHaveAttribute('stroke-dasharray', '6 4');
  await expect(page.locator('[data-testid=prediction-box][data-outcome=tp]')).toHaveCount(1);
  await expect(page.locator('[data-testid=prediction-box][data-outcome=fp]')).toHaveCount(s.predicted - 1);
  await shot(page, 'eval-03-image-outcomes');

  // The dashboard: one image, reviewed, and the evaluation as the model version's latest.
  await page.goto(`/projects/${s.projectId}/dashboard`);
  await expect(page.getByTestId('stat-images')).toHaveText('1');
  await expect(page.getByTestId('stat-reviewed')).toHaveText('1');
  await expect(page.getByTestId('classes-chart').locator('canvas')).toBeVisible();
  await expect(page.getByRole('region', { name: 'Latest evaluation per model version' })).toContainText(`#${stored.id}`);
  await shot(page, 'eval-04-dashboard');
  expect(errors).toEqual([]);
});
