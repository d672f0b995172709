// The image with its SVG overlays, zoom (wheel) and pan (drag), box drawing, and editing of boxes,
// circles (move, radius handle) and polygons (move, vertex handles); masks as canvases under the
// outlines (MaskLayer), the brush and eraser on the mask being edited, and the gestures of the
// assist tools (a box, clicks, a wand point) handed to the page, which asks the API.
// Everything inside the SVG is in the original image's pixels (viewBox = 0 0 width height); one
// CSS transform (translate + scale) on the wrapper does zoom and pan for image and overlays alike.
import { useEffect, useRef, useState } from 'react';
import { fetchBlob, type Annotation, type AnalysisDetail, type ImageLabel, type Prediction } from '../api/client';
import { AuthImage } from './AuthImage';
import { DraftMask, StoredMask } from './MaskLayer';
import { maskBox, maskHas, paintStroke, type Bitmap, type Mask } from '../mask';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface View {
  scale: number;
  tx: number;
  ty: number;
}

export type Selection = { kind: 'annotation'; id: number } | { kind: 'prediction'; modelVersionId: number; index: number } | null;

/** What a press on the image does: select/pan, draw a box, paint or erase the mask being edited,
 * or an assist tool's gesture (a box, clicks, a wand point, a SAM click). */
export type Mode = 'select' | 'draw' | 'brush' | 'erase' | 'mask-box' | 'mask-click' | 'wand' | 'sam';

const CLICK_TOOLS: Mode[] = ['mask-click', 'wand', 'sam'];

/** A mask being edited and not saved yet: a stored mask's (`id`), or a new one (`id` null; from
 * a polygon it `replaces` once saved). Brush strokes change `bitmap` in place and bump `revision`;
 * `clicks` are the click tool's so far (each new click asks again with all of them). */
export interface MaskDraft {
  id: number | null;
  label: string;
  bitmap: Bitmap;
  revision: number;
  clicks: { points: [number, number][]; labels: (0 | 1)[] };
  replaces?: number;
}

type Handle = 'nw' | 'ne' | 'sw' | 'se';

export interface Circle {
  cx: number;
  cy: number;
  r: number;
}

export interface Polygon {
  points: [number, number][];
}

/** An annotation's geometry as the API stores it: a box, a circle, a polygon (masks: see mask.ts). */
export type Geometry = Box | Circle | Polygon;

type Drag =
  | { type: 'pan'; x: number; y: number; view: View }
  | { type: 'draw'; start: [number, number] }
  | { type: 'paint'; last: [number, number]; value: 0 | 1 }
  | { type: 'move'; id: number; kind: string; start: [number, number]; geometry: Geometry }
  | { type: 'resize'; id: number; handle: Handle; box: Box }
  | { type: 'radius'; id: number; circle: Circle }
  | { type: 'vertex'; id: number; index: number; polygon: Polygon };

export interface Layers {
  annotations: boolean;
  predictions: Record<number, boolean>; // by model version id
  analysis: boolean; // the selected analysis's boxes, circles and polygons
  heatmaps: boolean; // the selected analysis's heatmap images
}

/** The box around a label's geometry (a circle's square, a polygon's extent); null for an image
 * class. The server has already clipped a model's labels to the image. */
export function labelBox(label: ImageLabel): Box | null {
  const g = label.geometry as Partial<Box & Circle & Polygon & Mask> | undefined;
  if (!g) return null;
  if (g.size !== undefined && g.counts !== undefined) return maskBox({ size: g.size, counts: g.counts });
  if (g.x1 !== undefined && g.y1 !== undefined && g.x2 !== undefined && g.y2 !== undefined) return { x1: g.x1, y1: g.y1, x2: g.x2, y2: g.y2 };
  if (g.cx !== undefined && g.cy !== undefined && g.r !== undefined) return { x1: g.cx - g.r, y1: g.cy - g.r, x2: g.cx + g.r, y2: g.cy + g.r };
  if (g.points && g.points.length > 0) {
    const xs = g.points.map((p) => p[0]);
    const ys = g.points.map((p) => p[1]);
    return { x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs), y2: Math.max(...ys) };
  }
  return null;
}

const MIN_SIDE = 2;

