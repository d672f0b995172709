// Masks in the browser: COCO's compressed RLE (the API's mask geometry) to a bitmap and back,
// brush strokes, a polygon rasterised to a bitmap and a bitmap's outline as a polygon. Pure
// functions over plain arrays (no DOM), so the e2e suite's `mask.spec.ts` runs them in Node and
// checks them against pycocotools.

/** A mask as the API stores it: COCO's compressed RLE of a bitmap the size of the image. */
export interface Mask {
  size: number[]; // [height, width]
  counts: string;
}

/** A bitmap, row-major, one byte (0 or 1) a pixel. */
export interface Bitmap {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface PixelBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export function emptyBitmap(width: number, height: number): Bitmap {
  return { width, height, data: new Uint8Array(width * height) };
}

/** The runs of COCO's compressed RLE text (maskApi.c `rleFrString`): 5 bits a character (+48),
 * bit 0x20 "more follows", the last character's 0x10 the sign; from the third run on each is
 * stored as the difference to the run two before. Arithmetic, not bitwise: a run may pass 2^31. */
export function rleRuns(counts: string): number[] {
  const runs: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more && p < counts.length) {
      const c = counts.charCodeAt(p) - 48;
      x += (c & 0x1f) * 32 ** k;
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && (c & 0x10) !== 0) x -= 32 ** k;
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  return runs;
}

/** Runs as COCO's compressed RLE text (maskApi.c `rleToString`). */
export function rleText(runs: number[]): string {
  let text = '';
  runs.forEach((run, i) => {
    let x = i > 2 ? run - runs[i - 2] : run;
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = (c & 0x10) !== 0 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      text += String.fromCharCode(c + 48);
    }
  });
  return text;
}

/** The bitmap of a mask (runs are column-major, background first). */
export function decodeMask(mask: Mask): Bitmap {
  const [height, width] = mask.size;
  const bitmap = emptyBitmap(width, height);
  let at = 0;
  rleRuns(mask.counts).forEach((run, index) => {
    if (index % 2 === 1) {
      for (let i = at; i < at + run; i += 1) bitmap.data[(i % height) * width + Math.floor(i / height)] = 1;
    }
    at += run;
  });
  return bitmap;
}

/** A bitmap as a mask: its column-major runs, background first (a leading 0 when pixel 0 is set). */
export function encodeMask(bitmap: Bitmap): Mask {
  const { width, height, data } = bitmap;
  const runs: number[] = [];
  let value = 0;
  let run = 0;
  for (let x = 0; x < width; x += 1) {
    for (let y = 0; y < height; y += 1) {
      const v = data[y * width + x];
      if (v !== value) {
        runs.push(run);
        run = 0;
        value = v;
      }
      run += 1;
    }
  }
  runs.push(run);
  return { size: [height, width], counts: rleText(runs) };
}

/** The box around a mask's pixels (x2, y2 exclusive), read from its runs; null when none is set. */
export function maskBox(mask: Mask): PixelBox | null {
  const height = mask.size[0];
  let box: PixelBox | null = null;
  let at = 0;
  for (const [index, run] of rleRuns(mask.counts).entries()) {
    if (index % 2 === 1 && run > 0) {
      const c1 = Math.floor(at / height);
      const c2 = Math.floor((at + run - 1) / height);
      const r1 = c1 === c2 ? at % height : 0;
      const r2 = c1 === c2 ? (at + run - 1) % height : height - 1;
      box = box
        ? { x1: Math.min(box.x1, c1), y1: Math.min(box.y1, r1), x2: Math.max(box.x2, c2 + 1), y2: Math.max(box.y2, r2 + 1) }
        : { x1: c1, y1: r1, x2: c2 + 1, y2: r2 + 1 };
    }
    at += run;
  }
  return box;
}

/** Pixels set. */
export function bitmapArea(bitmap: Bitmap): number {
  let n = 0;
  for (const v of bitmap.data) n += v;
  return n;
}

