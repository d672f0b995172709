// Review mode: the queue's next image under a lease, worked with the keyboard alone.
// n/→ next · a accept all predictions and the image · Shift+A accept the image as it is ·
// r reject with a reason (Enter submits, Esc cancels) · u/Ctrl+Z undo · b draw · Del delete.
// The lease is shown and renewed while the reviewer works; a verdict ends it.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, must, type ImageOut, type Project, type Schemas } from '../api/client';
import { labelColor } from '../colors';
import { ReviewHistory } from '../components/ReviewHistory';
import { Stage, type Box, type Layers, type Mode, type View } from '../components/Stage';
import { typing, useLabels } from '../components/useLabels';
import { linkClick } from '../router';

type Strategy = 'uncertain' | 'disagreement' | 'likely-errors' | 'unreviewed' | 'random';
type QueueState = 'unreviewed' | 'rejected';
type Event = Schemas['ReviewEventOut'];
type ModelCount = Schemas['ModelCount'];
type Agreement = Schemas['ProjectAgreement'];

const STRATEGIES: { value: Strategy; text: string }[] = [
  { value: 'uncertain', text: 'Uncertain (model least sure)' },
  { value: 'disagreement', text: 'Disagreement (two model versions)' },
  { value: 'likely-errors', text: 'Likely errors (latest evaluation)' },
  { value: 'unreviewed', text: 'Unreviewed (upload order)' },
  { value: 'random', text: 'Random (seeded audit)' },
];
const LAYERS: Layers = { annotations: true, predictions: {}, analysis: false, heatmaps: false };

