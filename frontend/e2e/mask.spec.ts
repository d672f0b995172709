// The web app's mask code (src/mask.ts) against the reference tools, in Node (no browser):
// pycocotools' RLE of each bitmap decodes to the same pixels and our encoding of those pixels is
// the same text; the outline of the largest part is OpenCV's (the server's `mask_polygon`); a
// polygon rasterises like pycocotools within a pixel of its border; a brush stroke and the eraser
// set and clear what they cover. The cases are made by e2e/mask_cases.py with the project's Python.
import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import {
  bitmapArea,
  bitmapBox,
  bitmapOutline,
  decodeMask,
  emptyBitmap,
  encodeMask,
  maskBox,
  maskHas,
  paintStroke,
  polygonBitmap,
  rleRuns,
  rleText,
  type Bitmap,
} from '../src/mask';

interface Case {
  name: string;
  size: [number, number];
  counts: string;
  area: number;
  bits: string;
  outline: [number, number][] | null;
}

const python = resolve(import.meta.dirname, '../../.venv/bin/python');
const made = JSON.parse(
  execFileSync(python, [resolve(import.meta.dirname, 'mask_cases.py')], { maxBuffer: 64 << 20, encoding: 'utf8' }),
) as { cases: Case[]; polygon: { points: [number, number][]; size: [number, number]; bits: string } };

const bitmapOf = (size: [number, number], bits: string): Bitmap => ({ height: size[0], width: size[1], data: new Uint8Array(Buffer.from(bits, 'base64')) });

/** The same closed outline, whichever point it starts from. */
function rotated(points: [number, number][], first: [number, number]): [number, number][] {
  const at = points.findIndex(([x, y]) => x === first[0] && y === first[1]);
  return at < 0 ? points : [...points.slice(at), ...points.slice(0, at)];
}

for (const c of made.cases) {
  test(`mask "${c.name}": pycocotools' RLE decodes to its pixels and encodes back to the same text`, () => {
    const expected = bitmapOf(c.size, c.bits);
    const decoded = decodeMask({ size: c.size, counts: c.counts });
    expect([decoded.height, decoded.width]).toEqual(c.size);
    expect(Buffer.from(decoded.data).equals(Buffer.from(expected.data))).toBe(true);
    expect(bitmapArea(decoded)).toBe(c.area);
    expect(encodeMask(expected)).toEqual({ size: c.size, counts: c.counts });
    expect(rleText(rleRuns(c.counts))).toBe(c.counts);
    expect(maskBox({ size: c.size, counts: c.counts })).toEqual(bitmapBox(expected));
    if (expected.data.length < 100_000) {
      // Picking a mask by a pixel reads its runs: the same answer as the bitmap, everywhere.
      const picked = Array.from(expected.data, (_, i) => {
        const x = i % expected.width;
        return Number(maskHas({ size: c.size, counts: c.counts }, x + 0.5, (i - x) / expected.width + 0.5));
      });
      expect(picked).toEqual(Array.from(expected.data));
    }
  });

  test(`mask "${c.name}": its outline is OpenCV's`, () => {
    const outline = bitmapOutline(bitmapOf(c.size, c.bits));
    if (c.outline === null) {
      expect(outline).toBeNull();
      return;
    }
    expect(outline).not.toBeNull();
    // OpenCV goes round the other way; the same points in reverse order from the same start.
    const ours = rotated([...outline!].reverse(), c.outline[0]);
    expect(ours).toEqual(c.outline);
  });
}

test('a polygon rasterises like pycocotools, within a pixel of its border', () => {
  const { points, size, bits } = made.polygon;
  const expected = bitmapOf(size, bits);
  const ours = polygonBitmap(points, size[1], size[0]);
  let same = 0;
  let both = 0;
  let either = 0;
  for (let i = 0; i < ours.data.length; i += 1) {
    same += Number(ours.data[i] === expected.data[i]);
    both += ours.data[i] & expected.data[i];
    either += ours.data[i] | expected.data[i];
  }
  expect(both / either).toBeGreaterThan(0.97);
  expect(ours.data.length - same).toBeLessThan(0.05 * bitmapArea(expected));
});

test('a brush stroke sets a capsule of pixels and the eraser clears part of it', () => {
  const bitmap = emptyBitmap(100, 60);
  paintStroke(bitmap, [20, 30], [80, 30], 5, 1);
  expect(bitmapBox(bitmap)).toEqual({ x1: 15, y1: 25, x2: 85, y2: 35 });
  // A 60-pixel rectangle plus two half discs: about 60*10 + pi*25.
  expect(Math.abs(bitmapArea(bitmap) - (600 + Math.PI * 25))).toBeLessThan(12);
  paintStroke(bitmap, [50, 0], [50, 59], 3, 0);
  for (let y = 0; y < 60; y += 1) for (let x = 48; x < 52; x += 1) expect(bitmap.data[y * 100 + x]).toBe(0);
  expect(bitmapOutline(bitmap)).not.toBeNull();
  // A stroke off the image's edge is clipped, not an error.
  paintStroke(bitmap, [-10, -10], [5, 5], 4, 1);
  expect(bitmap.data[0]).toBe(1);
  const round = decodeMask(encodeMask(bitmap));
  expect(Buffer.from(round.data).equals(Buffer.from(bitmap.data))).toBe(true);
});
