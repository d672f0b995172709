import { useEffect, useRef, useState } from 'react';
import { api, download, must, type Analysis, type AnalysisDetail } from '../api/client';

/** ML analyses posted for the image by external pipelines: pick one to overlay its boxes and heatmaps. */
export function AnalysesPanel({
  imageId,
  enabled,
  selected,
  onSelect,
}: {
  imageId: string;
  enabled: boolean;
  selected: AnalysisDetail | null;
  onSelect: (a: AnalysisDetail | null) => void;
}) {
  const [analyses, setAnalyses] = useState<Analysis[]>([]);
  const [error, setError] = useState<string | null>(null);
  // The analysis being fetched: its box is ticked at once, not when the answer comes.
  const [pending, setPending] = useState<string | null | undefined>(undefined);
  const ticked = pending !== undefined ? pending : selected?.id ?? null;
  const latest = useRef<string | null>(null);

  useEffect(() => {
    if (!enabled) return;
    must(api.GET('/api/images/{image_id}/analyses', { params: { path: { image_id: imageId } } }))
      .then((r) => setAnalyses(r.analyses))
      .catch((e: Error) => setError(e.message));
  }, [imageId, enabled]);

  const choose = async (id: string) => {
    setError(null);
    if (ticked === id) {
      latest.current = null;
      setPending(undefined);
      return onSelect(null);
    }
    latest.current = id;
    setPending(id);
    try {
      const detail = await must(api.GET('/api/analyses/{analysis_id}', { params: { path: { analysis_id: id } } }));
      // Only the latest choice wins (a slower earlier answer must not replace it).
      if (latest.current !== id) return;
      onSelect(detail);
      setPending(undefined);
    } catch (e) {
      if (latest.current !== id) return;
      setPending(undefined);
      setError((e as Error).message);
    }
  };

  return (
    <section className="card" aria-labelledby="analyses-heading">
      <h2 id="analyses-heading">ML analyses</h2>
      {!enabled && <p className="muted">ML analyses are off on this server (LABELBAY_ML_ANALYSIS_ENABLED).</p>}
      {enabled && analyses.length === 0 && <p className="muted">No analyses for this image.</p>}
      <ul className="analyses" data-testid="analyses">
        {analyses.map((a) => (
          <li key={a.id}>
            <label>
              <input type="checkbox" checked={ticked === a.id} onChange={() => void choose(a.id)} />
              {a.model_name} {a.model_version} · {a.status} · {a.annotation_count} annotations
            </label>
            <span className="row">
              <button type="button" onClick={() => void download(`/api/analyses/${a.id}/export?format=json`, `analysis-${a.id}.json`)}>
                JSON
              </button>
              <button type="button" onClick={() => void download(`/api/analyses/${a.id}/export?format=csv`, `analysis-${a.id}.csv`)}>
                CSV
              </button>
            </span>
          </li>
        ))}
      </ul>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