function timeLeft(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function ReviewPage({ projectId, me }: { projectId: number; me: string }) {
  const [project, setProject] = useState<Project | null>(null);
  const [models, setModels] = useState<ModelCount[]>([]);
  const [agreement, setAgreement] = useState<Agreement | null>(null);
  const [strategy, setStrategy] = useState<Strategy>('uncertain');
  const [queueState, setQueueState] = useState<QueueState>('unreviewed');
  const [modelVersionId, setModelVersionId] = useState<number | null>(null);
  const [versus, setVersus] = useState<number | null>(null);
  const [seed, setSeed] = useState('0');
  const [image, setImage] = useState<ImageOut | null>(null);
  const [leaseUntil, setLeaseUntil] = useState<number | null>(null);
  const [empty, setEmpty] = useState(false);
  const [verdict, setVerdict] = useState<string | null>(null);
  const [undoSteps, setUndoSteps] = useState<number[]>([]);
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');
  const [history, setHistory] = useState<Event[]>([]);
  const [mode, setMode] = useState<Mode>('select');
  const [view, setView] = useState<View | null>(null);
  const [drawLabel, setDrawLabel] = useState('');
  const [now, setNow] = useState(() => Date.now());
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const busy = useRef(false);
  const activeSince = useRef(Date.now()); // the reviewer's last key or pointer action
  const reasonField = useRef<HTMLInputElement>(null);
  const imageId = image?.id ?? '';

  // One step at a time: a key pressed while the last step is still on its way is refused, said
  // so in the status line (the verdict shows only once its step is complete).
  const attempt = useCallback(async (work: () => Promise<unknown>, done?: string) => {
    if (busy.current) {
      setStatus('Still working on the last step…');
      return;
    }
    busy.current = true;
    setError(null);
    try {
      await work();
      if (done) setStatus(done);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      busy.current = false;
    }
  }, []);
  const labels = useLabels(imageId, attempt, setStatus);
  const { annotations, predictions, selection, setSelection, loadLabels } = labels;

  useEffect(() => {
    const path = { project_id: projectId };
    void attempt(async () => {
      const [proj, stats, agreed] = await Promise.all([
        must(api.GET('/api/v1/projects/{project_id}', { params: { path } })),
        must(api.GET('/api/v1/projects/{project_id}/stats', { params: { path } })),
        must(api.GET('/api/v1/projects/{project_id}/agreement', { params: { path } })),
      ]);
      setProject(proj);
      setModels(stats.models);
      setAgreement(agreed);
      setModelVersionId((v) => v ?? stats.models[0]?.model_version_id ?? null);
      setVersus((v) => v ?? stats.models[1]?.model_version_id ?? null);
      setDrawLabel((l) => l || proj.labels[0]?.name || '');
    });
  }, [projectId, attempt]);

  const loadHistory = useCallback(async (id: string) => {
    setHistory(await must(api.GET('/api/v1/images/{image_id}/review/history', { params: { path: { image_id: id } } })));
  }, []);

  useEffect(() => {
    if (!imageId) return;
    setSelection(null);
    void loadLabels().then(() => loadHistory(imageId)).catch((e: Error) => setError(e.message));
  }, [imageId, loadLabels, loadHistory, setSelection]);

  /** GET …/review/next: the held image again (renewed), or the queue's next one. */
  const claim = useCallback(async () => {
    const query = {
      strategy,
      state: queueState,
      seed,
      model_version_id: modelVersionId ?? undefined,
      versus: strategy === 'disagreement' ? versus ?? undefined : undefined,
    };
    const lease = await must(api.GET('/api/v1/projects/{project_id}/review/next', { params: { path: { project_id: projectId }, query } }));
    setImage(lease.image);
    setView(null); // fitted again by the stage
    setLeaseUntil(lease.lease_until ? Date.parse(lease.lease_until) : null);
    setEmpty(lease.image === null);
    activeSince.current = Date.now();
    return lease.image;
  }, [projectId, strategy, queueState, seed, modelVersionId, versus]);

  const next = () =>
    attempt(async () => {
      if (image && !verdict) throw new Error('give a verdict first: a accepts, r rejects (or release the image)');
      setVerdict(null);
      setUndoSteps([]);
      setRejecting(false);
      const got = await claim();
      setStatus(got ? `Reviewing ${got.original_filename}` : 'The queue is empty');
    });

  const release = () =>
    attempt(async () => {
      if (!image || verdict) return;
      await must(api.DELETE('/api/v1/images/{image_id}/lease', { params: { path: { image_id: image.id } } }));
      setImage(null);
      setLeaseUntil(null);
      setHistory([]);
    }, 'Image given back to the queue');

  /** The verdict, then the labels and history it changed; shown as given once all is loaded. */
  const judge = async (body: Schemas['ReviewIn'], steps: number) => {
    const changed = await must(api.POST('/api/v1/images/{image_id}/review', { params: { path: { image_id: imageId } }, body }));
    await loadLabels();
    await loadHistory(imageId);
    setImage(changed);
    setLeaseUntil(null);
    setUndoSteps((s) => [...s, steps]);
    setVerdict(changed.review_status);
  };

  const acceptAll = (withPredictions: boolean) =>
    attempt(async () => {
      if (!image || verdict) return;
      const versions = predictions
        .map((p) => p.model_version_id)
        .filter((id) => withPredictions && (modelVersionId === null || id === modelVersionId || !predictions.some((p) => p.model_version_id === modelVersionId)));
      for (const version of versions) {
        await must(
          api.POST('/api/v1/images/{image_id}/predictions/{model_version_id}/accept-all', {
            params: { path: { image_id: imageId, model_version_id: version } },
          }),
        );
      }
      await judge({ status: 'reviewed' }, versions.length + 1);
    }, withPredictions ? 'Predictions and image accepted' : 'Image accepted');

  const reject = () =>
    attempt(async () => {
      if (!reason.trim()) throw new Error('a rejection needs a reason');
      await judge({ status: 'rejected', reason: reason.trim() }, 1);
      setRejecting(false);
      setReason('');
    }, 'Image rejected');

  const undo = () =>
    attempt(async () => {
      const steps = undoSteps[undoSteps.length - 1];
      if (!image || !steps) throw new Error('nothing to undo');
      for (let i = 0; i < steps; i++) {
        await must(api.POST('/api/v1/images/{image_id}/review/undo', { params: { path: { image_id: imageId } } }));
      }
      await claim(); // the undo leased the image back to the caller: this answers it with its lease
      await loadLabels();
      await loadHistory(imageId);
      setUndoSteps((s) => s.slice(0, -1));
      setVerdict(null);
    }, 'Undone');

  // The lease: a clock, and a renewal shortly before it runs out while the reviewer works.
  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    const active = () => (activeSince.current = Date.now());
    window.addEventListener('pointerdown', active);
    return () => {
      clearInterval(tick);
      window.removeEventListener('pointerdown', active);
    };
  }, []);
  const leaseLength = useRef(0);
  useEffect(() => {
    if (leaseUntil === null || !imageId) return;
    leaseLength.current = Math.max(leaseLength.current, leaseUntil - Date.now());
    const margin = Math.min(60_000, leaseLength.current / 3);
    const timer = setTimeout(() => {
      if (Date.now() - activeSince.current > leaseLength.current) return; // away: let it lapse
      must(api.POST('/api/v1/images/{image_id}/lease', { params: { path: { image_id: imageId } } }))
        .then((lease) => {
          setLeaseUntil(lease.lease_until ? Date.parse(lease.lease_until) : null);
          setStatus('Lease renewed');
        })
        .catch((e: Error) => setError(`lease: ${e.message}`));
    }, Math.max(0, leaseUntil - Date.now() - margin));
    return () => clearTimeout(timer);
  }, [leaseUntil, imageId]);

  // Keyboard: not while typing in a field (the reason field handles its own Enter and Esc).
  const keys = useRef<(event: KeyboardEvent) => void>(() => {});
  keys.current = (event: KeyboardEvent) => {
    activeSince.current = Date.now();
    if (typing(event.target) || event.metaKey || event.altKey) return;
    const key = event.key;
    if (event.ctrlKey) {
      if (key !== 'z') return;
      void undo();
    } else if (key === 'n' || key === 'ArrowRight') void next();
    else if (key === 'a') void acceptAll(true);
    else if (key === 'A') void acceptAll(false);
    else if (key === 'r' && image && !verdict) {
      setRejecting(true);
      setTimeout(() => reasonField.current?.focus(), 0);
    } else if (key === 'u') void undo();
    else if (key === 'b' && image) setMode((m) => (m === 'draw' ? 'select' : 'draw'));
    else if (key === 'Escape') {
      setMode('select');
      setSelection(null);
    } else if ((key === 'Delete' || key === 'Backspace') && selection?.kind === 'annotation') void labels.remove(selection.id);
    else if (key === '0') setView(null);
    else return;
    event.preventDefault();
  };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => keys.current(event);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const colors = useMemo(() => new Map(project?.labels.map((l) => [l.name, l.color]) ?? []), [project]);
  const colorOf = useCallback((label: string) => labelColor(label, colors.get(label)), [colors]);

  if (!project) return error ? <p role="alert" className="error">{error}</p> : <p role="status">Loading…</p>;
  const needsModel = strategy === 'uncertain' || strategy === 'disagreement';
  const labelNames = project.labels.map((l) => l.name);
  const modelOption = (m: ModelCount) => (
    <option key={m.model_version_id} value={m.model_version_id}>
      {m.model} {m.version} ({m.images} images)
    </option>
  );

  return (
    <div className="page review-mode">
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href="/" onClick={linkClick}>
          Projects
        </a>{' '}
        /{' '}
        <a href={`/projects/${project.id}`} onClick={linkClick}>
          {project.name}
        </a>{' '}
        / <span>Review</span>
      </nav>
      <form className="toolbar row" aria-label="Review queue" onSubmit={(e) => (e.preventDefault(), void next())}>
        <label>
          Strategy
          <select aria-label="Strategy" value={strategy} onChange={(e) => setStrategy(e.target.value as Strategy)} disabled={!!image && !verdict}>
            {STRATEGIES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.text}
              </option>
            ))}
          </select>
        </label>
        <label>
          Images
          <select aria-label="Images" value={queueState} onChange={(e) => setQueueState(e.target.value as QueueState)} disabled={!!image && !verdict}>
            <option value="unreviewed">not yet reviewed</option>
            <option value="rejected">rejected, to fix</option>
          </select>
        </label>
        <label>
          Model
          <select aria-label="Model" value={modelVersionId ?? ''} onChange={(e) => setModelVersionId(e.target.value ? Number(e.target.value) : null)} disabled={!!image && !verdict}>
            {!needsModel && <option value="">(any)</option>}
            {models.map(modelOption)}
          </select>
        </label>
        {strategy === 'disagreement' && (
          <label>
            Versus
            <select aria-label="Versus" value={versus ?? ''} onChange={(e) => setVersus(Number(e.target.value))}>
              {models.map(modelOption)}
            </select>
          </label>
        )}
        {strategy === 'random' && (
          <label>
            Seed
            <input value={seed} onChange={(e) => setSeed(e.target.value)} size={8} />
          </label>
        )}
        <button type="submit" aria-keyshortcuts="n">
          {image ? 'Next (n)' : 'Start (n)'}
        </button>
      </form>
      <p className="status-line" role="status" aria-live="polite">
        {status}
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {empty && !image && <p data-testid="queue-empty">Nothing left in this queue.</p>}
      {image && (
        <div className="viewer-layout">
          <div className="stages">
            <Stage
              contentUrl={`/api/v1/images/${image.id}/content`}
              alt={image.original_filename}
              width={image.width}
              height={image.height}
              annotations={annotations}
              predictions={predictions}
              analysis={null}
              layers={LAYERS}
              opacity={0.9}
              colorOf={colorOf}
              selection={selection}
              onSelect={setSelection}
              mode={mode}
              view={view}
              onView={setView}
              onDraw={(b: Box) => void labels.drawBox(drawLabel, b)}
              onChangeGeometry={(id, g) => void labels.changeGeometry(id, g)}
            />
          </div>
          <aside className="side">
            <section className="card" aria-label="Current image" data-testid="review-image" data-image-id={image.id}>
              <h2>{image.original_filename}</h2>
              {leaseUntil !== null && !verdict ? (
                <p data-testid="lease">
                  In review by <strong>{me}</strong>, <span data-testid="lease-left">{timeLeft(leaseUntil - now)}</span> left
                </p>
              ) : (
                <p data-testid="verdict">
                  Verdict: <strong>{verdict ?? image.review_status}</strong> — n for the next image, u to undo
                </p>
              )}
              {rejecting && (
                <label>
                  Reason for rejecting
                  <input
                    ref={reasonField}
                    value={reason}
                    onChange={(e) => setReason(e.target.value)}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') void reject();
                      else if (e.key === 'Escape') setRejecting(false);
                      else return;
                      e.preventDefault();
                    }}
                    placeholder="what needs fixing (Enter submits)"
                  />
                </label>
              )}
              <div className="row">
                <button type="button" onClick={() => void acceptAll(true)} disabled={!!verdict} aria-keyshortcuts="a">
                  Accept all (a)
                </button>
                <button type="button" onClick={() => void acceptAll(false)} disabled={!!verdict} aria-keyshortcuts="Shift+A">
                  Accept image (A)
                </button>
                <button type="button" onClick={() => setRejecting(true)} disabled={!!verdict} aria-keyshortcuts="r">
                  Reject (r)
                </button>
                <button type="button" onClick={() => void undo()} disabled={undoSteps.length === 0} aria-keyshortcuts="u Control+Z">
                  Undo (u)
                </button>
                <button type="button" onClick={() => void release()} disabled={!!verdict}>
                  Give back
                </button>
              </div>
              <div className="row">
                <button type="button" aria-pressed={mode === 'draw'} onClick={() => setMode(mode === 'draw' ? 'select' : 'draw')} aria-keyshortcuts="b">
                  Draw box (b)
                </button>
                <label>
                  Class to draw
                  <select value={drawLabel} onChange={(e) => setDrawLabel(e.target.value)}>
                    {labelNames.map((n) => (
                      <option key={n}>{n}</option>
                    ))}
                  </select>
                </label>
              </div>
              <p className="muted small">
                Predictions: {predictions.map((p) => `${p.model} ${p.model_version} (${p.labels.length})`).join(', ') || 'none'} · annotations:{' '}
                <span data-testid="annotation-count">{annotations.filter((a) => a.kind !== 'classification').length}</span>
              </p>
              <p className="small">
                <a href={`/projects/${project.id}/images/${image.id}/agreement`} onClick={linkClick}>
                  Annotator agreement
                </a>{' '}
                ·{' '}
                <a href={`/projects/${project.id}/images/${image.id}`} onClick={linkClick}>
                  Image view
                </a>
              </p>
              <p className="muted small">Keys: n/→ next · a accept all · A accept image · r reject · u/Ctrl+Z undo · b draw · Del delete · Esc select · 0 fit</p>
            </section>
            <ReviewHistory events={history} />
          </aside>
        </div>
      )}
      {!image && agreement && agreement.annotators.length > 0 && (
        <section className="card" aria-label="Annotator agreement">
          <h2>Annotators' agreement</h2>
          <p>
            {agreement.images} images with two or more annotators, mean F1 {agreement.agreement?.toFixed(2) ?? '—'} (IoU ≥ {agreement.iou})
          </p>
          <table>
            <thead>
              <tr>
                <th>Annotator</th>
                <th>Images</th>
                <th>F1 with the others</th>
              </tr>
            </thead>
            <tbody>
              {agreement.annotators.map((a) => (
                <tr key={a.user_id}>
                  <td>{a.email}</td>
                  <td>{a.images}</td>
                  <td>{a.agreement.toFixed(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}
