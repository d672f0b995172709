// Review mode (issue 12), in a real Chromium against a real `labelbay serve`: a reviewer works
// through five images of the `uncertain` queue with the keyboard only (accept all, an undo,
// a rejection with a reason), a second reviewer draws a fix on the rejected image and accepts it,
// and the image's history shows both. The data is made through the API: six images, and one
// imported model's predictions with known scores, so the queue's order is known.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const EMAIL = process.env.LABELBAY_E2E_EMAIL ?? 'admin@example.com';
const PASSWORD = process.env.LABELBAY_E2E_PASSWORD ?? 'e2e-password-123';
const FIXER = `fixer-${Date.now()}@example.com`;
const FIXER_PASSWORD = 'fixer-password-123';
// Upload name, fixture file, the model's score: a box scored 0.5 is the least certain.
const IMAGES: [string, string, number][] = [
  ['coins.png', 'coins.png', 0.5],
  ['camera.jpg', 'camera.jpg', 0.55],
  ['astronaut.png', 'astronaut.png', 0.6],
  ['noise.webp', 'noise.webp', 0.65],
  ['camera2.jpg', 'camera.jpg', 0.7],
  ['astronaut2.png', 'astronaut.png', 0.9],
];
const REASON = 'the box misses most of the object';

async function ok<T>(answer: Promise<import('@playwright/test').APIResponse>, what: string): Promise<T> {
  const response = await answer;
  expect(response.ok(), `${what}: ${response.status()} ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

async function token(request: APIRequestContext, email: string, password: string): Promise<string> {
  const answer = await ok<{ access_token: string }>(
    request.post('/api/v1/auth/token', { form: { username: email, password, grant_type: 'password' } }),
    `sign in ${email}`,
  );
  return answer.access_token;
}

async function setup(request: APIRequestContext) {
  const fixtures = process.env.LABELBAY_E2E_FIXTURES!;
  const admin = await token(request, EMAIL, PASSWORD);
  const headers = { Authorization: `Bearer ${admin}` };
  const project = await ok<{ id: number }>(
    request.post('/api/v1/projects', { headers, data: { name: `review queue ${Date.now()}`, description: '', labels: ['cat', 'dog'] } }),
    'create project',
  );
  const ids: Record<string, string> = {};
  for (const [name, file] of IMAGES) {
    const mimeType = name.endsWith('.jpg') ? 'image/jpeg' : name.endsWith('.webp') ? 'image/webp' : 'image/png';
    const upload = await ok<{ images: { id: string }[] }>(
      request.post(`/api/v1/projects/${project.id}/images`, { headers, multipart: { files: { name, mimeType, buffer: readFileSync(join(fixtures, file)) } } }),
      `upload ${name}`,
    );
    ids[name] = upload.images[0].id;
  }
  // The model's labels, as a COCO results file imported as its predictions.
  const coco = {
    images: IMAGES.map(([name], i) => ({ id: i + 1, file_name: name, width: 100, height: 100 })),
    categories: [{ id: 1, name: 'cat' }],
    annotations: IMAGES.map(([, , score], i) => ({ id: i + 1, image_id: i + 1, category_id: 1, bbox: [10, 10, 50, 40], area: 2000, iscrowd: 0, score })),
  };
  // A label import is a job: follow it to its end.
  const job = await ok<{ id: number }>(
    request.post(`/api/v1/projects/${project.id}/labels/import`, {
      headers,
      multipart: {
        files: { name: 'results.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(coco)) },
        format: 'coco',
        target: 'predictions',
        model: 'e2e-detector',
      },
    }),
    'import predictions',
  );
  type ImportJob = { status: string; progress: { labels_added: number; problems: number } | null };
  let imported: ImportJob | null = null;
  await expect
    .poll(async () => (imported = await ok<ImportJob>(request.get(`/api/v1/jobs/${job.id}`, { headers }), 'the import job')).status, { timeout: 60_000 })
    .toBe('completed');
  expect(imported!.progress).toMatchObject({ labels_added: IMAGES.length, problems: 0 });
  await ok(request.post('/api/v1/users', { headers, data: { email: FIXER, password: FIXER_PASSWORD } }), 'create the second reviewer');
  await ok(request.put(`/api/v1/projects/${project.id}/members`, { headers, data: { email: FIXER, role: 'annotator' } }), 'add the second reviewer');
  return { admin, projectId: project.id, ids };
}

async function openReview(page: Page, accessToken: string, projectId: number): Promise<void> {
  await page.addInitScript((t) => localStorage.setItem('labelbay.token', t), accessToken);
  await page.goto(`/projects/${projectId}/review`);
  await expect(page.getByRole('form', { name: 'Review queue' })).toBeVisible();
}

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${msg.text()} @ ${msg.location().url}`);
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  return errors;
}

