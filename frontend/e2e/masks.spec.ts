// Issue 13's acceptance path for the web app's mask tools, in a real Chromium against a real
// `labelbay serve`: on skimage's coins, paint a mask with the brush and save it, make one with
// box → mask (GrabCut on the server), trim it with the eraser before saving, reload and find both
// (the label list and the mask layers), then read them back through the API; click → mask and the
// wand answer editable, unsaved masks; a polygon becomes a mask and a mask its polygon. The SAM
// click tool is absent: no promptable model is registered here. Data is made through the API.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bitmapArea, decodeMask, emptyBitmap, encodeMask } from '../src/mask';

const EMAIL = process.env.LABELBAY_E2E_EMAIL ?? 'admin@example.com';
const PASSWORD = process.env.LABELBAY_E2E_PASSWORD ?? 'e2e-password-123';

interface Setup {
  token: string;
  projectId: number;
  imageId: string;
}

interface ApiAnnotation {
  id: number;
  kind: string;
  label: string;
  geometry: { size?: [number, number]; counts?: string; points?: [number, number][] };
}

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${msg.text()} @ ${msg.location().url}`);
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  return errors;
}

async function ok<T>(answer: Promise<import('@playwright/test').APIResponse>, what: string): Promise<T> {
  const response = await answer;
  expect(response.ok(), `${what}: ${response.status()} ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

/** Sign in, create a project with the class `coin`, upload coins.png (384x303), through the API. */
async function setup(request: APIRequestContext): Promise<Setup> {
  const fixtures = process.env.LABELBAY_E2E_FIXTURES;
  expect(fixtures, 'global setup wrote the fixture images').toBeTruthy();
  const { access_token: token } = await ok<{ access_token: string }>(
    request.post('/api/v1/auth/token', { form: { username: EMAIL, password: PASSWORD, grant_type: 'password' } }),
    'sign in',
  );
  const headers = { Authorization: `Bearer ${token}` };
  const project = await ok<{ id: number }>(
    request.post('/api/v1/projects', { headers, data: { name: `masks ${Date.now()}`, description: '', labels: ['coin'] } }),
    'create project',
  );
  const upload = await ok<{ images: { id: string; width: number; height: number }[] }>(
    request.post(`/api/v1/projects/${project.id}/images`, {
      headers,
      multipart: { files: { name: 'coins.png', mimeType: 'image/png', buffer: readFileSync(join(fixtures!, 'coins.png')) } },
    }),
    'upload',
  );
  expect(upload.images.map((i) => [i.width, i.height])).toEqual([[384, 303]]);
  return { token, projectId: project.id, imageId: upload.images[0].id };
}

async function annotationsOf(request: APIRequestContext, s: Setup): Promise<ApiAnnotation[]> {
  return ok<ApiAnnotation[]>(request.get(`/api/v1/images/${s.imageId}/annotations`, { headers: { Authorization: `Bearer ${s.token}` } }), 'annotations');
}

async function openImage(page: Page, s: Setup): Promise<void> {
  await page.addInitScript((token) => localStorage.setItem('labelbay.token', token), s.token);
  await page.goto(`/projects/${s.projectId}/images/${s.imageId}`);
  await expect(page.getByTestId('stage')).toBeVisible();
  await expect(page.locator('[data-testid=stage] img.stage-image')).toBeVisible();
}

/** Image pixels → page coordinates, through the photo's box on screen (zoom and pan included). */
async function at(page: Page, x: number, y: number): Promise<[number, number]> {
  const rect = (await page.locator('[data-testid=stage] img.stage-image').boundingBox())!;
  return [rect.x + (x * rect.width) / 384, rect.y + (y * rect.height) / 303];
}

async function drag(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  await page.mouse.move(...(await at(page, ...from)));
  await page.mouse.down();
  for (let i = 1; i <= 8; i += 1) {
    await page.mouse.move(...(await at(page, from[0] + ((to[0] - from[0]) * i) / 8, from[1] + ((to[1] - from[1]) * i) / 8)));
  }
  await page.mouse.up();
}

const draftArea = async (page: Page) => Number(await page.getByTestId('mask-draft').getAttribute('data-area'));
const tools = (page: Page) => page.getByRole('group', { name: 'Mask tools' });