/** The box around a bitmap's set pixels (x2, y2 exclusive); null when none is set. */
export function bitmapBox(bitmap: Bitmap): PixelBox | null {
  const { width, height, data } = bitmap;
  let box: PixelBox | null = null;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      if (!data[y * width + x]) continue;
      if (!box) box = { x1: x, y1: y, x2: x + 1, y2: y + 1 };
      else {
        box.x1 = Math.min(box.x1, x);
        box.x2 = Math.max(box.x2, x + 1);
        box.y2 = y + 1;
      }
    }
  }
  return box;
}

/** Paint (value 1) or erase (0) a round brush of `radius` image pixels dragged from `from` to
 * `to`: every pixel whose centre lies within `radius` of the segment. Changes the bitmap in place. */
export function paintStroke(bitmap: Bitmap, from: [number, number], to: [number, number], radius: number, value: 0 | 1): void {
  const { width, height, data } = bitmap;
  const r = Math.max(0.5, radius);
  const [ax, ay] = from;
  const [bx, by] = to;
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const x1 = Math.max(0, Math.floor(Math.min(ax, bx) - r));
  const x2 = Math.min(width - 1, Math.ceil(Math.max(ax, bx) + r));
  const y1 = Math.max(0, Math.floor(Math.min(ay, by) - r));
  const y2 = Math.min(height - 1, Math.ceil(Math.max(ay, by) + r));
  for (let y = y1; y <= y2; y += 1) {
    for (let x = x1; x <= x2; x += 1) {
      const px = x + 0.5;
      const py = y + 0.5;
      const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length2));
      const ex = px - (ax + t * dx);
      const ey = py - (ay + t * dy);
      if (ex * ex + ey * ey <= r * r) data[y * width + x] = value;
    }
  }
}

/** A polygon as a bitmap: the pixels whose centres lie inside it (even-odd rule, scanlines). */
export function polygonBitmap(points: [number, number][], width: number, height: number): Bitmap {
  const bitmap = emptyBitmap(width, height);
  for (let y = 0; y < height; y += 1) {
    const cy = y + 0.5;
    const crossings: number[] = [];
    points.forEach(([xa, ya], i) => {
      const [xb, yb] = points[(i + 1) % points.length];
      if (ya <= cy === yb <= cy) return; // the edge does not cross this scanline
      crossings.push(xa + ((cy - ya) * (xb - xa)) / (yb - ya));
    });
    crossings.sort((a, b) => a - b);
    for (let i = 0; i + 1 < crossings.length; i += 2) {
      const from = Math.max(0, Math.ceil(crossings[i] - 0.5));
      const to = Math.min(width - 1, Math.floor(crossings[i + 1] - 0.5));
      for (let x = from; x <= to; x += 1) bitmap.data[y * width + x] = 1;
    }
  }
  return bitmap;
}

// The 8 neighbours, clockwise (y down) from the west one.
const AROUND: [number, number][] = [
  [-1, 0],
  [-1, -1],
  [0, -1],
  [1, -1],
  [1, 0],
  [1, 1],
  [0, 1],
  [-1, 1],
];

/** The outline of the bitmap's largest part (8-connected; the largest by the area its outline
 * encloses, as the server picks): its border pixels' coordinates, traced clockwise (Moore
 * neighbours) and kept only where the direction turns, as OpenCV's `findContours` with
 * CHAIN_APPROX_SIMPLE gives in the server's `mask_polygon`; null when that part is thinner than a
 * polygon (under 3 points). */
