// The image with its SVG overlays, zoom (wheel) and pan (drag), and box drawing and editing.
// Everything inside the SVG is in the original image's pixels (viewBox = 0 0 width height); one
// CSS transform (translate + scale) on the wrapper does zoom and pan for image and overlays alike.
import { useEffect, useRef, useState } from 'react';
import type { Annotation, AnalysisDetail, Prediction } from '../api/client';
import { AuthImage } from './AuthImage';

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

export type Mode = 'select' | 'draw';

type Handle = 'nw' | 'ne' | 'sw' | 'se';

type Drag =
  | { type: 'pan'; x: number; y: number; view: View }
  | { type: 'draw'; start: [number, number] }
  | { type: 'move'; id: number; start: [number, number]; box: Box }
  | { type: 'resize'; id: number; handle: Handle; box: Box };

export interface Layers {
  annotations: boolean;
  predictions: Record<number, boolean>; // by model version id
  analysis: boolean;
}

export interface Detection {
  class_name: string;
  confidence?: number;
  bbox: Box;
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
  onChangeBox,
  overlays = true,
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
  onChangeBox: (id: number, box: Box) => void;
  overlays?: boolean;
}) {
  const pane = useRef<HTMLDivElement>(null);
  const drag = useRef<Drag | null>(null);
  const [draft, setDraft] = useState<{ id: number | null; box: Box } | null>(null);
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
    if (event.button !== 0 || !view) return;
    if (mode === 'draw' && overlays) {
      const start = toImage(event);
      begin(event, { type: 'draw', start });
      setDraft({ id: null, box: { x1: start[0], y1: start[1], x2: start[0], y2: start[1] } });
    } else {
      begin(event, { type: 'pan', x: event.clientX, y: event.clientY, view });
      if (overlays) onSelect(null);
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
    if (d.type === 'draw') {
      setDraft({ id: null, box: clampBox({ x1: d.start[0], y1: d.start[1], x2: x, y2: y }, width, height) });
    } else if (d.type === 'move') {
      const w = d.box.x2 - d.box.x1;
      const h = d.box.y2 - d.box.y1;
      const x1 = Math.min(Math.max(0, d.box.x1 + x - d.start[0]), width - w);
      const y1 = Math.min(Math.max(0, d.box.y1 + y - d.start[1]), height - h);
      setDraft({ id: d.id, box: { x1, y1, x2: x1 + w, y2: y1 + h } });
    } else {
      const b = { ...d.box };
      if (d.handle.includes('n')) b.y1 = y;
      if (d.handle.includes('s')) b.y2 = y;
      if (d.handle.includes('w')) b.x1 = x;
      if (d.handle.includes('e')) b.x2 = x;
      setDraft({ id: d.id, box: clampBox(b, width, height) });
    }
  };

  const onPointerUp = (event: React.PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (pane.current?.hasPointerCapture(event.pointerId)) pane.current.releasePointerCapture(event.pointerId);
    if (!d || d.type === 'pan' || !draft) {
      setDraft(null);
      return;
    }
    const box = { x1: round(draft.box.x1), y1: round(draft.box.y1), x2: round(draft.box.x2), y2: round(draft.box.y2) };
    setDraft(null);
    if (box.x2 - box.x1 < MIN_SIDE || box.y2 - box.y1 < MIN_SIDE) return;
    if (d.type === 'draw') onDraw(box);
    else if (JSON.stringify(box) !== JSON.stringify(d.box)) onChangeBox(d.id, box);
  };

  const v = view ?? { scale: 1, tx: 0, ty: 0 };
  const handle = 8 / v.scale;
  const visible = annotations.filter((a) => a.kind !== 'classification');

  return (
    <div
      ref={pane}
      className={`stage mode-${mode}`}
      data-testid={overlays ? 'stage' : 'stage-plain'}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerCancel={onPointerUp}
    >
      <div
        className="stage-inner"
        style={{ width, height, transform: `translate(${v.tx}px, ${v.ty}px) scale(${v.scale})`, visibility: view ? 'visible' : 'hidden' }}
      >
        <AuthImage src={contentUrl} alt={alt} lazy={false} className="stage-image" />
        {overlays && (
          <svg
            className="overlay"
            viewBox={`0 0 ${width} ${height}`}
            width={width}
            height={height}
            style={{ opacity }}
            role="group"
            aria-label="Overlays"
          >
            {predictions.map((p) =>
              layers.predictions[p.model_version_id] === false ? null : (
                <g key={p.model_version_id} data-layer="prediction" data-model={p.model}>
                  {(p.detections as unknown as Detection[]).map((det, index) => {
                    const verdict = (p.review as Record<string, string>)[String(index)];
                    const chosen =
                      selection?.kind === 'prediction' && selection.modelVersionId === p.model_version_id && selection.index === index;
                    const b = det.bbox;
                    return (
                      <rect
                        key={index}
                        data-testid="prediction-box"
                        data-index={index}
                        data-verdict={verdict ?? 'none'}
                        className={`pred ${verdict ?? ''} ${chosen ? 'chosen' : ''}`}
                        x={b.x1}
                        y={b.y1}
                        width={b.x2 - b.x1}
                        height={b.y2 - b.y1}
                        stroke={colorOf(det.class_name)}
                        vectorEffect="non-scaling-stroke"
                        onPointerDown={(e) => {
                          if (mode !== 'select') return;
                          e.stopPropagation();
                          onSelect({ kind: 'prediction', modelVersionId: p.model_version_id, index });
                        }}
                      >
                        <title>
                          {det.class_name} {det.confidence !== undefined ? det.confidence.toFixed(2) : ''} ({p.model})
                        </title>
                      </rect>
                    );
                  })}
                </g>
              ),
            )}
            {layers.annotations && (
              <g data-layer="annotations">
                {visible.map((a) => {
                  const color = colorOf(a.label);
                  const chosen = selection?.kind === 'annotation' && selection.id === a.id;
                  const g = a.geometry as Record<string, unknown>;
                  if (a.kind === 'circle') {
                    return (
                      <circle key={a.id} data-testid="annotation-circle" cx={Number(g.cx)} cy={Number(g.cy)} r={Number(g.r)} stroke={color} className="ann" vectorEffect="non-scaling-stroke" fill={color} />
                    );
                  }
                  if (a.kind === 'polygon') {
                    const points = (g.points as [number, number][]).map((p) => p.join(',')).join(' ');
                    return <polygon key={a.id} data-testid="annotation-polygon" points={points} stroke={color} fill={color} className="ann" vectorEffect="non-scaling-stroke" />;
                  }
                  const b = draft && draft.id === a.id ? draft.box : (g as unknown as Box);
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
                        onPointerDown={(e) => {
                          if (mode !== 'select' || e.button !== 0) return;
                          onSelect({ kind: 'annotation', id: a.id });
                          begin(e, { type: 'move', id: a.id, start: toImage(e), box: g as unknown as Box });
                        }}
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
                              begin(e, { type: 'resize', id: a.id, handle: h, box: g as unknown as Box });
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
                  const d = item.data as Record<string, number>;
                  if (item.annotation_type !== 'bounding_box') return null;
                  return (
                    <rect
                      key={item.id}
                      data-testid="analysis-box"
                      className="analysis"
                      x={d.x_min}
                      y={d.y_min}
                      width={d.x_max - d.x_min}
                      height={d.y_max - d.y_min}
                      stroke={colorOf(item.class_name ?? '')}
                      vectorEffect="non-scaling-stroke"
                    >
                      <title>{item.class_name ?? item.annotation_type}</title>
                    </rect>
                  );
                })}
              </g>
            )}
            {draft && draft.id === null && (
              <rect
                data-testid="draft-box"
                className="draft"
                x={draft.box.x1}
                y={draft.box.y1}
                width={draft.box.x2 - draft.box.x1}
                height={draft.box.y2 - draft.box.y1}
                vectorEffect="non-scaling-stroke"
              />
            )}
          </svg>
        )}
      </div>
    </div>
  );
}
