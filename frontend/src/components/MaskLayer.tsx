// One mask instance drawn as a canvas over the photo, in its class colour: the canvas is the
// mask's box in image pixels (a whole-image one for the mask being edited), inside the stage's
// zoomed wrapper, so it scales with the image; `pixelated` keeps its pixels square when zoomed in.
import { useEffect, useMemo, useRef } from 'react';
import { bitmapArea, bitmapBox, decodeMask, type Bitmap, type Mask, type PixelBox } from '../mask';

function rgb(color: string): [number, number, number] {
  let hex = color.replace('#', '');
  if (hex.length === 3 || hex.length === 4) hex = [...hex.slice(0, 3)].map((c) => c + c).join('');
  const n = Number.parseInt(hex.slice(0, 6), 16);
  return Number.isNaN(n) ? [255, 0, 0] : [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Paint the bitmap's pixels inside `box` onto the canvas in `color`, the rest transparent. */
function paint(canvas: HTMLCanvasElement, bitmap: Bitmap, box: PixelBox, color: string): void {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = canvas.getContext('2d');
  if (!context || w <= 0 || h <= 0) return;
  const image = context.createImageData(w, h);
  const [r, g, b] = rgb(color);
  for (let y = 0; y < h; y += 1) {
    const row = (box.y1 + y) * bitmap.width + box.x1;
    for (let x = 0; x < w; x += 1) {
      if (!bitmap.data[row + x]) continue;
      const at = (y * w + x) * 4;
      image.data[at] = r;
      image.data[at + 1] = g;
      image.data[at + 2] = b;
      image.data[at + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
}

function Canvas({ bitmap, box, color, opacity, revision, ...data }: { bitmap: Bitmap; box: PixelBox; color: string; opacity: number; revision: number } & Record<`data-${string}`, string | number>) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current) paint(ref.current, bitmap, box, color);
  }, [bitmap, box.x1, box.y1, box.x2, box.y2, color, revision]);
  return (
    <canvas
      ref={ref}
      className="mask-layer"
      style={{ left: box.x1, top: box.y1, width: box.x2 - box.x1, height: box.y2 - box.y1, opacity }}
      {...data}
    />
  );
}

/** A stored mask (an annotation's, or a model's prediction with `testId="prediction-mask"`):
 * decoded once per geometry, drawn over its box. */
export function StoredMask({
  id,
  label,
  mask,
  color,
  opacity,
  chosen,
  testId = 'mask-layer',
}: {
  id: number | string;
  label: string;
  mask: Mask;
  color: string;
  opacity: number;
  chosen: boolean;
  testId?: string;
}) {
  const bitmap = useMemo(() => decodeMask(mask), [mask]);
  const box = useMemo(() => bitmapBox(bitmap), [bitmap]);
  if (!box) return null;
  return (
    <Canvas
      bitmap={bitmap}
      box={box}
      color={color}
      opacity={chosen ? Math.min(1, opacity * 1.4) : opacity}
      revision={0}
      data-testid={testId}
      data-id={id}
      data-label={label}
      data-area={bitmapArea(bitmap)}
    />
  );
}

/** The mask being edited (unsaved): the whole image, repainted after each brush step. */
export function DraftMask({ bitmap, revision, color, opacity }: { bitmap: Bitmap; revision: number; color: string; opacity: number }) {
  const box = useMemo(() => ({ x1: 0, y1: 0, x2: bitmap.width, y2: bitmap.height }), [bitmap]);
  const area = useMemo(() => bitmapArea(bitmap), [bitmap, revision]);
  return <Canvas bitmap={bitmap} box={box} color={color} opacity={opacity} revision={revision} data-testid="mask-draft" data-area={area} />;
}