test('a brushed mask and a box → mask one are saved, and both are there after a reload', async ({ page, request }) => {
  const consoleErrors = watchConsole(page);
  const s = await setup(request);
  await openImage(page, s);
  await expect(tools(page).getByRole('button')).toHaveText(['Brush', 'Eraser', 'Box → mask', 'Click → mask', 'Magic wand']);

  // The brush: a stroke across the background between the two rows of coins (radius 8 → 16 px wide).
  await tools(page).getByRole('button', { name: 'Brush' }).click();
  await drag(page, [30, 90], [130, 90]);
  await expect(page.getByTestId('mask-draft')).toBeVisible();
  const brushed = await draftArea(page);
  expect(brushed).toBeGreaterThan(100 * 16 * 0.8);
  expect(brushed).toBeLessThan(100 * 16 + Math.PI * 64 + 200);
  await page.getByRole('button', { name: 'Save mask' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Mask saved' })).toBeVisible();
  await expect(page.getByTestId('mask-draft')).toHaveCount(0);
  await expect(page.locator('[data-testid=annotation-row][data-kind=mask]')).toHaveCount(1);

  // Box → mask around the big coin at the top right (its disc has 2,536 pixels); the answer is an
  // unsaved mask the eraser can trim.
  await page.keyboard.press('Escape');
  await tools(page).getByRole('button', { name: 'Box → mask' }).click();
  await drag(page, [306, 16], [363, 73]);
  await expect(page.getByTestId('mask-draft')).toBeVisible();
  const grabbed = await draftArea(page);
  expect(grabbed).toBeGreaterThan(2536 * 0.8);
  expect(grabbed).toBeLessThan(2536 * 1.2);
  await tools(page).getByRole('button', { name: 'Eraser' }).click();
  await drag(page, [300, 44], [370, 44]);
  await expect.poll(() => draftArea(page)).toBeLessThan(grabbed - 300);
  const trimmed = await draftArea(page);
  await page.getByRole('button', { name: 'Save mask' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Mask saved' })).toBeVisible();
  await expect(page.locator('[data-testid=annotation-row][data-kind=mask]')).toHaveCount(2);

  await page.reload();
  await expect(page.locator('[data-testid=stage] img.stage-image')).toBeVisible();
  await expect(page.locator('[data-testid=annotation-row][data-kind=mask]')).toHaveCount(2);
  await expect(page.getByTestId('mask-layer')).toHaveCount(2);
  const layerAreas = await page.getByTestId('mask-layer').evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-area'))));
  expect(layerAreas).toEqual([brushed, trimmed]);
  await page.screenshot({ path: '../test-artifacts/screenshots/masks.png' });

  const masks = (await annotationsOf(request, s)).filter((a) => a.kind === 'mask');
  expect(masks).toHaveLength(2);
  for (const m of masks) {
    expect(m.geometry.size).toEqual([303, 384]);
    expect(m.geometry.counts!.length).toBeGreaterThan(0);
  }
  expect(masks.map((m) => bitmapArea(decodeMask({ size: m.geometry.size!, counts: m.geometry.counts! })))).toEqual([brushed, trimmed]);
  expect(consoleErrors).toEqual([]);
});

test('click → mask and the wand answer unsaved masks; a polygon becomes a mask and a mask a polygon', async ({ page, request }) => {
  const consoleErrors = watchConsole(page);
  const s = await setup(request);
  const headers = { Authorization: `Bearer ${s.token}` };
  const square: [number, number][] = [
    [20, 150],
    [60, 150],
    [60, 190],
    [20, 190],
  ];
  await ok(request.post(`/api/v1/images/${s.imageId}/annotations`, { headers, data: { kind: 'polygon', label: 'coin', geometry: { points: square } } }), 'polygon');
  await openImage(page, s);

  // One positive click in the coin at (101, 57): about its 988-pixel disc. A shift click on the
  // background is a negative click: the clicks so far are sent again with it.
  await tools(page).getByRole('button', { name: 'Click → mask' }).click();
  await page.mouse.click(...(await at(page, 101, 57)));
  await expect(page.getByTestId('mask-draft')).toBeVisible();
  const clicked = await draftArea(page);
  expect(clicked).toBeGreaterThan(988 * 0.7);
  expect(clicked).toBeLessThan(988 * 1.3);
  await page.keyboard.down('Shift');
  await page.mouse.click(...(await at(page, 101, 90)));
  await page.keyboard.up('Shift');
  await expect(page.getByTestId('assist-click')).toHaveCount(2);
  await expect(page.locator('.assist-click.negative')).toHaveCount(1);
  await page.getByRole('button', { name: 'Discard' }).click();
  await expect(page.getByTestId('mask-draft')).toHaveCount(0);

  await tools(page).getByRole('button', { name: 'Magic wand' }).click();
  await expect(page.getByLabel(/Wand tolerance/)).toBeVisible();
  await page.mouse.click(...(await at(page, 101, 57)));
  await expect(page.getByTestId('mask-draft')).toBeVisible();
  expect(await draftArea(page)).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Discard' }).click();

  // Polygon → mask: saved, it replaces the polygon; its pixels are the square's 40x40.
  await page.keyboard.press('Escape');
  await page.locator('[data-testid=annotation-row][data-kind=polygon] button').click();
  await page.getByRole('button', { name: 'Convert to mask' }).click();
  expect(await draftArea(page)).toBe(1600);
  await page.getByRole('button', { name: 'Save mask' }).click();
  await expect(page.locator('[data-testid=annotation-row][data-kind=mask]')).toHaveCount(1);
  await expect(page.locator('[data-testid=annotation-row][data-kind=polygon]')).toHaveCount(0);

  // Mask → polygon: the outline of its border pixels, which replaces the mask.
  // The polygon is stored first and the mask deleted after it: the conversion has ended when the
  // page says so and the mask's row is gone, not when the polygon's row appears.
  await page.getByRole('button', { name: 'Convert to polygon' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Mask converted to a polygon' })).toBeVisible();
  await expect(page.locator('[data-testid=annotation-row][data-kind=mask]')).toHaveCount(0);
  await expect(page.locator('[data-testid=annotation-row][data-kind=polygon]')).toHaveCount(1);
  const stored = await annotationsOf(request, s);
  expect(stored.map((a) => a.kind)).toEqual(['polygon']);
  expect(stored[0].geometry.points).toEqual([
    [20, 150],
    [59, 150],
    [59, 189],
    [20, 189],
  ]);

  // Deleting a mask while its pixels are being edited drops the unsaved edit with it.
  await page.getByRole('button', { name: 'Convert to mask' }).click();
  await page.getByRole('button', { name: 'Save mask' }).click();
  await expect(page.locator('[data-testid=annotation-row][data-kind=polygon]')).toHaveCount(0);
  await expect(page.locator('[data-testid=annotation-row][data-kind=mask]')).toHaveCount(1);
  await tools(page).getByRole('button', { name: 'Brush' }).click();
  await drag(page, [30, 160], [50, 170]);
  await expect(page.getByTestId('mask-editing')).toContainText(/Mask #\d+/);
  await page.getByRole('button', { name: 'Delete (Del)' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Annotation deleted' })).toBeVisible();
  await expect(page.getByTestId('mask-editing')).toHaveCount(0);
  await expect(page.getByTestId('mask-draft')).toHaveCount(0);
  expect(await annotationsOf(request, s)).toEqual([]);
  expect(consoleErrors).toEqual([]);
});

test("a model's masks are drawn as masks over the photo, and its layer toggle hides them", async ({ page, request }) => {
  const consoleErrors = watchConsole(page);
  const s = await setup(request);
  const headers = { Authorization: `Bearer ${s.token}` };
  // A 40×30 rectangle and an L shape as the model's predicted masks, imported as its predictions
  // in labelbay's own JSON format (COCO RLE, as the export writes them).
  const rectangle = emptyBitmap(384, 303);
  for (let y = 20; y < 50; y += 1) for (let x = 30; x < 70; x += 1) rectangle.data[y * 384 + x] = 1;
  const ell = emptyBitmap(384, 303);
  for (let y = 150; y < 250; y += 1) for (let x = 200; x < 220; x += 1) ell.data[y * 384 + x] = 1;
  for (let y = 230; y < 250; y += 1) for (let x = 220; x < 300; x += 1) ell.data[y * 384 + x] = 1;
  const areas = [bitmapArea(rectangle), bitmapArea(ell)];
  const items = [
    {
      original_filename: 'coins.png',
      width: 384,
      height: 303,
      objects: [rectangle, ell].map((bitmap, i) => ({ source: 'prediction', kind: 'mask', label: 'coin', score: 0.9 - i * 0.1, mask: encodeMask(bitmap) })),
    },
  ];
  const job = await ok<{ id: number }>(
    request.post(`/api/v1/projects/${s.projectId}/labels/import`, {
      headers,
      multipart: {
        files: { name: 'labels.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(items)) },
        format: 'labelbay',
        target: 'predictions',
        model: 'e2e-segmenter',
      },
    }),
    'import predicted masks',
  );
  await expect
    .poll(async () => (await ok<{ status: string }>(request.get(`/api/v1/jobs/${job.id}`, { headers }), 'the import job')).status, { timeout: 60_000 })
    .toBe('completed');

  await openImage(page, s);
  const drawn = page.getByTestId('prediction-mask');
  await expect(drawn).toHaveCount(2);
  expect(await drawn.evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-area'))))).toEqual(areas);
  // Each mask keeps its outline box, which selects the prediction.
  await expect(page.getByTestId('prediction-box')).toHaveCount(2);
  await page.getByRole('checkbox', { name: /Predictions: e2e-segmenter/ }).uncheck();
  await expect(drawn).toHaveCount(0);
  await expect(page.getByTestId('prediction-box')).toHaveCount(0);
  expect(consoleErrors).toEqual([]);
});