export function clampBox(box: Box, width: number, height: number): Box {
  const x1 = Math.max(0, Math.min(box.x1, box.x2));
  const y1 = Math.max(0, Math.min(box.y1, box.y2));
  const x2 = Math.min(width, Math.max(box.x1, box.x2));
  const y2 = Math.min(height, Math.max(box.y1, box.y2));
  return { x1, y1, x2, y2 };
}

export function fitView(width: number, height: number, paneWidth: number, paneHeight: number): View {
  const scale = Math.min(paneWidth / width, paneHeight / height) || 1;
  return { scale, tx: (paneWidth - width * scale) / 2, ty: (paneHeight - height * scale) / 2 };
}

const round = (n: number) => Math.round(n * 10) / 10;
const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** Move a geometry by (dx, dy), kept inside the image (the API refuses any point outside it). */
export function moveGeometry(kind: string, g: Geometry, dx: number, dy: number, width: number, height: number): Geometry {
  if (kind === 'circle') {
    const c = g as Circle;
    return { cx: clamp(c.cx + dx, 0, width), cy: clamp(c.cy + dy, 0, height), r: c.r };
  }
  if (kind === 'polygon') {
    const pts = (g as Polygon).points;
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    const mx = clamp(dx, -Math.min(...xs), width - Math.max(...xs));
    const my = clamp(dy, -Math.min(...ys), height - Math.max(...ys));
    return { points: pts.map(([x, y]) => [x + mx, y + my] as [number, number]) };
  }
  const b = g as Box;
  const w = b.x2 - b.x1;
  const h = b.y2 - b.y1;
  const x1 = Math.min(Math.max(0, b.x1 + dx), width - w);
  const y1 = Math.min(Math.max(0, b.y1 + dy), height - h);
  return { x1, y1, x2: x1 + w, y2: y1 + h };
}

export function roundGeometry(g: Geometry): Geometry {
  if ('points' in g) return { points: g.points.map(([x, y]) => [round(x), round(y)] as [number, number]) };
  if ('r' in g) return { cx: round(g.cx), cy: round(g.cy), r: round(g.r) };
  return { x1: round(g.x1), y1: round(g.y1), x2: round(g.x2), y2: round(g.y2) };
}

const circleText = (c: Circle) => `${round(c.cx)},${round(c.cy)},${round(c.r)}`;
const pointsText = (p: Polygon) => p.points.map(([x, y]) => `${round(x)},${round(y)}`).join(' ');

/** A heatmap artifact, fetched with the credential and shown from a blob URL, stretched over the image. */
function HeatmapImage({ url, width, height, opacity, label }: { url: string; width: number; height: number; opacity: number; label: string }) {
  const [href, setHref] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    let objectUrl: string | null = null;
    fetchBlob(url, controller.signal)
      .then((blob) => {
        objectUrl = URL.createObjectURL(blob);
        setHref(objectUrl);
      })
      .catch((e: Error) => {
        if (e.name !== 'AbortError') console.warn(`heatmap ${label}: ${e.message}`);
      });
    return () => {
      controller.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      setHref(null);
    };
  }, [url, label]);
  if (!href) return null;
  return (
    <image
      data-testid="heatmap"
      className="heatmap"
      href={href}
      x={0}
      y={0}
      width={width}
      height={height}
      preserveAspectRatio="none"
      opacity={opacity}
    >
      <title>{label}</title>
    </image>
  );
}

/** An evaluation's verdict on this image: the judged model version's labels as TP or FP (by
 * index), and the ground truth it missed, drawn dashed. */
export interface Judged {
  modelVersionId: number;
  outcomes: Record<number, 'tp' | 'fp' | null | undefined>;
  missed: ImageLabel[];
}

export const OUTCOME_COLORS = { tp: '#1a9e3f', fp: '#d62828', fn: '#f08a00' };

