// The image view's other overlays and editors, in a real Chromium against a real `labelbay serve`:
// an ML analysis posted through the HMAC-signed pipeline API (its heatmap drawn under its boxes,
// following the opacity slider and its own layer toggle), and editing circles and polygons (move,
// radius handle, vertex handle, relabel, delete), checked through the API after a reload.
// The data is made through the API; the browser only views and edits it.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const EMAIL = process.env.LABELBAY_E2E_EMAIL ?? 'admin@example.com';
const PASSWORD = process.env.LABELBAY_E2E_PASSWORD ?? 'e2e-password-123';
const SECRET = process.env.LABELBAY_E2E_HMAC_SECRET ?? '';
const MODEL = process.env.LABELBAY_E2E_ML_MODEL ?? 'e2e_heatmapper';

interface Setup {
  token: string;
  projectId: number;
  imageId: string;
  width: number;
  height: number;
}

interface ApiAnnotation {
  id: number;
  kind: string;
  label: string;
  geometry: Record<string, unknown>;
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

/** Sign in, create a project and upload camera.jpg (256x256), all through the API. */
async function setup(request: APIRequestContext, labels: string[]): Promise<Setup> {
  const fixtures = process.env.LABELBAY_E2E_FIXTURES;
  expect(fixtures, 'global setup wrote the fixture images').toBeTruthy();
  const { access_token: token } = await ok<{ access_token: string }>(
    request.post('/api/v1/auth/token', { form: { username: EMAIL, password: PASSWORD, grant_type: 'password' } }),
    'sign in',
  );
  const headers = { Authorization: `Bearer ${token}` };
  const project = await ok<{ id: number }>(
    request.post('/api/v1/projects', { headers, data: { name: `overlays ${Date.now()}`, description: '', labels } }),
    'create project',
  );
  const upload = await ok<{ images: { id: string; width: number; height: number }[] }>(
    request.post(`/api/v1/projects/${project.id}/images`, {
      headers,
      multipart: { files: { name: 'camera.jpg', mimeType: 'image/jpeg', buffer: readFileSync(join(fixtures!, 'camera.jpg')) } },
    }),
    'upload',
  );
  expect(upload.images).toHaveLength(1);
  const image = upload.images[0];
  return { token, projectId: project.id, imageId: image.id, width: image.width, height: image.height };
}

async function openImage(page: Page, s: Setup): Promise<void> {
  await page.addInitScript((token) => localStorage.setItem('labelbay.token', token), s.token);
  await page.goto(`/projects/${s.projectId}/images/${s.imageId}`);
  await expect(page.getByTestId('stage')).toBeVisible();
  await expect(page.locator('[data-testid=stage] img.stage-image')).toBeVisible();
}

/** A pipeline call signed like README "Signing a request": HMAC-SHA256 of `ts.METHOD.path.` + body. */
async function signed<T>(request: APIRequestContext, method: 'POST' | 'PATCH', path: string, body: unknown): Promise<T> {
  const raw = JSON.stringify(body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', SECRET).update(`${timestamp}.${method}.${path}.${raw}`).digest('hex');
  return ok<T>(
    request.fetch(path, {
      method,
      data: raw,
      headers: { 'Content-Type': 'application/json', 'X-ML-Timestamp': timestamp, 'X-ML-Signature': signature },
    }),
    `${method} ${path}`,
  );
}

test('an ML analysis: its heatmap is drawn under its boxes, follows the opacity slider and its toggle', async ({ page, request }) => {
  expect(SECRET, 'playwright.config.ts shares the server HMAC secret (LABELBAY_E2E_HMAC_SECRET)').not.toBe('');
  const consoleErrors = watchConsole(page);
  const s = await setup(request, ['object']);

  // The pipeline's flow: create, processing, presign a heatmap artifact, PUT it, post annotations, finalise.
  const analysis = await signed<{ id: string }>(request, 'POST', `/api/images/${s.imageId}/analyses`, {
    image_id: s.imageId,
    model_name: MODEL,
    model_version: '1.0.0',
    parameters: { e2e: true },
  });
  await signed(request, 'PATCH', `/api/analyses/${analysis.id}/status`, { status: 'processing' });
  const presigned = await signed<{ upload_url: string; storage_path: string }>(request, 'POST', `/api/analyses/${analysis.id}/artifacts/presign`, {
    artifact_type: 'heatmap',
    filename: 'heatmap.png',
  });
  const png = readFileSync(join(process.env.LABELBAY_E2E_FIXTURES!, 'astronaut.png')); // any PNG will do as the heatmap
  const put = await request.put(presigned.upload_url, { data: png, headers: { 'Content-Type': 'image/png' } });
  expect(put.ok(), `PUT artifact: ${put.status()}`).toBe(true);
  await signed(request, 'POST', `/api/analyses/${analysis.id}/annotations:bulk`, {
    annotations: [
      { annotation_type: 'bounding_box', class_name: 'object', confidence: 0.9, data: { x_min: 40, y_min: 40, x_max: 160, y_max: 140 } },
      { annotation_type: 'heatmap', data: { width: 256, height: 256 }, storage_path: presigned.storage_path },
    ],
  });
  const final = await signed<{ status: string }>(request, 'POST', `/api/analyses/${analysis.id}/finalize`, { status: 'completed' });
  expect(final.status).toBe('completed');

  await openImage(page, s);
  const analyses = page.getByTestId('analyses');
  await expect(analyses).toContainText(`${MODEL} 1.0.0 · completed · 2 annotations`);
  const heatmap = page.locator('svg [data-layer=heatmaps] image[data-testid=heatmap]');
  await expect(heatmap, 'no heatmap before an analysis is selected').toHaveCount(0);
  await analyses.getByRole('checkbox').first().check();

  // The heatmap: an <image> from a blob (fetched with the credential), stretched over the photo.
  await expect(heatmap).toHaveCount(1);
  await expect(page.getByTestId('analysis-box')).toHaveCount(1);
  await expect(heatmap).toHaveAttribute('href', /^blob:/);
  await expect(heatmap).toHaveAttribute('width', String(s.width));
  await expect(heatmap).toHaveAttribute('height', String(s.height));
  await expect(heatmap).toHaveAttribute('preserveAspectRatio', 'none');
  const bytes = await heatmap.evaluate(async (el) => (await (await fetch(el.getAttribute('href')!)).blob()).size);
  expect(bytes, 'the blob holds the uploaded artifact').toBe(png.length);
  const heatmapBox = (await heatmap.boundingBox())!;
  const photoBox = (await page.locator('[data-testid=stage] img.stage-image').boundingBox())!;
  expect(heatmapBox.width).toBeCloseTo(photoBox.width, 0);
  expect(heatmapBox.height).toBeCloseTo(photoBox.height, 0);
  // Under the boxes: earlier in the SVG's document order than the analysis's box.
  const under = await page.evaluate(() => {
    const h = document.querySelector('[data-testid=stage] [data-testid=heatmap]')!;
    const b = document.querySelector('[data-testid=stage] [data-testid=analysis-box]')!;
    return Boolean(h.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  expect(under, 'the heatmap is drawn before (under) the boxes').toBe(true);

  // The opacity slider drives the heatmap (and the outlines).
  const slider = page.getByLabel('Overlay opacity');
  await expect(heatmap).toHaveAttribute('opacity', await slider.inputValue());
  await slider.fill('0.3');
  await expect(heatmap).toHaveAttribute('opacity', '0.3');
  await expect(page.locator('[data-testid=stage] [data-testid=outlines]')).toHaveAttribute('opacity', '0.3');
  await slider.fill('0.75');
  await expect(heatmap).toHaveAttribute('opacity', '0.75');

  // Its own layer toggle hides and shows it, leaving the boxes alone.
  const toggle = page.getByRole('checkbox', { name: new RegExp(`^Heatmaps ${MODEL}`) });
  await toggle.uncheck();
  await expect(heatmap).toHaveCount(0);
  await expect(page.getByTestId('analysis-box')).toHaveCount(1);
  await toggle.check();
  await expect(heatmap).toHaveCount(1);
  await page.screenshot({ path: join(import.meta.dirname, '../../test-artifacts/screenshots/09-analysis-heatmap.png'), fullPage: true });

  // Unselecting the analysis removes its overlays.
  await analyses.getByRole('checkbox').first().uncheck();
  await expect(heatmap).toHaveCount(0);
  expect(consoleErrors, 'no console errors').toEqual([]);
});

test('circles and polygons: move, resize the radius, drag a vertex, relabel, delete — all persisted', async ({ page, request }) => {
  const consoleErrors = watchConsole(page);
  const s = await setup(request, ['spot', 'coin', 'region']);
  const headers = { Authorization: `Bearer ${s.token}` };
  const add = (kind: string, label: string, geometry: Record<string, unknown>) =>
    ok<ApiAnnotation>(request.post(`/api/v1/images/${s.imageId}/annotations`, { headers, data: { kind, label, geometry } }), `add ${kind}`);
  const circle0 = await add('circle', 'spot', { cx: 80, cy: 80, r: 30 });
  const polygon0 = await add('polygon', 'region', { points: [[150, 150], [220, 150], [200, 220]] });
  const stored = async () => {
    const all = await ok<ApiAnnotation[]>(request.get(`/api/v1/images/${s.imageId}/annotations`, { headers }), 'annotations');
    return new Map(all.map((a) => [a.id, a]));
  };
  const saved = () => page.waitForResponse((r) => r.url().includes('/api/v1/annotations/') && r.request().method() === 'PATCH' && r.ok());
  const drag = async (from: { x: number; y: number }, dx: number, dy: number) => {
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(from.x + dx, from.y + dy, { steps: 6 });
    await page.mouse.up();
  };
  const centre = async (locator: import('@playwright/test').Locator) => {
    const b = (await locator.boundingBox())!;
    return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
  };

  await openImage(page, s);
  const circle = page.locator('[data-testid=stage] [data-testid=annotation-circle]');
  const polygon = page.locator('[data-testid=stage] [data-testid=annotation-polygon]');
  await expect(circle).toHaveAttribute('data-circle', '80,80,30');
  await expect(polygon).toHaveAttribute('data-points', '150,150 220,150 200,220');
  const photo = page.locator('[data-testid=stage] img.stage-image');
  const scale = (await photo.boundingBox())!.width / s.width;
  // A click inside the polygon: its vertices' mean (inside any triangle), in screen pixels.
  const clickPolygon = async () => {
    const pts = (await polygon.getAttribute('data-points'))!.split(' ').map((p) => p.split(',').map(Number));
    const at = (await photo.boundingBox())!;
    const mean = (i: number) => pts.reduce((sum, p) => sum + p[i], 0) / pts.length;
    await page.mouse.click(at.x + mean(0) * scale, at.y + mean(1) * scale);
  };

  // Move the circle: grab its middle, drag by (40, 30) screen pixels.
  let patch = saved();
  await drag(await centre(circle), 40, 30);
  await patch;
  const [cx, cy, r] = (await circle.getAttribute('data-circle'))!.split(',').map(Number);
  expect(cx).toBeCloseTo(80 + 40 / scale, 0);
  expect(cy).toBeCloseTo(80 + 30 / scale, 0);
  expect(r).toBe(30);
  await expect(page.getByTestId('selected-annotation')).toContainText(`Selected circle #${circle0.id}`);

  // Resize it with the radius handle: drag it 20 screen pixels further out.
  patch = saved();
  await drag(await centre(page.getByTestId('handle-radius')), 20, 0);
  await patch;
  const r2 = Number((await circle.getAttribute('data-circle'))!.split(',')[2]);
  expect(r2).toBeCloseTo(30 + 20 / scale, 0);

  // Relabel the circle from the label set.
  await page.getByTestId('selected-annotation').getByLabel('Class').selectOption('coin');
  await expect(circle).toHaveAttribute('data-label', 'coin');

  // Select the polygon and drag its first vertex up and left; a drag past the image's edge stays inside.
  await clickPolygon();
  await expect(page.getByTestId('selected-annotation')).toContainText(`Selected polygon #${polygon0.id}`);
  const vertex = page.locator('[data-testid=handle-vertex][data-index="0"]');
  patch = saved();
  await drag(await centre(vertex), -30, -24);
  await patch;
  const points = (await polygon.getAttribute('data-points'))!.split(' ').map((p) => p.split(',').map(Number));
  expect(points[0][0]).toBeCloseTo(150 - 30 / scale, 0);
  expect(points[0][1]).toBeCloseTo(150 - 24 / scale, 0);
  expect(points.slice(1)).toEqual([[220, 150], [200, 220]]);
  patch = saved();
  await drag(await centre(vertex), (s.width - points[0][0]) * scale + 80, 0); // past the image's right edge: clamped to it
  await patch;
  const clamped = (await polygon.getAttribute('data-points'))!.split(' ')[0].split(',').map(Number);
  expect(clamped[0]).toBe(s.width);

  // Reload: the API has the new geometry and label.
  await page.reload();
  await expect(circle).toHaveCount(1);
  let now = await stored();
  const c = now.get(circle0.id)!.geometry as { cx: number; cy: number; r: number };
  expect([c.cx, c.cy, c.r]).toEqual([cx, cy, r2]);
  expect(now.get(circle0.id)!.label).toBe('coin');
  expect((now.get(polygon0.id)!.geometry as { points: number[][] }).points).toEqual([[s.width, points[0][1]], [220, 150], [200, 220]]);
  await expect(circle).toHaveAttribute('data-circle', `${cx},${cy},${r2}`);

  // Delete the polygon with the Delete key and the circle with the button.
  await clickPolygon();
  await expect(page.getByTestId('selected-annotation')).toContainText(`Selected polygon #${polygon0.id}`);
  await page.keyboard.press('Delete');
  await expect(polygon).toHaveCount(0);
  const middle = await centre(circle);
  await page.mouse.click(middle.x, middle.y);
  await page.getByTestId('selected-annotation').getByRole('button', { name: /Delete/ }).click();
  await expect(circle).toHaveCount(0);
  now = await stored();
  expect(now.has(circle0.id) || now.has(polygon0.id), 'both deleted on the server').toBe(false);
  expect(consoleErrors, 'no console errors').toEqual([]);
});