test('review mode: five uncertain images by keyboard, a rejection fixed by a second reviewer, both in the history', async ({ page, browser, request }) => {
  const s = await setup(request);
  const errors = watchConsole(page);
  await openReview(page, s.admin, s.projectId);
  await expect(page.getByLabel('Strategy', { exact: true })).toHaveValue('uncertain');
  await expect(page.getByLabel('Model', { exact: true })).toContainText('e2e-detector');

  const current = page.getByTestId('review-image');
  const history = page.getByTestId('review-history');
  const open = async (name: string) => {
    await expect(current.getByRole('heading')).toHaveText(name);
    await expect(current).toHaveAttribute('data-image-id', s.ids[name]);
    await expect(page.getByTestId('lease')).toContainText(`In review by ${EMAIL}`);
    await expect(page.getByTestId('lease-left')).toHaveText(/^(9|10):\d\d$/); // the 600 s lease
    await expect(page.locator('[data-testid=stage] img.stage-image')).toBeVisible();
  };

  // 1: accept all (a), then the next (n).
  await page.keyboard.press('n');
  await open('coins.png');
  await page.keyboard.press('a');
  await expect(page.getByTestId('verdict')).toContainText('reviewed');
  await expect(page.getByTestId('annotation-count')).toHaveText('1'); // the model's box, accepted

  // 2: accept, undo (back in review under a lease, the accepted box gone), accept again.
  await page.keyboard.press('ArrowRight');
  await open('camera.jpg');
  await page.keyboard.press('a');
  await expect(page.getByTestId('verdict')).toContainText('reviewed');
  await page.keyboard.press('u');
  await expect(page.getByTestId('lease')).toContainText(`In review by ${EMAIL}`);
  await expect(page.getByTestId('annotation-count')).toHaveText('0');
  await expect(history.locator('li[data-action=undo]')).toHaveCount(2); // the verdict and the accepted predictions
  await page.keyboard.press('a');
  await expect(page.getByTestId('verdict')).toContainText('reviewed');

  // 3: reject with a reason (r opens the field, Enter submits).
  await page.keyboard.press('n');
  await open('astronaut.png');
  await page.keyboard.press('r');
  await expect(page.getByLabel('Reason for rejecting')).toBeFocused();
  await page.keyboard.type(REASON);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('verdict')).toContainText('rejected');
  await expect(history.locator('li[data-action=reject]')).toContainText(REASON);

  // 4 and 5.
  for (const name of ['noise.webp', 'camera2.jpg']) {
    await page.keyboard.press('n');
    await open(name);
    await page.keyboard.press('a');
    await expect(page.getByTestId('verdict')).toContainText('reviewed');
  }
  const statuses = await ok<{ images: { original_filename: string; review_status: string }[] }>(
    request.get(`/api/v1/projects/${s.projectId}/images?limit=50`, { headers: { Authorization: `Bearer ${s.admin}` } }),
    'list images',
  );
  const byName = Object.fromEntries(statuses.images.map((i) => [i.original_filename, i.review_status]));
  expect(byName).toEqual({
    'coins.png': 'reviewed',
    'camera.jpg': 'reviewed',
    'astronaut.png': 'rejected',
    'noise.webp': 'reviewed',
    'camera2.jpg': 'reviewed',
    'astronaut2.png': 'unreviewed',
  });

  // The second reviewer draws the queue of rejected images, draws a box and accepts the image.
  const fixerToken = await token(request, FIXER, FIXER_PASSWORD);
  const context = await browser.newContext();
  const fixer = await context.newPage();
  const fixerErrors = watchConsole(fixer);
  await openReview(fixer, fixerToken, s.projectId);
  await fixer.getByLabel('Strategy', { exact: true }).selectOption('unreviewed');
  await fixer.getByLabel('Images', { exact: true }).selectOption('rejected');
  await fixer.getByRole('button', { name: 'Start (n)' }).click();
  await expect(fixer.getByTestId('review-image')).toHaveAttribute('data-image-id', s.ids['astronaut.png']);
  await expect(fixer.getByTestId('lease')).toContainText(`In review by ${FIXER}`);
  await expect(fixer.getByTestId('review-history').locator('li[data-action=reject]')).toContainText(REASON);
  const stage = fixer.getByTestId('stage');
  await expect(fixer.locator('[data-testid=stage] img.stage-image')).toBeVisible();
  await fixer.getByRole('button', { name: 'Draw box (b)' }).click();
  const area = (await stage.boundingBox())!;
  const cx = area.x + area.width / 2;
  const cy = area.y + area.height / 2;
  await fixer.mouse.move(cx - 60, cy - 60);
  await fixer.mouse.down();
  await fixer.mouse.move(cx + 40, cy + 30, { steps: 5 });
  await fixer.mouse.up();
  await expect(fixer.getByTestId('annotation-box')).toHaveCount(1);
  await fixer.getByRole('button', { name: 'Accept image (A)' }).click();
  await expect(fixer.getByTestId('verdict')).toContainText('reviewed');

  const events = fixer.getByTestId('review-history').locator('li');
  await expect(events).toHaveCount(4);
  const rows = await events.evaluateAll((items) => items.map((li) => [li.getAttribute('data-email'), li.getAttribute('data-action')]));
  expect(rows).toEqual([
    [EMAIL, 'claim'],
    [EMAIL, 'reject'],
    [FIXER, 'claim'],
    [FIXER, 'accept'],
  ]);
  await expect(events.nth(1)).toContainText(REASON);

  const image = await ok<{ review_status: string }>(
    request.get(`/api/v1/images/${s.ids['astronaut.png']}`, { headers: { Authorization: `Bearer ${s.admin}` } }),
    'the fixed image',
  );
  expect(image.review_status).toBe('reviewed');
  const annotations = await ok<{ label: string; created_by_id: number | null }[]>(
    request.get(`/api/v1/images/${s.ids['astronaut.png']}/annotations`, { headers: { Authorization: `Bearer ${s.admin}` } }),
    'the fix',
  );
  expect(annotations).toHaveLength(1);
  expect(errors).toEqual([]);
  expect(fixerErrors).toEqual([]);
  await context.close();
});
