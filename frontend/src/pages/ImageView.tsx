import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  api,
  must,
  type AnalysisDetail,
  type ImageOut,
  type Model,
  type Project,
  type Schemas,
} from '../api/client';
import { AnalysesPanel } from '../components/AnalysesPanel';
import { Comments } from '../components/Comments';
import { rememberedOrder } from '../components/ImageGrid';
import { Stage, type Box, type Geometry, type Judged, type Layers, type MaskDraft, type Mode, type Polygon, type View } from '../components/Stage';
import { typing, useLabels } from '../components/useLabels';
import { bitmapArea, bitmapOutline, decodeMask, emptyBitmap, encodeMask, polygonBitmap, type Bitmap, type Mask } from '../mask';
import { linkClick, navigate } from '../router';
import { labelColor } from '../colors';

type AssistBody = Schemas['BoxTool'] | Schemas['ClicksTool'] | Schemas['WandTool'] | Schemas['SamTool'];

export function ImageView({ projectId, imageId }: { projectId: number; imageId: string }) {
  const [image, setImage] = useState<ImageOut | null>(null);
  const [project, setProject] = useState<Project | null>(null);
  const [analysesEnabled, setAnalysesEnabled] = useState(false);
  const [analysis, setAnalysis] = useState<AnalysisDetail | null>(null);
  const [layers, setLayers] = useState<Layers>({ annotations: true, predictions: {}, analysis: true, heatmaps: true });
  const [opacity, setOpacity] = useState(0.9);
  const [sideBySide, setSideBySide] = useState(false);
  const [mode, setMode] = useState<Mode>('select');
  const [view, setView] = useState<View | null>(null);
  const [drawLabel, setDrawLabel] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  // Masks: the one being edited (unsaved), the brush's radius, the wand's tolerance, their
  // opacity, and the registered promptable model (SAM) when there is one.
  const [maskDraft, setMaskDraft] = useState<MaskDraft | null>(null);
  const draftRef = useRef<MaskDraft | null>(null);
  draftRef.current = maskDraft;
  const [brushRadius, setBrushRadius] = useState(8);
  const [tolerance, setTolerance] = useState(24);
  const [maskOpacity, setMaskOpacity] = useState(0.5);
  const [samModel, setSamModel] = useState<Model | null>(null);
  const imagePath = { image_id: imageId };
  // Opened from an evaluation (the grid keeps `?evaluation=` on its links): colour its outcomes.
  const [evaluationId] = useState(() => Number(new URLSearchParams(location.search).get('evaluation')) || null);
  const [judged, setJudged] = useState<(Judged & { tp: number; fp: number; fn: number }) | null>(null);

  const attempt = useCallback(async (work: () => Promise<unknown>, done?: string) => {
    setError(null);
    try {
      await work();
      if (done) setStatus(done);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);

  // Deleting an annotation also drops an unsaved mask edit of it.
  const forgetDraftOf = useCallback((id: number) => setMaskDraft((d) => (d?.id === id ? null : d)), []);
  const labels = useLabels(imageId, attempt, setStatus, { onRemoved: forgetDraftOf });
  const { annotations, predictions, selection, setSelection, loadLabels, reviewDetection: review, changeGeometry, relabel, remove } = labels;

  useEffect(() => {
    void attempt(async () => {
      const [img, proj] = await Promise.all([
        must(api.GET('/api/v1/images/{image_id}', { params: { path: { image_id: imageId } } })),
        must(api.GET('/api/v1/projects/{project_id}', { params: { path: { project_id: projectId } } })),
      ]);
      setImage(img);
      setProject(proj);
      setDrawLabel((l) => l || proj.labels[0]?.name || '');
      const preds = await loadLabels();
      if (evaluationId) {
        const [evaluation, detail] = await Promise.all([
          must(
            api.GET('/api/v1/projects/{project_id}/evaluations/{evaluation_id}', {
              params: { path: { project_id: projectId, evaluation_id: evaluationId } },
            }),
          ),
          must(
            api.GET('/api/v1/projects/{project_id}/evaluations/{evaluation_id}/images/{image_id}', {
              params: { path: { project_id: projectId, evaluation_id: evaluationId, image_id: imageId } },
            }),
          ),
        ]);
        const model = preds.find((p) => p.model === evaluation.model && p.model_version === evaluation.model_version);
        setJudged({
          modelVersionId: model?.model_version_id ?? -1,
          outcomes: Object.fromEntries(detail.predictions.map((p) => [p.index, p.outcome ?? null])),
          missed: detail.missed.map((m) => m.label),
          tp: detail.tp,
          fp: detail.fp,
          fn: detail.fn,
        });
      }
      const config = await fetch('/config').then((r) => (r.ok ? r.json() : {}));
      setAnalysesEnabled(Boolean((config as { ml_analysis_enabled?: boolean }).ml_analysis_enabled));
      // The SAM click tool exists only when a promptable segmenter is registered.
      const models = await must(api.GET('/api/v1/models'));
      const sams = models.filter((m) => m.task === 'segment' && m.format === 'onnx-sam' && m.id != null);
      setSamModel(sams.find((m) => m.is_active) ?? sams[0] ?? null);
    });
  }, [imageId, projectId, attempt, loadLabels, evaluationId]);

  const colors = useMemo(() => new Map(project?.labels.map((l) => [l.name, l.color]) ?? []), [project]);
  const colorOf = useCallback((label: string) => labelColor(label, colors.get(label)), [colors]);

  const order = rememberedOrder(projectId);
  const at = order.indexOf(imageId);
  const prev = at > 0 ? order[at - 1] : null;
  const next = at >= 0 && at < order.length - 1 ? order[at + 1] : null;
  const go = useCallback(
    (id: string | null) => id && navigate(`/projects/${projectId}/images/${id}${evaluationId ? `?evaluation=${evaluationId}` : ''}`),
    [projectId, evaluationId],
  );

  const selectedAnnotation = selection?.kind === 'annotation' ? annotations.find((a) => a.id === selection.id) ?? null : null;
  const classification = annotations.find((a) => a.kind === 'classification') ?? null;

  const drawBox = (box: Box) => labels.drawBox(drawLabel, box);

  // The mask to edit: the one being edited, else the selected mask's pixels, else a new empty one.
  const draftToEdit = (): MaskDraft => {
    const current = draftRef.current;
    if (current) return current;
    const chosen = selection?.kind === 'annotation' ? annotations.find((a) => a.id === selection.id) : undefined;
    if (chosen?.kind === 'mask') {
      return { id: chosen.id, label: chosen.label, bitmap: decodeMask(chosen.geometry as unknown as Mask), revision: 0, clicks: { points: [], labels: [] } };
    }
    return { id: null, label: drawLabel, bitmap: emptyBitmap(image!.width, image!.height), revision: 0, clicks: { points: [], labels: [] } };
  };

  const paint = (stroke: (bitmap: Bitmap) => void) => {
    if (!drawLabel && !draftRef.current) {
      setError('choose a class to draw with first');
      return;
    }
    const draft = draftToEdit();
    stroke(draft.bitmap);
    const next = { ...draft, revision: draft.revision + 1 };
    draftRef.current = next;
    setMaskDraft(next);
  };

  /** Ask the assist API; its mask replaces the edited mask's pixels (a new mask when none is). */
  const assist = (body: AssistBody, clicks: MaskDraft['clicks'], what: string) =>
    attempt(async () => {
      if (!drawLabel && !draftRef.current) throw new Error('choose a class to draw with first');
      const answer = await must(api.POST('/api/v1/images/{image_id}/assist', { params: { path: imagePath }, body }));
      const draft = draftToEdit();
      const next = { ...draft, bitmap: decodeMask(answer.mask), revision: draft.revision + 1, clicks };
      draftRef.current = next;
      setMaskDraft(next);
      setStatus(`${what}: ${answer.area} pixels, not saved yet`);
    });

  const assistBox = (box: Box) =>
    assist({ tool: 'box', box: [box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1] }, { points: [], labels: [] }, 'Mask from the box');

  const assistClick = (point: [number, number], positive: boolean) => {
    const p: [number, number] = [Math.round(point[0] * 10) / 10, Math.round(point[1] * 10) / 10];
    if (p[0] < 0 || p[1] < 0 || p[0] >= image!.width || p[1] >= image!.height) return;
    if (mode === 'wand') {
      void assist({ tool: 'wand', point: p, tolerance }, { points: [], labels: [] }, 'Mask from the wand');
      return;
    }
    const before = draftRef.current?.clicks ?? { points: [], labels: [] };
    const clicks = { points: [...before.points, p], labels: [...before.labels, positive ? 1 : 0] as (0 | 1)[] };
    if (mode === 'sam' && samModel?.id != null) {
      void assist({ tool: 'sam', model_version_id: samModel.id, ...clicks }, clicks, `Mask from ${clicks.points.length} SAM click(s)`);
    } else if (mode === 'mask-click') {
      void assist({ tool: 'clicks', ...clicks }, clicks, `Mask from ${clicks.points.length} click(s)`);
    }
  };

  const saveMask = () =>
    attempt(async () => {
      const draft = draftRef.current;
      if (!draft) return;
      if (bitmapArea(draft.bitmap) === 0) throw new Error('the mask is empty: paint or pick some pixels first');
      const geometry = { ...encodeMask(draft.bitmap) };
      let saved;
      if (draft.id === null) {
        saved = await labels.create({ kind: 'mask', label: draft.label, geometry });
        if (draft.replaces !== undefined) await labels.destroy(draft.replaces);
      } else {
        saved = await labels.update(draft.id, { geometry });
      }
      draftRef.current = null;
      setMaskDraft(null);
      setSelection({ kind: 'annotation', id: saved.id });
    }, 'Mask saved');

  const discardMask = () => {
    draftRef.current = null;
    setMaskDraft(null);
    setStatus('Mask edits discarded');
  };

  /** A polygon's pixels as a new mask, to edit; saving it replaces the polygon. */
  const polygonToMask = (id: number) => {
    const a = annotations.find((x) => x.id === id);
    if (!a || !image) return;
    const bitmap = polygonBitmap((a.geometry as Polygon).points, image.width, image.height);
    const next: MaskDraft = { id: null, label: a.label, bitmap, revision: 1, clicks: { points: [], labels: [] }, replaces: id };
    draftRef.current = next;
    setMaskDraft(next);
    setStatus('The polygon as a mask: save it to replace the polygon');
  };

  /** A mask's outline (its largest part) as a polygon, which replaces the mask. */
  const maskToPolygon = (id: number) =>
    attempt(async () => {
      const a = annotations.find((x) => x.id === id);
      if (!a) return;
      const points = bitmapOutline(decodeMask(a.geometry as unknown as Mask));
      if (!points) throw new Error('the mask is too thin for a polygon');
      const made = await labels.create({ kind: 'polygon', label: a.label, geometry: { points } });
      await labels.destroy(id);
      setSelection({ kind: 'annotation', id: made.id });
    }, 'Mask converted to a polygon');

  const classify = (label: string) =>
    attempt(async () => {
      if (!label) return;
      await labels.create({ kind: 'classification', label, geometry: {} });
      await loadLabels(); // an image has one class: the server replaced the one it had
    }, 'Image class set');

  const markReviewed = (reviewed: boolean) =>
    attempt(async () => {
      setImage(await must(api.POST('/api/v1/images/{image_id}/review', { params: { path: imagePath }, body: { status: reviewed ? 'reviewed' : 'unreviewed' } })));
    }, reviewed ? 'Marked reviewed' : 'Marked not reviewed');

  // Keyboard shortcuts (not while typing in a field).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key;
      if (key === 'b') setMode((m) => (m === 'draw' ? 'select' : 'draw'));
      else if (key === 'Escape') {
        setMode('select');
        setSelection(null);
      } else if ((key === 'Delete' || key === 'Backspace') && selection?.kind === 'annotation') void remove(selection.id);
      else if ((key === 'a' || key === 'r') && selection?.kind === 'prediction')
        void review(selection.modelVersionId, selection.index, key === 'a' ? 'accepted' : 'rejected');
      else if (key === 'ArrowLeft') go(prev);
      else if (key === 'ArrowRight') go(next);
      else if (key === '0') setView(null);
      else return;
      event.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [selection, setSelection, remove, review, go, prev, next]);

  if (!image || !project) {
    return error ? <p role="alert" className="error">{error}</p> : <p role="status">Loading…</p>;
  }

  const contentUrl = `/api/v1/images/${image.id}/content`;
  const labelNames = project.labels.map((l) => l.name);
  const stageProps = {
    contentUrl,
    alt: image.original_filename,
    width: image.width,
    height: image.height,
    annotations,
    predictions,
    analysis,
    layers,
    opacity,
    colorOf,
    selection,
    onSelect: setSelection,
    mode,
    view,
    onView: setView,
    onDraw: (b: Box) => void drawBox(b),
    onChangeGeometry: (id: number, g: Geometry) => void changeGeometry(id, g),
    maskOpacity,
    maskDraft,
    brushRadius,
    onPaint: paint,
    onAssistBox: (b: Box) => void assistBox(b),
    onAssistClick: assistClick,
    judged,
  };
  const maskTools: [Mode, string, string][] = [
    ['brush', 'Brush', 'paint the mask being edited (a new one when none is)'],
    ['erase', 'Eraser', 'erase from the mask being edited'],
    ['mask-box', 'Box → mask', 'drag a box: GrabCut finds the object in it'],
    ['mask-click', 'Click → mask', 'click the object; shift or right click the background'],
    ['wand', 'Magic wand', 'click a region of similar colour'],
    ...(samModel ? [['sam', `SAM click (${samModel.name})`, 'click the object; shift or right click the background'] as [Mode, string, string]] : []),
  ];
  const legend = [...new Set([...labelNames, ...annotations.map((a) => a.label), ...predictions.flatMap((p) => p.labels.map((d) => d.label))])];

  return (
    <div className="page image-view">
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href="/" onClick={linkClick}>
          Projects
        </a>{' '}
        /{' '}
        <a href={`/projects/${project.id}`} onClick={linkClick}>
          {project.name}
        </a>{' '}
        / <span>{image.original_filename}</span>
      </nav>
      <div className="toolbar row" role="toolbar" aria-label="Image tools">
        <button type="button" onClick={() => go(prev)} disabled={!prev} aria-keyshortcuts="ArrowLeft">
          ← Previous
        </button>
        <button type="button" onClick={() => go(next)} disabled={!next} aria-keyshortcuts="ArrowRight">
          Next →
        </button>
        <button type="button" aria-pressed={mode === 'draw'} onClick={() => setMode(mode === 'draw' ? 'select' : 'draw')} aria-keyshortcuts="b">
          Draw box (b)
        </button>
        <span className="row" role="group" aria-label="Mask tools">
          {maskTools.map(([tool, name, hint]) => (
            <button key={tool} type="button" aria-pressed={mode === tool} title={hint} onClick={() => setMode(mode === tool ? 'select' : tool)}>
              {name}
            </button>
          ))}
        </span>
        <label>
          Class to draw
          <select value={drawLabel} onChange={(e) => setDrawLabel(e.target.value)}>
            {labelNames.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setView((v) => v && { ...v, scale: v.scale * 1.25 })}>
          Zoom in
        </button>
        <button type="button" onClick={() => setView((v) => v && { ...v, scale: v.scale / 1.25 })}>
          Zoom out
        </button>
        <button type="button" onClick={() => setView(null)} aria-keyshortcuts="0">
          Fit
        </button>
        <label>
          <input type="checkbox" checked={sideBySide} onChange={(e) => setSideBySide(e.target.checked)} /> Side by side
        </label>
        <button type="button" onClick={() => void markReviewed(image.review_status !== 'reviewed')} data-testid="review-toggle">
          {image.review_status === 'reviewed' ? 'Mark not reviewed' : 'Mark reviewed'}
        </button>
        <span className="muted" data-testid="review-status">
          {image.review_status}
        </span>
      </div>
      <p className="status-line" role="status" aria-live="polite">
        {status}
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="viewer-layout">
        <div className={`stages ${sideBySide ? 'split' : ''}`}>
          {sideBySide && <Stage {...stageProps} overlays={false} />}
          <Stage {...stageProps} />
        </div>
        <aside className="side">
          {judged && (
            <section className="card" aria-labelledby="judged-heading" data-testid="evaluation-outcome">
              <h2 id="judged-heading">Evaluation #{evaluationId}</h2>
              <p>
                <span className="swatch tp" aria-hidden="true" /> {judged.tp} true positive{judged.tp === 1 ? '' : 's'} ·{' '}
                <span className="swatch fp" aria-hidden="true" /> {judged.fp} false positive{judged.fp === 1 ? '' : 's'} ·{' '}
                <span className="swatch fn" aria-hidden="true" /> {judged.fn} missed (dashed)
              </p>
              <a href={`/projects/${projectId}/evaluations?id=${evaluationId}`} onClick={linkClick}>
                Back to the evaluation
              </a>
            </section>
          )}
          <section className="card" aria-labelledby="layers-heading">
            <h2 id="layers-heading">Layers</h2>
            <label>
              <input type="checkbox" checked={layers.annotations} onChange={(e) => setLayers({ ...layers, annotations: e.target.checked })} /> Annotations ({annotations.filter((a) => a.kind !== 'classification').length})
            </label>
            {predictions.map((p) => (
              <label key={p.model_version_id}>
                <input
                  type="checkbox"
                  checked={layers.predictions[p.model_version_id] !== false}
                  onChange={(e) => setLayers({ ...layers, predictions: { ...layers.predictions, [p.model_version_id]: e.target.checked } })}
                />{' '}
                Predictions: {p.model} {p.model_version} ({p.labels.length})
              </label>
            ))}
            {analysis && (
              <label>
                <input type="checkbox" checked={layers.analysis} onChange={(e) => setLayers({ ...layers, analysis: e.target.checked })} /> Analysis {analysis.model_name}
              </label>
            )}
            {analysis && analysis.annotations.some((a) => a.annotation_type === 'heatmap') && (
              <label>
                <input type="checkbox" checked={layers.heatmaps} onChange={(e) => setLayers({ ...layers, heatmaps: e.target.checked })} /> Heatmaps{' '}
                {analysis.model_name} ({analysis.annotations.filter((a) => a.annotation_type === 'heatmap').length})
              </label>
            )}
            <label>
              Overlay opacity
              <input type="range" min={0} max={1} step={0.05} value={opacity} onChange={(e) => setOpacity(Number(e.target.value))} />
            </label>
            <label>
              Mask opacity
              <input type="range" min={0} max={1} step={0.05} value={maskOpacity} onChange={(e) => setMaskOpacity(Number(e.target.value))} />
            </label>
            <h3>Legend</h3>
            <ul className="legend" aria-label="Class colours">
              {legend.map((name) => (
                <li key={name}>
                  <span className="swatch" style={{ background: colorOf(name) }} aria-hidden="true" /> {name}
                </li>
              ))}
            </ul>
          </section>
          <section className="card" aria-labelledby="edit-heading">
            <h2 id="edit-heading">Edit</h2>
            <label>
              Image class
              <select value={classification?.label ?? ''} onChange={(e) => void classify(e.target.value)}>
                <option value="">(none)</option>
                {labelNames.map((n) => (
                  <option key={n}>{n}</option>
                ))}
              </select>
            </label>
            {(mode === 'brush' || mode === 'erase' || maskDraft) && (
              <label>
                Brush size ({brushRadius * 2} px)
                <input type="range" min={1} max={100} step={1} value={brushRadius} onChange={(e) => setBrushRadius(Number(e.target.value))} />
              </label>
            )}
            {mode === 'wand' && (
              <label>
                Wand tolerance ({tolerance})
                <input type="range" min={0} max={255} step={1} value={tolerance} onChange={(e) => setTolerance(Number(e.target.value))} />
              </label>
            )}
            {maskDraft && (
              <div className="selected" data-testid="mask-editing">
                <p>
                  {maskDraft.id === null ? 'New mask' : `Mask #${maskDraft.id}`} ({maskDraft.label}): {bitmapArea(maskDraft.bitmap)} pixels, not saved
                </p>
                <button type="button" onClick={() => void saveMask()}>
                  Save mask
                </button>
                <button type="button" onClick={discardMask}>
                  Discard
                </button>
              </div>
            )}
            {selectedAnnotation && (
              <div className="selected" data-testid="selected-annotation">
                <p>
                  Selected {selectedAnnotation.kind} #{selectedAnnotation.id}
                </p>
                <label>
                  Class
                  <select value={selectedAnnotation.label} onChange={(e) => void relabel(selectedAnnotation.id, e.target.value)}>
                    {[...new Set([selectedAnnotation.label, ...labelNames])].map((n) => (
                      <option key={n}>{n}</option>
                    ))}
                  </select>
                </label>
                <button type="button" onClick={() => void remove(selectedAnnotation.id)} aria-keyshortcuts="Delete">
                  Delete (Del)
                </button>
                {selectedAnnotation.kind === 'polygon' && !maskDraft && (
                  <button type="button" onClick={() => polygonToMask(selectedAnnotation.id)}>
                    Convert to mask
                  </button>
                )}
                {selectedAnnotation.kind === 'mask' && maskDraft?.id !== selectedAnnotation.id && (
                  <button type="button" onClick={() => void maskToPolygon(selectedAnnotation.id)}>
                    Convert to polygon
                  </button>
                )}
              </div>
            )}
            <ul className="annotation-list" aria-label="Annotations">
              {annotations
                .filter((a) => a.kind !== 'classification')
                .map((a) => (
                  <li key={a.id} data-testid="annotation-row" data-kind={a.kind} data-id={a.id} className={selectedAnnotation?.id === a.id ? 'chosen' : ''}>
                    <button type="button" className="link" onClick={() => setSelection({ kind: 'annotation', id: a.id })}>
                      <span className="swatch" style={{ background: colorOf(a.label) }} aria-hidden="true" /> {a.label} ({a.kind})
                    </button>
                  </li>
                ))}
            </ul>
            <p className="muted small">
              Keys: b draw · Esc select · Del delete · a/r accept/reject · ←/→ images · 0 fit · wheel zoom · drag pan. Drag a shape to move it, its handles to resize it.
            </p>
          </section>
          {predictions.map((p) => (
            <section className="card" key={p.model_version_id} aria-label={`Predictions of ${p.model}`}>
              <h2>
                {p.model} {p.model_version}
              </h2>
              <ol className="detections">
                {p.labels.map((d, index) => {
                  const verdict = (p.review as Record<string, string>)[String(index)];
                  const chosen = selection?.kind === 'prediction' && selection.modelVersionId === p.model_version_id && selection.index === index;
                  return (
                    <li key={index} className={chosen ? 'chosen' : ''} data-testid="detection-row">
                      <button type="button" className="link" onClick={() => setSelection({ kind: 'prediction', modelVersionId: p.model_version_id, index })}>
                        {d.label} {d.score != null ? d.score.toFixed(2) : ''}
                        {d.text ? ` “${d.text}”` : ''}
                        {d.top_k && d.top_k.length > 1 ? ` (${d.top_k.slice(1).map((c) => `${c.label} ${c.score.toFixed(2)}`).join(', ')})` : ''}
                      </button>
                      <span className="verdict">{verdict ?? ''}</span>
                      <button type="button" aria-label={`Accept detection ${index + 1}`} onClick={() => void review(p.model_version_id, index, 'accepted')} disabled={verdict === 'accepted'}>
                        Accept
                      </button>
                      <button type="button" aria-label={`Reject detection ${index + 1}`} onClick={() => void review(p.model_version_id, index, 'rejected')} disabled={verdict === 'rejected'}>
                        Reject
                      </button>
                    </li>
                  );
                })}
              </ol>
            </section>
          ))}
          <Comments imageId={image.id} />
          <AnalysesPanel imageId={image.id} enabled={analysesEnabled} selected={analysis} onSelect={setAnalysis} />
        </aside>
      </div>
    </div>
  );
}
