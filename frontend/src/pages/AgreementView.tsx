// One image's annotator agreement: each annotator's labels in their own colour, the consensus
// (dashed), the F1 figures, and accepting the consensus as the image's ground truth.
import { useCallback, useEffect, useState } from 'react';
import { api, must, type Schemas } from '../api/client';
import { AuthImage } from '../components/AuthImage';
import { labelBox } from '../components/Stage';
import { hashColor } from '../colors';
import { linkClick } from '../router';

type Agreement = Schemas['ImageAgreement'];

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4'];
const annotatorColor = (i: number, email: string) => PALETTE[i] ?? hashColor(email);

export function AgreementView({ projectId, imageId }: { projectId: number; imageId: string }) {
  const [image, setImage] = useState<Schemas['ImageOut'] | null>(null);
  const [agreement, setAgreement] = useState<Agreement | null>(null);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const path = { image_id: imageId };

  const load = useCallback(async () => {
    const p = { image_id: imageId };
    const [img, agreed] = await Promise.all([
      must(api.GET('/api/v1/images/{image_id}', { params: { path: p } })),
      must(api.GET('/api/v1/images/{image_id}/agreement', { params: { path: p } })),
    ]);
    setImage(img);
    setAgreement(agreed);
  }, [imageId]);
  useEffect(() => {
    load().catch((e: Error) => setError(e.message));
  }, [load]);

  const accept = async () => {
    setError(null);
    try {
      const made = await must(api.POST('/api/v1/images/{image_id}/consensus/accept', { params: { path }, body: { iou: agreement?.iou ?? 0.5 } }));
      setStatus(`Consensus accepted: ${made.length} labels are the image's annotations now`);
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  if (!image || !agreement) return error ? <p role="alert" className="error">{error}</p> : <p role="status">Loading…</p>;
  const shapes = (labels: Schemas['Label'][], stroke: string, kind: string) =>
    labels.map((label, i) => {
      const b = labelBox(label);
      if (!b) return null;
      return (
        <rect
          key={`${kind}-${i}`}
          data-testid={kind}
          x={b.x1}
          y={b.y1}
          width={b.x2 - b.x1}
          height={b.y2 - b.y1}
          stroke={stroke}
          fill="none"
          strokeWidth={2}
          strokeDasharray={kind === 'consensus-box' ? '6 4' : undefined}
          vectorEffect="non-scaling-stroke"
        >
          <title>{label.label}</title>
        </rect>
      );
    });

  return (
    <div className="page agreement-view">
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={`/projects/${projectId}`} onClick={linkClick}>
          Project
        </a>{' '}
        /{' '}
        <a href={`/projects/${projectId}/images/${imageId}`} onClick={linkClick}>
          {image.original_filename}
        </a>{' '}
        / <span>Agreement</span>
      </nav>
      <p className="status-line" role="status" aria-live="polite">
        {status}
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="viewer-layout">
        <div className="agreement-stage" style={{ position: 'relative', maxWidth: '100%' }}>
          <AuthImage src={`/api/v1/images/${image.id}/content`} alt={image.original_filename} lazy={false} className="stage-image" />
          <svg className="overlay" viewBox={`0 0 ${image.width} ${image.height}`} style={{ position: 'absolute', inset: 0, width: '100%', height: '100%' }} aria-label="Annotators' labels">
            {agreement.annotators.map((a, i) => (hidden.has(a.user_id) ? null : <g key={a.user_id}>{shapes(a.labels, annotatorColor(i, a.email), 'annotator-box')}</g>))}
            <g>{shapes(agreement.consensus, '#ffffff', 'consensus-box')}</g>
          </svg>
        </div>
        <aside className="side">
          <section className="card" aria-label="Agreement">
            <h2>Agreement</h2>
            <p data-testid="image-agreement">
              Mean pairwise F1: {agreement.agreement === null ? '— (fewer than two annotators)' : agreement.agreement.toFixed(2)} (IoU ≥ {agreement.iou})
            </p>
            <ul className="legend">
              {agreement.annotators.map((a, i) => (
                <li key={a.user_id}>
                  <label>
                    <input
                      type="checkbox"
                      checked={!hidden.has(a.user_id)}
                      onChange={() => setHidden((h) => new Set(h.has(a.user_id) ? [...h].filter((x) => x !== a.user_id) : [...h, a.user_id]))}
                    />{' '}
                    <span className="swatch" style={{ background: annotatorColor(i, a.email) }} aria-hidden="true" /> {a.email}: {a.labels.length} labels, F1 with the
                    others {a.agreement?.toFixed(2) ?? '—'}
                  </label>
                </li>
              ))}
              <li>
                <span className="swatch" style={{ background: '#fff', border: '1px dashed #333' }} aria-hidden="true" /> consensus: {agreement.consensus.length} labels
              </li>
            </ul>
            <button type="button" onClick={() => void accept()} disabled={agreement.annotators.length < 2}>
              Accept the consensus
            </button>
          </section>
        </aside>
      </div>
    </div>
  );
}