export function Stage({
  contentUrl,
  alt,
  width,
  height,
  annotations,
  predictions,
  analysis,
  layers,
  opacity,
  colorOf,
  selection,
  onSelect,
  mode,
  view,
  onView,
  onDraw,
  onChangeGeometry,
  overlays = true,
  maskOpacity = 0.5,
  maskDraft = null,
  brushRadius = 8,
  onPaint,
  onAssistBox,
  onAssistClick,
  judged = null,
}: {
  contentUrl: string;
  alt: string;
  width: number;
  height: number;
  annotations: Annotation[];
  predictions: Prediction[];
  analysis: AnalysisDetail | null;
  layers: Layers;
  opacity: number;
  colorOf: (label: string) => string;
  selection: Selection;
  onSelect: (s: Selection) => void;
  mode: Mode;
  view: View | null;
  onView: (v: View) => void;
  onDraw: (box: Box) => void;
  onChangeGeometry: (id: number, geometry: Geometry) => void;
  overlays?: boolean;
  maskOpacity?: number;
  maskDraft?: MaskDraft | null;
  brushRadius?: number;
  onPaint?: (stroke: (bitmap: Bitmap) => void) => void;
  onAssistBox?: (box: Box) => void;
  onAssistClick?: (point: [number, number], positive: boolean) => void;
  judged?: Judged | null;
}) {
  const pane = useRef<HTMLDivElement>(null);
  const drag = useRef<Drag | null>(null);
  // The geometry being drawn (id null, a box) or edited (an annotation's id), shown until saved.
  const [draft, setDraft] = useState<{ id: number | null; geometry: Geometry } | null>(null);
  const viewRef = useRef(view);
  viewRef.current = view;

  // Fit the image to the pane at first.
  useEffect(() => {
    if (view || !pane.current) return;
    const rect = pane.current.getBoundingClientRect();
    onView(fitView(width, height, rect.width, rect.height));
  }, [view, width, height, onView]);

  // Wheel zoom around the pointer. A native listener, not React's: it must be non-passive to
  // stop the page from scrolling.
  useEffect(() => {
    const node = pane.current;
    if (!node) return;
    const wheel = (event: WheelEvent) => {
      const current = viewRef.current;
      if (!current) return;
      event.preventDefault();
      const rect = node.getBoundingClientRect();
      const px = event.clientX - rect.left;
      const py = event.clientY - rect.top;
      const factor = Math.exp(-event.deltaY * 0.0015);
      const scale = Math.min(40, Math.max(0.02, current.scale * factor));
      const k = scale / current.scale;
      onView({ scale, tx: px - (px - current.tx) * k, ty: py - (py - current.ty) * k });
    };
    node.addEventListener('wheel', wheel, { passive: false });
    return () => node.removeEventListener('wheel', wheel);
  }, [onView]);

  const toImage = (event: React.PointerEvent): [number, number] => {
    const rect = pane.current!.getBoundingClientRect();
    const v = view ?? { scale: 1, tx: 0, ty: 0 };
    return [(event.clientX - rect.left - v.tx) / v.scale, (event.clientY - rect.top - v.ty) / v.scale];
  };

  const begin = (event: React.PointerEvent, next: Drag) => {
    event.stopPropagation();
    event.preventDefault();
    drag.current = next;
    pane.current?.setPointerCapture(event.pointerId);
  };

  const onPointerDown = (event: React.PointerEvent) => {
    if (!view) return;
    if (overlays && CLICK_TOOLS.includes(mode) && (event.button === 0 || event.button === 2)) {
      // Left click: object; shift or right click: background (the wand takes any click as its seed).
      event.preventDefault();
      onAssistClick?.(toImage(event), event.button === 0 && !event.shiftKey);
      return;
    }
    if (event.button !== 0) return;
    if ((mode === 'brush' || mode === 'erase') && overlays && onPaint) {
      const at = toImage(event);
      const value = mode === 'brush' ? 1 : 0;
      begin(event, { type: 'paint', last: at, value });
      onPaint((bitmap) => paintStroke(bitmap, at, at, brushRadius, value));
      return;
    }
    if ((mode === 'draw' || mode === 'mask-box') && overlays) {
      const start = toImage(event);
      begin(event, { type: 'draw', start });
      setDraft({ id: null, geometry: { x1: start[0], y1: start[1], x2: start[0], y2: start[1] } });
    } else {
      begin(event, { type: 'pan', x: event.clientX, y: event.clientY, view });
      if (!overlays) return;
      // A press on a mask's pixels selects it (the topmost); elsewhere it clears the selection.
      const [x, y] = toImage(event);
      const hit = layers.annotations ? [...annotations].reverse().find((a) => a.kind === 'mask' && maskHas(a.geometry as unknown as Mask, x, y)) : undefined;
      onSelect(hit ? { kind: 'annotation', id: hit.id } : null);
    }
  };

  const onPointerMove = (event: React.PointerEvent) => {
    const d = drag.current;
    if (!d) return;
    if (d.type === 'pan') {
      onView({ ...d.view, tx: d.view.tx + event.clientX - d.x, ty: d.view.ty + event.clientY - d.y });
      return;
    }
    const [x, y] = toImage(event);
    if (d.type === 'paint') {
      const from = d.last;
      d.last = [x, y];
      onPaint?.((bitmap) => paintStroke(bitmap, from, [x, y], brushRadius, d.value));
      return;
    }
    if (d.type === 'draw') {
      setDraft({ id: null, geometry: clampBox({ x1: d.start[0], y1: d.start[1], x2: x, y2: y }, width, height) });
    } else if (d.type === 'move') {
      setDraft({ id: d.id, geometry: moveGeometry(d.kind, d.geometry, x - d.start[0], y - d.start[1], width, height) });
    } else if (d.type === 'radius') {
      const r = Math.max(1, Math.hypot(x - d.circle.cx, y - d.circle.cy));
      setDraft({ id: d.id, geometry: { ...d.circle, r } });
    } else if (d.type === 'vertex') {
      const points = d.polygon.points.map((p, i) => (i === d.index ? ([clamp(x, 0, width), clamp(y, 0, height)] as [number, number]) : p));
      setDraft({ id: d.id, geometry: { points } });
    } else {
      const b = { ...d.box };
      if (d.handle.includes('n')) b.y1 = y;
      if (d.handle.includes('s')) b.y2 = y;
      if (d.handle.includes('w')) b.x1 = x;
      if (d.handle.includes('e')) b.x2 = x;
      setDraft({ id: d.id, geometry: clampBox(b, width, height) });
    }
  };

  const onPointerUp = (event: React.PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (pane.current?.hasPointerCapture(event.pointerId)) pane.current.releasePointerCapture(event.pointerId);
    if (!d || d.type === 'pan' || d.type === 'paint' || !draft) {
      setDraft(null);
      return;
    }
    const geometry = roundGeometry(draft.geometry);
    setDraft(null);
    if ('x1' in geometry && (geometry.x2 - geometry.x1 < MIN_SIDE || geometry.y2 - geometry.y1 < MIN_SIDE)) return;
    if (d.type === 'draw') {
      if (mode === 'mask-box') onAssistBox?.(geometry as Box);
      else onDraw(geometry as Box);
      return;
    }
    const before = d.type === 'move' ? d.geometry : d.type === 'resize' ? d.box : d.type === 'radius' ? d.circle : d.polygon;
    if (JSON.stringify(geometry) !== JSON.stringify(roundGeometry(before))) onChangeGeometry(d.id, geometry);
  };

  const v = view ?? { scale: 1, tx: 0, ty: 0 };
  const handle = 8 / v.scale;
  const visible = annotations.filter((a) => a.kind !== 'classification');
  // The selected analysis's heatmap annotations, each with its artifact's (short-lived, signed) link.
  const heatmaps = !analysis
    ? []
    : analysis.annotations.flatMap((item) => {
        if (item.annotation_type !== 'heatmap' || !item.storage_path) return [];
        const artifact = analysis.artifacts.find((x) => x.storage_path === item.storage_path);
        return artifact?.url ? [{ id: item.id, url: artifact.url, label: `heatmap ${item.class_name ?? ''} (${analysis.model_name})`.replace('  ', ' ') }] : [];
      });

  return (
    <div
      ref={pane}
      className={`stage mode-${mode}`}
      data-testid={overlays ? 'stage' : 'stage-plain'}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerCancel={onPointerUp}
      onContextMenu={(e) => {
        if (CLICK_TOOLS.includes(mode)) e.preventDefault(); // a right click is a background click there
      }}
    >
      <div
        className="stage-inner"
        style={{ width, height, transform: `translate(${v.tx}px, ${v.ty}px) scale(${v.scale})`, visibility: view ? 'visible' : 'hidden' }}
      >
        <AuthImage src={contentUrl} alt={alt} lazy={false} className="stage-image" />
        {overlays && (
          <div className="mask-layers" data-testid="mask-layers">
            {/* A model's masks under people's: each over its outline box (drawn in the SVG below). */}
            {predictions.map((p) =>
              layers.predictions[p.model_version_id] === false
                ? null
                : p.labels.map((det, index) =>
                    det.kind === 'mask' ? (
                      <StoredMask
                        key={`${p.model_version_id}:${index}`}
                        id={`${p.model_version_id}:${index}`}
                        testId="prediction-mask"
                        label={det.label}
                        mask={det.geometry as unknown as Mask}
                        color={colorOf(det.label)}
                        opacity={maskOpacity}
                        chosen={selection?.kind === 'prediction' && selection.modelVersionId === p.model_version_id && selection.index === index}
                      />
                    ) : null,
                  ),
            )}
            {layers.annotations &&
              visible.map((a) =>
                a.kind === 'mask' && a.id !== maskDraft?.id ? (
                  <StoredMask
                    key={a.id}
                    id={a.id}
                    label={a.label}
                    mask={a.geometry as unknown as Mask}
                    color={colorOf(a.label)}
                    opacity={maskOpacity}
                    chosen={selection?.kind === 'annotation' && selection.id === a.id}
                  />
                ) : null,
              )}
          </div>
        )}
        {overlays && maskDraft && <DraftMask bitmap={maskDraft.bitmap} revision={maskDraft.revision} color={colorOf(maskDraft.label)} opacity={maskOpacity} />}
        {overlays && (
          <svg className="overlay" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="group" aria-label="Overlays">
            {/* Heatmaps first: under every outline. Opacity per layer (the slider), not on the <svg>,
                so each layer's element carries it. */}
            {layers.heatmaps && heatmaps.length > 0 && (
              <g data-layer="heatmaps">
                {heatmaps.map((h) => (
                  <HeatmapImage key={h.id} url={h.url} width={width} height={height} opacity={opacity} label={h.label} />
                ))}
              </g>
            )}
            <g opacity={opacity} data-testid="outlines">
              {predictions.map((p) =>
                layers.predictions[p.model_version_id] === false ? null : (
                  <g key={p.model_version_id} data-layer="prediction" data-model={p.model}>
                    {p.labels.map((det, index) => {
                      const verdict = (p.review as Record<string, string>)[String(index)];
                      const chosen =
                        selection?.kind === 'prediction' && selection.modelVersionId === p.model_version_id && selection.index === index;
                      const b = labelBox(det);
                      if (b === null) return null; // an image class: listed beside the image, not drawn
                      const outcome = judged && judged.modelVersionId === p.model_version_id ? judged.outcomes[index] : undefined;
                      return (
                        <rect
                          key={index}
                          data-testid="prediction-box"
                          data-index={index}
                          data-verdict={verdict ?? 'none'}
                          data-outcome={outcome ?? undefined}
                          className={`pred ${verdict ?? ''} ${chosen ? 'chosen' : ''}`}
                          x={b.x1}
                          y={b.y1}
                          width={b.x2 - b.x1}
                          height={b.y2 - b.y1}
                          stroke={outcome ? OUTCOME_COLORS[outcome] : colorOf(det.label)}
                          data-kind={det.kind}
                          vectorEffect="non-scaling-stroke"
                          onPointerDown={(e) => {
                            if (mode !== 'select') return;
                            e.stopPropagation();
                            onSelect({ kind: 'prediction', modelVersionId: p.model_version_id, index });
                          }}
                        >
                          <title>
                            {det.label} {det.score != null ? det.score.toFixed(2) : ''} ({p.model})
                            {outcome ? ` ${outcome.toUpperCase()}` : ''}
                          </title>
                        </rect>
                      );
                    })}
                  </g>
                ),
              )}
              {judged && judged.missed.length > 0 && (
                <g data-layer="missed">
                  {judged.missed.map((label, i) => {
                    const b = labelBox(label);
                    if (b === null) return null;
                    return (
                      <rect
                        key={i}
                        data-testid="missed-box"
                        data-label={label.label}
                        className="missed"
                        x={b.x1}
                        y={b.y1}
                        width={b.x2 - b.x1}
                        height={b.y2 - b.y1}
                        stroke={OUTCOME_COLORS.fn}
                        strokeDasharray="6 4"
                        fill="none"
                        vectorEffect="non-scaling-stroke"
                      >
                        <title>missed {label.label}</title>
                      </rect>
                    );
                  })}
                </g>
              )}
              {layers.annotations && (
                <g data-layer="annotations">
                  {visible.map((a) => {
                    const color = colorOf(a.label);
                    const chosen = selection?.kind === 'annotation' && selection.id === a.id;
                    const stored: Geometry = a.geometry as Geometry;
                    const g = draft && draft.id === a.id ? draft.geometry : stored;
                    const grab = (e: React.PointerEvent) => {
                      if (mode !== 'select' || e.button !== 0) return;
                      onSelect({ kind: 'annotation', id: a.id });
                      begin(e, { type: 'move', id: a.id, kind: a.kind, start: toImage(e), geometry: stored });
                    };
                    if (a.kind === 'circle') {
                      const c = g as Circle;
                      return (
                        <g key={a.id}>
                          <circle
                            data-testid="annotation-circle"
                            data-id={a.id}
                            data-label={a.label}
                            data-circle={circleText(c)}
                            className={`ann ${chosen ? 'chosen' : ''}`}
                            cx={c.cx}
                            cy={c.cy}
                            r={c.r}
                            stroke={color}
                            fill={color}
                            vectorEffect="non-scaling-stroke"
                            onPointerDown={grab}
                          >
                            <title>{a.label}</title>
                          </circle>
                          {chosen && (
                            <rect
                              data-testid="handle-radius"
                              className="handle handle-radius"
                              x={c.cx + c.r - handle / 2}
                              y={c.cy - handle / 2}
                              width={handle}
                              height={handle}
                              onPointerDown={(e) => {
                                if (e.button !== 0) return;
                                begin(e, { type: 'radius', id: a.id, circle: stored as Circle });
                              }}
                            >
                              <title>Drag to change the radius</title>
                            </rect>
                          )}
                        </g>
                      );
                    }
                    if (a.kind === 'polygon') {
                      const poly = g as Polygon;
                      return (
                        <g key={a.id}>
                          <polygon
                            data-testid="annotation-polygon"
                            data-id={a.id}
                            data-label={a.label}
                            data-points={pointsText(poly)}
                            className={`ann ${chosen ? 'chosen' : ''}`}
                            points={poly.points.map((p) => p.join(',')).join(' ')}
                            stroke={color}
                            fill={color}
                            vectorEffect="non-scaling-stroke"
                            onPointerDown={grab}
                          >
                            <title>{a.label}</title>
                          </polygon>
                          {chosen &&
                            poly.points.map(([px, py], index) => (
                              <rect
                                key={index}
                                data-testid="handle-vertex"
                                data-index={index}
                                className="handle handle-vertex"
                                x={px - handle / 2}
                                y={py - handle / 2}
                                width={handle}
                                height={handle}
                                onPointerDown={(e) => {
                                  if (e.button !== 0) return;
                                  begin(e, { type: 'vertex', id: a.id, index, polygon: stored as Polygon });
                                }}
                              />
                            ))}
                        </g>
                      );
                    }
                    if (a.kind === 'mask') {
                      // The mask's pixels are its canvas (under this SVG); this is its box, to see and pick it.
                      const m = a.id === maskDraft?.id ? null : maskBox(stored as unknown as Mask);
                      if (m === null) return null;
                      return (
                        <rect
                          key={a.id}
                          data-testid="annotation-mask"
                          data-id={a.id}
                          data-label={a.label}
                          className={`ann ${chosen ? 'chosen' : ''}`}
                          x={m.x1}
                          y={m.y1}
                          width={m.x2 - m.x1}
                          height={m.y2 - m.y1}
                          stroke={color}
                          fill="none"
                          strokeDasharray="4 2"
                          vectorEffect="non-scaling-stroke"
                          onPointerDown={(e) => {
                            if (mode !== 'select' || e.button !== 0) return;
                            onSelect({ kind: 'annotation', id: a.id });
                          }}
                        >
                          <title>{a.label} (mask)</title>
                        </rect>
                      );
                    }
                    const b = g as Box;
                    return (
                      <g key={a.id}>
                        <rect
                          data-testid="annotation-box"
                          data-id={a.id}
                          data-label={a.label}
                          data-box={`${round(b.x1)},${round(b.y1)},${round(b.x2)},${round(b.y2)}`}
                          className={`ann ${chosen ? 'chosen' : ''}`}
                          x={b.x1}
                          y={b.y1}
                          width={b.x2 - b.x1}
                          height={b.y2 - b.y1}
                          stroke={color}
                          fill={color}
                          vectorEffect="non-scaling-stroke"
                          onPointerDown={grab}
                        >
                          <title>{a.label}</title>
                        </rect>
                        {chosen &&
                          (['nw', 'ne', 'sw', 'se'] as Handle[]).map((h) => (
                            <rect
                              key={h}
                              data-testid={`handle-${h}`}
                              className={`handle handle-${h}`}
                              x={(h.includes('w') ? b.x1 : b.x2) - handle / 2}
                              y={(h.includes('n') ? b.y1 : b.y2) - handle / 2}
                              width={handle}
                              height={handle}
                              onPointerDown={(e) => {
                                if (e.button !== 0) return;
                                begin(e, { type: 'resize', id: a.id, handle: h, box: stored as Box });
                              }}
                            />
                          ))}
                      </g>
                    );
                  })}
                </g>
              )}
              {layers.analysis && analysis && (
                <g data-layer="analysis">
                  {analysis.annotations.map((item) => {
                    const d = item.data as Record<string, unknown>;
                    const stroke = colorOf(item.class_name ?? '');
                    const title = <title>{item.class_name ?? item.annotation_type}</title>;
                    if (item.annotation_type === 'bounding_box') {
                      const n = d as Record<string, number>;
                      return (
                        <rect
                          key={item.id}
                          data-testid="analysis-box"
                          className="analysis"
                          x={n.x_min}
                          y={n.y_min}
                          width={n.x_max - n.x_min}
                          height={n.y_max - n.y_min}
                          stroke={stroke}
                          vectorEffect="non-scaling-stroke"
                        >
                          {title}
                        </rect>
                      );
                    }
                    if (item.annotation_type === 'circle') {
                      const n = d as Record<string, number>;
                      return (
                        <circle key={item.id} data-testid="analysis-circle" className="analysis" cx={n.x} cy={n.y} r={n.radius} stroke={stroke} vectorEffect="non-scaling-stroke">
                          {title}
                        </circle>
                      );
                    }
                    if (item.annotation_type === 'polygon' && Array.isArray(d.points)) {
                      const points = (d.points as number[][]).map((p) => `${p[0]},${p[1]}`).join(' ');
                      return (
                        <polygon key={item.id} data-testid="analysis-polygon" className="analysis" points={points} stroke={stroke} vectorEffect="non-scaling-stroke">
                          {title}
                        </polygon>
                      );
                    }
                    return null;
                  })}
                </g>
              )}
              {maskDraft &&
                maskDraft.clicks.points.map(([cx, cy], i) => (
                  <circle
                    key={i}
                    data-testid="assist-click"
                    className={`assist-click ${maskDraft.clicks.labels[i] ? 'positive' : 'negative'}`}
                    cx={cx}
                    cy={cy}
                    r={4 / v.scale}
                    vectorEffect="non-scaling-stroke"
                  />
                ))}
              {draft && draft.id === null && 'x1' in draft.geometry && (
                <rect
                  data-testid="draft-box"
                  className="draft"
                  x={draft.geometry.x1}
                  y={draft.geometry.y1}
                  width={draft.geometry.x2 - draft.geometry.x1}
                  height={draft.geometry.y2 - draft.geometry.y1}
                  vectorEffect="non-scaling-stroke"
                />
              )}
            </g>
          </svg>
        )}
      </div>
    </div>
  );
}