export function bitmapOutline(bitmap: Bitmap): [number, number][] | null {
  const { width, data } = bitmap;
  const part = new Int32Array(data.length);
  let best: { outline: [number, number][]; area: number } | null = null;
  let id = 0;
  for (let i = 0; i < data.length; i += 1) {
    if (!data[i] || part[i]) continue;
    id += 1;
    markPart(bitmap, part, i, id);
    // The part's first pixel in raster order: on its outer border, its west neighbour background.
    const outline = traceBorder(bitmap, part, id, i % width, Math.floor(i / width));
    const area = Math.abs(shoelace(outline));
    if (!best || area > best.area) best = { outline, area };
  }
  return best && best.outline.length >= 3 ? best.outline : null;
}

/** Label every pixel of the 8-connected part that holds pixel `start` with `id`. */
function markPart(bitmap: Bitmap, part: Int32Array, start: number, id: number): void {
  const { width, height, data } = bitmap;
  part[start] = id;
  const stack = [start];
  while (stack.length) {
    const j = stack.pop()!;
    const x = j % width;
    const y = (j - x) / width;
    for (const [ox, oy] of AROUND) {
      const nx = x + ox;
      const ny = y + oy;
      const k = ny * width + nx;
      if (nx >= 0 && ny >= 0 && nx < width && ny < height && data[k] && !part[k]) {
        part[k] = id;
        stack.push(k);
      }
    }
  }
}

/** Moore tracing of part `id`'s outer border from (sx, sy), its corners only. */
function traceBorder(bitmap: Bitmap, part: Int32Array, id: number, sx: number, sy: number): [number, number][] {
  const { width, height } = bitmap;
  const inPart = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && part[y * width + x] === id;
  const trace: [number, number][] = [[sx, sy]];
  let [x, y] = [sx, sy];
  let from = 0; // the index in AROUND of a background neighbour to start looking from: west at first
  let first: [number, number] | null = null;
  for (let steps = 0; steps < 4 * width * height + 8; steps += 1) {
    let found = -1;
    for (let n = 0; n < 8; n += 1) {
      const d = (from + n) % 8;
      if (inPart(x + AROUND[d][0], y + AROUND[d][1])) {
        found = d;
        break;
      }
    }
    if (found < 0) break; // a single pixel
    const next: [number, number] = [x + AROUND[found][0], y + AROUND[found][1]];
    if (x === sx && y === sy) {
      if (first === null) first = next;
      else if (next[0] === first[0] && next[1] === first[1]) break; // round once: leaving the start the same way
    }
    // The background neighbour looked at just before `found`, seen from `next`, starts the next look.
    const back = (found + 7) % 8;
    const bx = x + AROUND[back][0] - next[0];
    const by = y + AROUND[back][1] - next[1];
    from = AROUND.findIndex(([ox, oy]) => ox === bx && oy === by);
    [x, y] = next;
    trace.push(next);
  }
  const last = trace[trace.length - 1];
  if (trace.length > 1 && last[0] === sx && last[1] === sy) trace.pop();
  // Keep the corners: drop a point whose step in equals its step out.
  return trace.filter((p, i) => {
    const a = trace[(i + trace.length - 1) % trace.length];
    const b = trace[(i + 1) % trace.length];
    return p[0] - a[0] !== b[0] - p[0] || p[1] - a[1] !== b[1] - p[1];
  });
}

/** Twice the signed area a closed outline encloses. */
function shoelace(points: [number, number][]): number {
  let sum = 0;
  points.forEach(([x, y], i) => {
    const [nx, ny] = points[(i + 1) % points.length];
    sum += x * ny - nx * y;
  });
  return sum;
}

/** Whether the mask has a pixel set at (x, y) (image pixels), read off its runs. */
export function maskHas(mask: Mask, x: number, y: number): boolean {
  const [height, width] = mask.size;
  const col = Math.floor(x);
  const row = Math.floor(y);
  if (col < 0 || row < 0 || col >= width || row >= height) return false;
  const index = col * height + row; // runs are column-major
  let at = 0;
  for (const [i, run] of rleRuns(mask.counts).entries()) {
    if (index < at + run) return i % 2 === 1;
    at += run;
  }
  return false;
}
